"""rmlab.world.teacher at small scale: the RM zoo's data mix, the constructed teachers, cached RL runs with a
per-epoch evaluation, and the analyses behind Table 2, Figure 4, prompt selection and the teacher score."""

import datasets
import numpy as np
import pandas as pd
import pytest

from rmlab.measure.accuracy import on_policy_accuracy
from rmlab.measure.variance import whitened_reward_variance
from rmlab.world import PolicySpec, RewardModelSpec, build_world, quick_config
from rmlab.world import teacher as T


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A world that builds in seconds (the pipeline, not the numbers, is under test)."""
    config = quick_config().replace(corpus_docs=300, pretrain_steps=20,
                                    policies=(PolicySpec("sft_full", 0.0, 20, 5), PolicySpec("instruct", 0, 20, 5)),
                                    reward_models=(RewardModelSpec("rm_accurate", 40, 0.0, 5),),
                                    pool_pairs=24, rl_prompts=24, eval_prompts=24)
    return build_world(config, cache_dir=tmp_path_factory.mktemp("teacher-world"), progress=False)


def _pool(tag, n):
    return datasets.Dataset.from_dict({"prompt": [f"{tag}{i}" for i in range(n)], "chosen": [tag] * n,
                                       "rejected": ["x"] * n, "score_chosen": [1.0] * n, "score_rejected": [0.0] * n})


@pytest.mark.parametrize("fraction, n_on", [(1.0, 10), (0.75, 8), (0.5, 5), (0.25, 2), (0.0, 0)])
def test_every_mix_has_the_same_pair_count_and_its_share_of_on_policy_pairs(fraction, n_on):
    mixed = T.mixed_preferences(_pool("on", 12), _pool("off", 30), fraction, 10)
    assert len(mixed) == 10 and mixed["chosen"].count("on") == n_on
    assert len(set(mixed["prompt"])) == 10                              # drawn without replacement


def test_a_mix_the_pools_cannot_fill_is_refused():
    with pytest.raises(ValueError, match="pools hold 12 and 30"):
        T.mixed_preferences(_pool("on", 12), _pool("off", 30), 1.0, 20)


def _gold_like(n=200, k=6, seed=0):
    rng = np.random.default_rng(seed)
    prompts = [f"prompt {i}" for i in range(n)]
    return prompts, 2.0 + rng.normal(size=(n, 1)) * 0.5 + rng.normal(size=(n, k))


def _as_reward_function(prompts, gold):
    """``(gold_fn, flat_prompts, flat_responses)``: ``gold[i, j]`` as the reward of response ``str(j)`` to prompt i,
    and the samples that read the whole table back in order."""
    table = {(p, str(j)): gold[i, j] for i, p in enumerate(prompts) for j in range(gold.shape[1])}
    flat_p = [p for p in prompts for _ in range(gold.shape[1])]
    flat_r = [str(j) for _ in prompts for j in range(gold.shape[1])]
    return lambda ps, rs: np.array([table[(p, r)] for p, r in zip(ps, rs)]), flat_p, flat_r


def test_perfect_accuracy_rm_is_accurate_and_flatter_than_gold():
    prompts, gold = _gold_like()
    gold_fn, flat_p, flat_r = _as_reward_function(prompts, gold)
    rm = T.PerfectAccuracyRM(gold_fn, floor=0.0)
    rewards = rm(flat_p, flat_r).reshape(gold.shape)
    assert float(on_policy_accuracy(rewards, gold)) == 1.0
    assert 0.4 < rm.scaled_fraction(prompts) < 0.6
    scaled = np.array([rm.is_scaled(p) for p in prompts])
    np.testing.assert_allclose(rewards[scaled], 1e-3 * gold[scaled])
    np.testing.assert_array_equal(rewards[~scaled], gold[~scaled])
    # the scaled prompts collapse towards 0, far from the others' mean (2): a between-prompt spread that lowers the
    # within-prompt share, i.e. the whitened variance
    assert whitened_reward_variance(rewards) < 0.5 * whitened_reward_variance(gold)


def test_perfect_accuracy_rm_scales_around_its_floor():
    prompts, gold = _gold_like()
    gold = gold - gold.mean()                      # a reward centred at 0, like the world's
    gold_fn, flat_p, flat_r = _as_reward_function(prompts, gold)
    default = T.PerfectAccuracyRM(gold_fn)
    assert default.floor == -1.0 and "floor=-1.0" in repr(default)
    around = {floor: T.PerfectAccuracyRM(gold_fn, floor=floor)(flat_p, flat_r).reshape(gold.shape)
              for floor in (0.0, -4.0)}
    scaled = np.array([default.is_scaled(p) for p in prompts])
    np.testing.assert_allclose(around[-4.0][scaled], -4.0 + 1e-3 * (gold[scaled] + 4.0))
    np.testing.assert_array_equal(around[-4.0][~scaled], gold[~scaled])
    # scaled around the mean, the whitened variance hardly moves; around a point 4 (about 1.5 std) below, it halves
    base = whitened_reward_variance(gold)
    assert abs(whitened_reward_variance(around[0.0]) - base) < 0.15 * base
    assert whitened_reward_variance(around[-4.0]) < 0.6 * base
    assert float(on_policy_accuracy(around[-4.0], gold)) == 1.0


def test_noisy_reward_is_a_fixed_function_of_the_sample():
    gold = lambda ps, rs: np.zeros(len(ps))   # noqa: E731
    noisy = T.NoisyReward(gold, noise=2.0, seed=1)
    prompts, responses = [f"p{i}" for i in range(2000)], ["r"] * 2000
    first = noisy(prompts, responses)
    np.testing.assert_array_equal(first, noisy(prompts, responses))
    assert abs(first.mean()) < 0.15 and first.std() == pytest.approx(2.0, rel=0.1)
    assert not np.array_equal(first, T.NoisyReward(gold, noise=2.0, seed=2)(prompts, responses))


def test_rl_and_evaluation_prompts_are_disjoint(world):
    data = T.TeacherData(n_eval=8)
    rl, evaluation = data.prompts(world)
    assert len(evaluation) == 8 and rl and not set(rl) & set(evaluation)
    with pytest.raises(ValueError, match="too few"):
        T.TeacherData(n_eval=1000).prompts(world)
    on, off, heldout = data.pools(world)
    assert not set(zip(off["prompt"], off["chosen"])) & set(zip(heldout["prompt"], heldout["chosen"]))


def test_zoo_trains_once_and_rl_runs_are_evaluated_every_epoch_and_cached(world):
    data = T.TeacherData(n_eval=8)
    small = T.RMConfig(lr=1e-3, epochs=1, batch_size=4)
    zoo = T.train_zoo(world, data, fractions=(1.0, 0.0), n_pairs=4, config=small)
    assert set(zoo) == {"100%", "0%"} and all((p / "model.safetensors").exists() for p in zoo.values())
    stamp = (zoo["0%"] / "model.safetensors").stat().st_mtime_ns
    assert T.train_zoo(world, data, fractions=(1.0, 0.0), n_pairs=4, config=small) == zoo
    assert (zoo["0%"] / "model.safetensors").stat().st_mtime_ns == stamp          # a cache hit

    rms = T.zoo_rewards(world, zoo)
    assert list(rms) == ["100%", "0%", T.PERFECT, T.GOLD]
    rl, evaluation = data.prompts(world)
    settings = T.RunSettings(epochs=2, batch_prompts=4, eval_k=2, max_new_tokens=6)
    grid = T.run_grid(world, {"sft_full": world.models["sft_full"]}, {T.GOLD: world.gold}, rl, evaluation,
                      settings, seeds=(0,))
    per_epoch = -(-len(rl) // 4)
    assert grid.epoch.tolist() == [0, 1, 2] and grid.step.tolist() == [0, per_epoch, 2 * per_epoch]
    assert grid.loc[0, "gold_increase"] == grid.loc[0, "proxy_increase"] == grid.loc[0, "kl"] == 0
    assert (T.cache_root(world)).glob("run-*.json")
    again = T.run_grid(world, {"sft_full": world.models["sft_full"]}, {T.GOLD: world.gold}, rl, evaluation,
                       settings, seeds=(0,))
    pd.testing.assert_frame_equal(grid, again)
    # the per-prompt gold rewards average to the evaluation's gold reward, and split into groups of prompts the
    # increase recombines (weighted by group size) into the whole increase
    assert all(len(values) == len(evaluation) for values in grid.gold_per_prompt)
    np.testing.assert_allclose([np.mean(v) for v in grid.gold_per_prompt], grid.gold, atol=1e-12)
    split = T.gold_increase_by_group(grid, evaluation, lambda prompt: prompt in evaluation[:3])
    n = len(evaluation)
    np.testing.assert_allclose((3 * split[True] + (n - 3) * split[False]).to_numpy() / n, grid.gold_increase,
                               atol=1e-12)
    # without its cached run, the grid trains again from the initial-policy samples (evaluation, normalisation) it
    # cached the first time: the same run
    assert len(list(T.cache_root(world).glob("initial-samples-*.json"))) == 2
    for run_file in T.cache_root(world).glob("run-*.json"):
        run_file.unlink()
    pd.testing.assert_frame_equal(grid, T.run_grid(world, {"sft_full": world.models["sft_full"]}, {T.GOLD: world.gold},
                                                   rl, evaluation, settings, seeds=(0,)))
    run = T.run_rl(world.models["sft_full"], world.gold, world.gold, rl, evaluation, settings, seed=0)
    assert {"within_std_mean", "frac_zero_std", "kl", "gold_reward"} <= set(run["metrics"][0])
    assert [e["gold"] for e in run["evals"]] == grid.gold.tolist()   # uncached: it drew its initial samples itself
    # proxy = gold: both increases are the same numbers, the proxy one divided by the initial-policy std
    np.testing.assert_allclose(np.array(run["proxy_increase"]) * run["normalization"]["scale"],
                               run["gold_increase"], atol=1e-12)


def test_properties_carry_the_teacher_score(world):
    rl, _ = T.TeacherData(n_eval=8).prompts(world)
    table = T.rm_properties(str(world.models["sft_full"]), {"r_G": world.gold, "flat": T.PerfectAccuracyRM(world.gold)},
                            rl[:6], world.gold, k=3, n_bootstrap=5)
    assert {"whitened_reward_variance", "on_policy_accuracy", "teacher_score"} <= set(table.columns)
    assert table.loc["r_G", "on_policy_accuracy"] == table.loc["flat", "on_policy_accuracy"] == 1.0
    assert table.loc["r_G", "on_policy_accuracy_half"] == table.loc["flat", "on_policy_accuracy_half"] == 1.0
    ceiling, chance = table["on_policy_accuracy_ceiling"], table["on_policy_accuracy_chance"]
    assert ceiling.nunique() == chance.nunique() == 1 and 0 <= chance.iloc[0] < ceiling.iloc[0] <= 1
    assert (table["on_policy_accuracy_half_ceiling"] == 1.0).all()
    assert (table["on_policy_accuracy_half_chance"] == 0.5).all()


def test_kl_at_matched_gold_interpolates_and_is_inf_when_never_reached():
    assert T.kl_at_gold(np.array([1.0, 2.0]), np.array([0.2, 0.4]), 0.1) == pytest.approx(0.5)
    assert T.kl_at_gold(np.array([1.0, 2.0]), np.array([0.2, 0.1]), 0.3) == np.inf


def test_kl_efficiency_counts_rms_whose_kl_follows_off_policy_accuracy():
    rows = []
    for rm, kl_per_epoch in {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}.items():
        rows += [{"rm": rm, "epoch": e, "kl": kl_per_epoch * e, "gold_increase": 0.1 * e} for e in range(3)]
    curve = pd.DataFrame(rows).set_index(["rm", "epoch"])
    accurate_first = T.kl_efficiency(curve, pd.Series({"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6}))
    assert accurate_first["n_follow"] == 4 and accurate_first["kl_at_target"]["a"] == pytest.approx(2.0)
    assert T.kl_efficiency(curve, pd.Series({"a": 0.6, "b": 0.7, "c": 0.8, "d": 0.9}))["n_follow"] == 0
    # most RMs lower the gold reward: the median final gain is negative, a target every curve starts above
    declining = curve.assign(gold_increase=lambda c: np.where(c.index.get_level_values("rm") == "a", 1, -1)
                             * c["gold_increase"])
    vacuous = T.kl_efficiency(declining, pd.Series({"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6}))
    assert vacuous["target_gold_increase"] < 0 and vacuous["n_follow"] == 0


def test_correlation_tables():
    measures = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0], "w": [4.0, 3.0, 1.0, 2.0]}, index=list("abcd"))
    increases = pd.DataFrame({"gold": [0.1, 0.2, 0.3, 0.5]}, index=list("abcd"))
    table = T.correlations(measures, increases)
    assert table.loc["v", ("gold", "spearman")] == pytest.approx(1.0)
    assert table.loc["w", ("gold", "spearman")] == pytest.approx(-0.8)
    pairs = pd.DataFrame({"teacher_score": [1, 2, 3, 4], "whitened_reward_variance": [4, 3, 2, 1],
                          "on_policy_accuracy": [1, 3, 2, 4], "off_policy_accuracy": [np.nan, 1, 2, 3],
                          "gold_increase": [0.1, 0.2, 0.3, 0.4]})
    validation = T.teacher_validation(pairs)
    assert validation.loc["teacher score", "spearman"] == pytest.approx(1.0)
    assert validation.loc["variance alone", "spearman"] == pytest.approx(-1.0)
    assert validation.loc["off-policy accuracy alone", "n_pairs"] == 3


def test_validation_within_each_policy_and_its_figure():
    pairs = pd.DataFrame({"policy": ["a"] * 3 + ["b"] * 3, "teacher_score": [1, 2, 3, 1, 2, 3],
                          "whitened_reward_variance": [3, 2, 1, 1, 2, 3], "on_policy_accuracy": [1, 2, 3, 3, 2, 1],
                          "off_policy_accuracy": [1, 1, 2, 2, 3, 1], "gold_increase": [0.1, 0.2, 0.3, 0.5, 0.4, 0.6]})
    within = T.teacher_validation_by_policy(pairs)
    assert list(within.index) == ["a", "b"] and list(within.columns) == list(T.VALIDATION_MEASURES)
    assert within["teacher score"].tolist() == pytest.approx([1.0, 0.5])
    assert within.loc["a", "variance alone"] == pytest.approx(-1.0)
    fig = T.plot_teacher_validation(pairs, T.teacher_validation(pairs), title="demo")
    assert len(fig.axes) == 4 and fig._suptitle.get_text() == "demo"
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == len(pairs)


def test_zoo_criteria_on_a_zoo_that_behaves_as_the_paper_reports():
    from rmlab.figures import FigureRecord

    names = [T.zoo_name(f) for f in T.PAPER_FRACTIONS] + [T.PERFECT, T.GOLD]
    properties = pd.DataFrame({"whitened_reward_variance": [0.63, 0.62, 0.56, 0.44, 0.31, 0.11, 0.26],
                               "on_policy_accuracy": [0.66, 0.66, 0.64, 0.62, 0.59, 1.0, 1.0],
                               "off_policy_accuracy": [0.63, 0.73, 0.74, 0.75, 0.76, 1.0, 1.0]}, index=names)
    speed = dict(zip(names, [0.6, 0.58, 0.5, 0.45, 0.35, 0.1, 0.3]))     # gold gain per epoch, ordered by variance
    runs = pd.DataFrame([{"rm": rm, "seed": 0, "epoch": e, "proxy_increase": 2 * speed[rm] * e,
                          "gold_increase": speed[rm] * e,
                          "kl": (1.5 - properties.loc[rm, "off_policy_accuracy"]) * speed[rm] * e}
                         for rm in names for e in range(4)])
    record = FigureRecord("demo", notebook="demo", seed=0, quick=False)
    out = T.check_zoo_criteria(record, properties, runs)
    values = {c["name"]: c["value"] for c in record.criteria}
    # Figure 4 alone fails: the accurate but slow teachers never reach the matched gain (the median final one)
    assert [c["name"] for c in record.criteria if not c["passed"]] == ["RMs whose KL follows off-policy accuracy"]
    assert out["efficiency"]["kl_at_target"]["25%"] == np.inf
    assert values["Spearman(100->0% on-policy, variance)"] == pytest.approx(-1.0)
    assert values["epoch 1 gold: lowest trained RM minus perfect-acc"] == pytest.approx(0.25)
    non_gt = names[:-1]
    expected = np.corrcoef(properties.loc[non_gt, "whitened_reward_variance"], [2 * speed[rm] for rm in non_gt])[0, 1]
    assert out["table2"].loc["Reward variance", ("proxy_increase", "pearson")] == pytest.approx(expected)
    flat = properties.copy()          # the perfect-accuracy RM no longer the flattest, the zoo's order reversed
    flat["whitened_reward_variance"] = [0.31, 0.44, 0.56, 0.62, 0.63, 0.9, 0.26]
    record = FigureRecord("demo", notebook="demo", seed=0, quick=False)
    T.check_zoo_criteria(record, flat, runs)
    assert [c["name"] for c in record.criteria if not c["passed"]][:2] == [
        "perfect-acc variance minus lowest other RM's", "Spearman(100->0% on-policy, variance)"]


def test_table1_criteria_store_a_quick_relaxation_only_in_quick_mode():
    from rmlab.figures import FigureRecord

    names = [T.zoo_name(f) for f in T.PAPER_FRACTIONS] + [T.PERFECT, T.GOLD]
    properties = pd.DataFrame({"whitened_reward_variance": [0.6, 0.5, 0.4, 0.3, 0.2, 0.25, 0.26],
                               "on_policy_accuracy": [0.66, 0.66, 0.64, 0.62, 0.59, 1.0, 1.0],
                               "off_policy_accuracy": [0.63, 0.73, 0.74, 0.75, 0.76, 1.0, 1.0]}, index=names)
    why = {"perfect-acc variance minus lowest other RM's": "small world"}
    for quick in (True, False):
        record = FigureRecord("demo", notebook="demo", seed=0, quick=quick)
        T.check_table1(record, properties, quick_relaxed=why)
        failed = [c for c in record.criteria if not c["passed"]]
        assert [c["name"] for c in failed] == list(why)     # 0.25 is not below the 0% RM's 0.2
        assert failed[0].get("quick_relaxed") == ("small world" if quick else None)
    with pytest.raises(ValueError, match="no Table 1 criterion"):
        T.check_table1(record, properties, quick_relaxed={"perfect-acc varience": "typo"})


def test_table1_spearman_exactly_at_its_threshold_passes():
    """A Spearman of exactly -0.8 over the five zoo RMs (sum of squared rank differences 36) meets "<= -0.8";
    scipy alone returns -0.7999999999999999 for these variances (a pool-size probe's zoo)."""
    from rmlab.figures import FigureRecord

    names = [T.zoo_name(f) for f in T.PAPER_FRACTIONS] + [T.PERFECT, T.GOLD]
    properties = pd.DataFrame({"whitened_reward_variance": [0.483, 0.49, 0.30, 0.334, 0.236, 0.131, 0.264],
                               "on_policy_accuracy": [0.64, 0.64, 0.62, 0.62, 0.58, 1.0, 1.0],
                               "off_policy_accuracy": [0.71, 0.82, 0.84, 0.87, 0.86, 1.0, 1.0]}, index=names)
    record = FigureRecord("demo", notebook="demo", seed=0, quick=False)
    T.check_table1(record, properties)
    values = {c["name"]: (c["value"], c["passed"]) for c in record.criteria}
    assert values["Spearman(100->0% on-policy, variance)"] == (-0.8, True)
    assert values["Spearman(100->0% on-policy, off-policy acc.)"] == (0.9, True)


def test_notebook_setup_passes_world_options_to_the_world(monkeypatch):
    built = []
    monkeypatch.setattr(T, "build_world", lambda config: built.append(config) or config)
    world, scale, data = T.notebook_setup(False, 3, world_options={"pool_pairs": 10000}, rl_prompts="rl_prompts")
    assert (built[0].seed, built[0].pool_pairs, built[0].rl_prompts) == (3, 10000, 600)
    assert scale is T.SCALES["full"] and data.rl_prompts == "rl_prompts"
    T.notebook_setup(True, 0)
    assert built[1] == T.quick_config(0)
