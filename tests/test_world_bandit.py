"""rmlab.world.bandit: RLOO's surrogate against the exact gradient (enumerating every pair of samples), the linear BT
RM against a well-specified truth, the teachers' properties where they are known exactly, determinism, and the
experiment's rows."""

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from rmlab.errors import UserError
from rmlab.world import bandit as B
from rmlab.world.teacher import GOLD, PERFECT

SMALL = B.BanditConfig(n_prompts=300, splits=(60, 120, 80, 40), n_candidates=16)


@pytest.fixture(scope="module")
def small():
    return B.make_bandit(SMALL)


@pytest.mark.parametrize("kl_coef", [0.0, 0.05])
def test_rloo_surrogate_has_the_exact_regularised_gradient_in_expectation(kl_coef):
    gen = torch.Generator().manual_seed(0)
    n_prompts, n_candidates = 3, 5
    logits = torch.randn(n_prompts, n_candidates, generator=gen, dtype=torch.float64, requires_grad=True)
    ref_log_probs = torch.log_softmax(torch.randn(n_prompts, n_candidates, generator=gen, dtype=torch.float64), -1)
    rewards = torch.randn(n_prompts, n_candidates, generator=gen, dtype=torch.float64)
    log_probs = torch.log_softmax(logits, -1)
    probs = log_probs.exp().detach()
    expected = torch.zeros_like(logits)
    for pairs in itertools.product(itertools.product(range(n_candidates), repeat=2), repeat=n_prompts):
        samples = torch.tensor(pairs)
        weight = probs.gather(1, samples).prod()
        loss = B.pg_loss(log_probs, ref_log_probs, samples, rewards, kl_coef)
        expected += weight * torch.autograd.grad(loss, logits, retain_graph=True)[0]
    objective = (log_probs.exp() * (rewards - kl_coef * (log_probs - ref_log_probs))).sum(-1).mean()
    exact = torch.autograd.grad(objective, logits)[0]
    torch.testing.assert_close(expected, -exact, rtol=1e-10, atol=1e-12)
    assert exact.norm() > 1e-2


def test_the_linear_bt_rm_recovers_a_well_specified_direction():
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(6, generator=gen, dtype=torch.float64)
    a, b = (torch.randn(2000, 6, generator=gen, dtype=torch.float64) for _ in range(2))
    first = (a @ w > b @ w)[:, None]
    chosen, rejected = torch.where(first, a, b), torch.where(first, b, a)
    psi = B.train_linear_rm(chosen, rejected)
    assert torch.nn.functional.cosine_similarity(psi, w, dim=0) > 0.98


def test_the_world_is_a_function_of_its_config(small):
    again = B.make_bandit(SMALL)
    for name in ("features", "gold", "off_features", "off_gold", "theta0", "gold_weights"):
        assert torch.equal(getattr(small, name), getattr(again, name)), name
    assert not torch.equal(small.gold, B.make_bandit(B.BanditConfig(**{**vars(SMALL), "seed": 1})).gold)
    parts = torch.cat(list(small.splits.values()))
    assert sorted(parts.tolist()) == list(range(SMALL.n_prompts))          # the splits partition the prompts
    assert small.gold.abs().max() < 1


def test_the_initial_policy_learns_from_its_demonstrations(small):
    held_out = small.splits["eval"]
    fitted = (B.policy_probs(small, small.theta0, held_out) * small.gold[held_out]).sum(-1).mean()
    uniform = small.gold[held_out].mean()
    assert fitted > uniform + 0.1


def test_properties_are_exact_where_the_truth_is_known(small):
    rms = B.teachers(small, n_pairs=100)
    properties = B.teacher_properties(small, rms)
    assert list(properties.index) == ["100%", "75%", "50%", "25%", "0%", PERFECT, GOLD]
    assert properties.loc[[PERFECT, GOLD], "on_policy_accuracy"].tolist() == [1.0, 1.0]
    assert properties.loc[[PERFECT, GOLD], "off_policy_accuracy"].tolist() == [1.0, 1.0]
    assert properties.loc[PERFECT, "whitened_reward_variance"] < properties.loc[GOLD, "whitened_reward_variance"]
    trained = properties.drop([PERFECT, GOLD])
    assert ((trained["on_policy_accuracy"] > 0.6) & (trained["on_policy_accuracy"] < 1)).all()


def test_rloo_on_the_gold_reward_raises_it_and_rows_start_at_zero(small):
    rows = B.rl_run(small, small.gold, B.BanditRLConfig(epochs=2), seed=0)
    assert [row["epoch"] for row in rows] == [0, 1, 2]
    assert rows[0]["gold_increase"] == rows[0]["proxy_increase"] == 0 and rows[0]["kl"] == pytest.approx(0, abs=1e-12)
    assert rows[2]["gold_increase"] > 0.05 and rows[2]["kl"] > 0
    assert rows == B.rl_run(small, small.gold, B.BanditRLConfig(epochs=2), seed=0)       # same seed, same numbers


def test_teacher_experiment_has_the_shape_of_the_world_grid(small):
    properties, runs = B.teacher_experiment(small, seeds=(0, 1), rl=B.BanditRLConfig(epochs=1), n_pairs=100)
    assert set(runs.columns) >= {"policy", "rm", "seed", "epoch", "proxy_increase", "gold_increase", "kl"}
    assert len(runs) == len(properties) * 2 * 2
    assert np.isfinite(runs[["proxy_increase", "gold_increase", "kl"]].to_numpy()).all()
    paper = pd.DataFrame({"variance": 0.5, "on-acc": 0.6, "off-acc": 0.7}, index=properties.index[::-1])
    fig = B.plot_teacher_experiment(properties, runs, paper=paper)
    assert len(fig.axes) == 4 and len(fig.axes[3].collections[0].get_offsets()) == len(properties)
    assert [len(c.get_offsets()) for c in fig.axes[0].collections] == [len(properties)] * 3      # the paper's marks


@pytest.mark.parametrize("bad, word", [({"splits": (10, 10, 10, 10)}, "splits"), ({"dim_u": 1}, "dim_u"),
                                       ({"gold_noise": -0.1}, "gold_noise"),
                                       ({"demo_temperature": 0.0}, "demo_temperature")])
def test_bad_configs_name_the_field(bad, word):
    with pytest.raises(UserError, match=word):
        B.BanditConfig(**bad)


@pytest.mark.parametrize("bad, word", [({"k": 1}, "k"), ({"kl_coef": -1.0}, "kl_coef"), ({"lr": 0}, "lr")])
def test_bad_rl_configs_name_the_field(bad, word):
    with pytest.raises(UserError, match=word):
        B.BanditRLConfig(**bad)


def test_too_many_pairs_is_a_clear_error(small):
    with pytest.raises(UserError, match="n_pairs"):
        B.teachers(small, n_pairs=10_000)


def test_per_prompt_normalization_ignores_per_prompt_offsets_and_global_does_not(small):
    offsets = 3.0 * torch.randn(SMALL.n_prompts, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    per_prompt, global_ = (B.BanditRLConfig(epochs=1, normalization=n) for n in ("per_prompt", "global"))

    def gold_and_kl(rewards, config):
        return [row[key] for row in B.rl_run(small, rewards, config, seed=0) for key in ("gold_increase", "kl")]

    assert gold_and_kl(small.gold + offsets, per_prompt) == pytest.approx(gold_and_kl(small.gold, per_prompt),
                                                                          rel=1e-9, abs=1e-12)
    assert gold_and_kl(small.gold + offsets, global_) != pytest.approx(gold_and_kl(small.gold, global_), rel=1e-3)


def test_per_prompt_scale_is_the_root_mean_within_prompt_variance():
    probs = torch.tensor([[0.5, 0.5], [0.25, 0.75]], dtype=torch.float64)
    rewards = torch.tensor([[0.0, 2.0], [10.0, 14.0]], dtype=torch.float64)
    within = [0.5 * 1 + 0.5 * 1, 0.25 * 9 + 0.75 * 1]               # means 1 and 13
    assert float(B._per_prompt_scale(probs, rewards)) == pytest.approx(np.sqrt(np.mean(within)), rel=1e-12)


def test_another_gold_keeps_the_policy_and_agrees_in_part(small):
    other = B.with_other_gold(small)
    for name in ("features", "off_features", "theta0"):
        assert torch.equal(getattr(other, name), getattr(small, name)), name
    cos = torch.nn.functional.cosine_similarity(other.gold_weights, small.gold_weights, dim=0)
    assert 0.5 < cos < 0.95
    assert not torch.equal(other.gold, small.gold) and other.gold.abs().max() < 1
    assert torch.equal(B.with_other_gold(small).gold, other.gold)
    assert not torch.equal(B.with_other_gold(small, seed=2).gold, other.gold)


def test_appendix_variants_change_one_thing_each(small):
    variants = B.appendix_variants(SMALL, B.BanditRLConfig(epochs=1))
    assert list(variants) == list(B.APPENDIX_PAPER.index)
    configs = {name: (bandit.config, rl) for name, (bandit, rl) in variants.items()}
    assert configs["main"] == (SMALL, B.BanditRLConfig(epochs=1))
    assert configs["another initial policy"][0].demo_temperature == 4 * SMALL.demo_temperature
    assert (configs["similar on- and off-policy data"][0].policy_v_spread,
            configs["similar on- and off-policy data"][0].off_u_spread) == (1.0, 1.0)
    assert configs["per-prompt normalization"] == (SMALL, B.BanditRLConfig(epochs=1, normalization="per_prompt"))
    assert torch.equal(variants["another gold reward"][0].gold, B.with_other_gold(small).gold)


def test_appendix_correlations_are_table_2s_first_row(small):
    results = {name: B.teacher_experiment(small, seeds=(0,), rl=B.BanditRLConfig(epochs=1, normalization=norm),
                                          n_pairs=100) for name, norm in (("main", "global"),
                                                                          ("per-prompt normalization", "per_prompt"))}
    table = B.appendix_correlations(results)
    properties, runs = results["main"]
    trained = [rm for rm in properties.index if rm != GOLD]
    after1 = runs[runs.epoch == 1].set_index("rm").loc[trained]
    for target in ("proxy_increase", "gold_increase"):
        expected = np.corrcoef(properties.loc[trained, "whitened_reward_variance"], after1[target])[0, 1]
        assert table.loc["main", (target, "pearson")] == pytest.approx(expected, rel=1e-9)
    fig = B.plot_appendix_correlations(table)
    assert len(fig.axes[0].patches) == 2 * len(table)
    assert [len(c.get_offsets()) for c in fig.axes[0].collections] == [len(table)] * 2      # the paper's marks


def test_bad_normalization_names_the_field():
    with pytest.raises(UserError, match="normalization"):
        B.BanditRLConfig(normalization="per-prompt")


def test_grpo_without_division_moves_as_rloo_under_adam(small):
    """At k = 2 GRPO's r - mean is half RLOO's advantage; Adam's step does not see the factor (up to its epsilon)."""
    def gold(config):
        return [row["gold_increase"] for row in B.rl_run(small, small.gold, config, seed=0)]

    rloo = gold(B.BanditRLConfig(epochs=1))
    assert gold(B.BanditRLConfig(epochs=1, algo="grpo", grpo_scale="none")) == pytest.approx(rloo, rel=1e-4)
    assert gold(B.BanditRLConfig(epochs=1, algo="grpo")) != pytest.approx(rloo, rel=1e-3)


def test_initial_policies_and_figure3_teachers(small):
    policies = B.initial_policies(small)
    assert list(policies) == ["theta_0", "other demonstrations", "low entropy"]
    assert torch.equal(policies["theta_0"], small.theta0) and torch.equal(policies["low entropy"], 3 * small.theta0)
    assert not torch.allclose(policies["other demonstrations"], small.theta0)
    assert torch.equal(B.initial_policies(small)["other demonstrations"], policies["other demonstrations"])
    held_out = small.splits["eval"]
    other = B.with_other_gold(small).gold[held_out]            # it learnt what the other judge prefers
    fitted = (B.policy_probs(small, policies["other demonstrations"], held_out) * other).sum(-1).mean()
    assert fitted > other.mean() + 0.1
    rms = B.figure3_teachers(small, noise=1.0, n_pairs=100)
    assert list(rms) == ["100%", "0%", PERFECT, "noisy_gold", GOLD]
    noise = rms["noisy_gold"][0] - small.gold
    assert 0.95 < float(noise.std()) < 1.05 and torch.equal(rms[GOLD][0], small.gold)
    assert torch.equal(rms["noisy_gold"][0], B.figure3_teachers(small, noise=1.0, n_pairs=100)["noisy_gold"][0])


def test_policy_grid_has_a_row_per_policy_rm_seed_and_epoch(small):
    policies = {"a": small.theta0, "b": 2 * small.theta0}
    rms = {"gold": (small.gold, small.off_gold), "reversed": (-small.gold, -small.off_gold)}
    properties, runs = B.policy_grid(small, policies, rms, seeds=(0, 1), rl=B.BanditRLConfig(epochs=2))
    assert list(properties.index) == [(p, r) for p in policies for r in rms]
    assert len(runs) == 2 * 2 * 2 * 3 and set(runs.policy) == {"a", "b"}
    scores = properties["teacher_score"]
    assert scores[("a", "reversed")] == pytest.approx(-scores[("a", "gold")]) and scores[("a", "gold")] > 0
    last = runs[runs.epoch == 2].groupby(["policy", "rm"])["gold_increase"].mean()
    assert (last.xs("gold", level="rm") > 0).all() and (last.xs("reversed", level="rm") < 0).all()
    alone = B.policy_grid(small, {"b": policies["b"]}, rms, seeds=(0, 1), rl=B.BanditRLConfig(epochs=2))[1]
    pd.testing.assert_frame_equal(alone.reset_index(drop=True), runs[runs.policy == "b"].reset_index(drop=True))


@pytest.mark.parametrize("bad, word", [({"algo": "ppo"}, "algo"), ({"grpo_scale": "std"}, "grpo_scale")])
def test_bad_algorithms_name_the_field(bad, word):
    with pytest.raises(UserError, match=word):
        B.BanditRLConfig(**bad)


def test_a_run_on_a_subset_evaluates_on_its_steps_and_keeps_the_standardisation(small):
    rl = small.splits["rl"]
    config = B.BanditRLConfig(epochs=2)
    rows = B.rl_run(small, small.gold, config, seed=0, train_prompts=rl[:20], steps=6, eval_every=3)
    assert [row["step"] for row in rows] == [0, 3, 6] and [row["epoch"] for row in rows] == [0, 3, 6]
    elsewhere = torch.zeros(SMALL.n_prompts, 1, dtype=torch.float64)
    elsewhere[torch.cat([small.splits["demo"], small.splits["rm"]])] = 5.0
    shifted = B.rl_run(small, small.gold + elsewhere, config, seed=0, train_prompts=rl[:20], steps=6, eval_every=3)
    assert shifted == rows                 # the statistics are the RL prompts': rewards elsewhere do not enter them
    inside = B.rl_run(small, small.gold + 5.0 * (elsewhere == 0), config, seed=0, train_prompts=rl[:20], steps=6,
                      eval_every=3)
    assert [row["gold_increase"] for row in inside] == pytest.approx([row["gold_increase"] for row in rows])
    full = B.rl_run(small, small.gold, config, seed=0)
    assert full == B.rl_run(small, small.gold, config, seed=0, train_prompts=rl)


def test_selection_experiment_rows_and_the_top_quarter(small):
    flat = torch.zeros(SMALL.n_prompts, dtype=torch.bool)
    flat[small.splits["rl"][::2]] = True
    rewards = torch.where(flat[:, None], 1e-6 * small.gold, small.gold)        # every other RL prompt flattened
    curves, variances = B.selection_experiment(small, rewards, fraction=0.25, seeds=(0, 1),
                                               rl=B.BanditRLConfig(epochs=1), evaluations=2)
    assert set(curves.condition) == {"top variance", "random", "all prompts"} and set(curves.seed) == {0, 1}
    steps = B.EpochBatches(len(small.splits["rl"]), 32).steps(epochs=1)
    assert curves.step.max() == steps and len(curves) == 2 * 3 * len(curves.step.unique())
    top = np.argsort(-variances)[:round(0.25 * len(variances))]
    assert not flat[small.splits["rl"][torch.as_tensor(top)]].any()       # the top quarter avoids the flat prompts
