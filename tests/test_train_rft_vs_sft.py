"""rmlab.train.sft and rmlab.train.rft_vs_sft on the quick world: per-prompt reward statistics, SFT, and the RFT / SFT
/ SFT->RFT / partial-SFT runners, with small budgets."""

import random

import numpy as np
import pytest
import torch

from rmlab._threads import single_torch_thread
from rmlab.errors import UserError
from rmlab.lm.data import load_prompts
from rmlab.lm.load import load_causal_lm
from rmlab.lm.sample import sample_responses
from rmlab.lm.score import sequence_logprobs
from rmlab.train.pg import PGConfig
from rmlab.train.rft_vs_sft import (PromptRewardStats, family_std_gap_correlation, family_summary, flat_and_far,
                                    pearson, prompt_reward_stats, run_method, sft_subset, unit_interval)
from rmlab.train.sft import SFTConfig, train_sft

RFT = PGConfig(k=4, batch_prompts=6, steps=3, max_new_tokens=12, lr=1e-3)
SFT = SFTConfig(batch_size=6, epochs=2, lr=1e-3)


@pytest.fixture(scope="module")
def world():
    from rmlab.world import build_world, quick_config

    return build_world(quick_config(), progress=False)      # $RMLAB_CACHE: one build per test session


@pytest.fixture(scope="module")
def task(world):
    from rmlab.world.language import Demonstrator, make_facts

    prompts = load_prompts(world.datasets["eval_prompts"])[:12]
    demonstrator, rng = Demonstrator(make_facts(world.config.seed), noise=0.0), random.Random(0)
    return prompts, [demonstrator.respond(p, rng) for p in prompts]


def policy(world):
    return load_causal_lm(str(world.models["sft_full"]))


def test_reward_stats_are_the_mean_and_std_of_the_policys_own_samples(world, task):
    prompts, _ = task
    model, tokenizer = policy(world)
    with single_torch_thread():
        stats = prompt_reward_stats(model, tokenizer, prompts, world.gold, k=5, max_new_tokens=12, seed=3)
        again = prompt_reward_stats(model, tokenizer, prompts, world.gold, k=5, max_new_tokens=12, seed=3,
                                    batch_size=7)
        samples = sample_responses(model, tokenizer, prompts, 5, max_new_tokens=12, seed=3, progress=False)
    gold = np.array([world.gold([p] * 5, group) for p, group in zip(prompts, samples)])
    np.testing.assert_array_equal(stats.rewards, gold)
    np.testing.assert_allclose(stats.mean, gold.mean(axis=1))
    np.testing.assert_allclose(stats.std, gold.std(axis=1, ddof=1))
    np.testing.assert_array_equal(again.rewards, stats.rewards)           # whatever the batching
    assert stats.std.max() > 0


def test_sft_raises_the_likelihood_of_the_demonstrations(world, task):
    prompts, demos = task
    model, tokenizer = policy(world)
    before = sequence_logprobs(model, tokenizer, prompts, demos)["logprob_sum"].mean()
    with single_torch_thread():
        result = train_sft(model, tokenizer, prompts, demos, SFT, progress=False)
    after = sequence_logprobs(model, tokenizer, prompts, demos)["logprob_sum"].mean()
    assert len(result.metrics) == 4 and {"loss", "nll_per_token", "grad_norm"} <= set(result.metrics[0])
    assert after > before + 0.1


@pytest.mark.parametrize("method, phases", [("rft", (False, True)), ("sft", (True, False)),
                                            ("sft_rft", (True, True))])
def test_each_method_runs_its_phases(world, task, method, phases):
    prompts, demos = task
    model, tokenizer = policy(world)
    with single_torch_thread():
        run = run_method(method, model, tokenizer, prompts, demos, world.gold, rft=RFT, sft=SFT, gold_fn=world.gold)
    assert (run.sft is not None, run.rft is not None) == phases
    assert run.sft_prompts == (list(range(12)) if phases[0] else [])
    if run.rft is not None:
        assert len(run.rft.metrics) == 3 and "gold_reward" in run.rft.metrics[0]


def test_partial_sft_sees_a_fraction_of_the_prompts_for_a_fraction_of_the_steps(world, task):
    prompts, demos = task
    model, tokenizer = policy(world)
    with single_torch_thread():
        run = run_method("sft_rft", model, tokenizer, prompts, demos, world.gold, rft=RFT, sft=SFT,
                         sft_fraction=0.25, sft_step_fraction=0.5)
    assert run.sft_prompts == sft_subset(12, 0.25, SFT.seed) and len(run.sft_prompts) == 3
    assert len(run.sft.metrics) == 2 and len(run.rft.metrics) == 3        # half of SFT's 2 x 2 steps


def test_partial_sft_draws_its_fraction_from_each_group(world, task):
    prompts, demos = task
    groups = ["a"] * 8 + ["b"] * 4
    model, tokenizer = policy(world)
    with single_torch_thread():
        run = run_method("sft_rft", model, tokenizer, prompts, demos, world.gold, rft=RFT, sft=SFT,
                         sft_fraction=0.25, sft_step_fraction=0.5, sft_groups=groups)
    assert run.sft_prompts == sft_subset(12, 0.25, SFT.seed, groups=groups)
    assert sorted(groups[i] for i in run.sft_prompts) == ["a", "a", "b"]


def test_sft_subset_without_groups_is_a_uniform_draw_of_the_rounded_fraction():
    assert sft_subset(10, 0.3, seed=4) == sorted(np.random.default_rng(4).permutation(10)[:3].tolist())
    assert len(sft_subset(60, 0.01, seed=0)) == 1 and len(sft_subset(500, 0.01, seed=0)) == 5
    assert sft_subset(7, 1.0, seed=0) == list(range(7))


def test_sft_subset_by_group_takes_the_fraction_of_each_group_and_at_least_one():
    groups = ["sort"] * 216 + ["reverse"] * 224 + ["count"] * 60
    subset = sft_subset(500, 0.01, seed=0, groups=groups)
    assert sorted(groups[i] for i in subset) == ["count", "reverse", "reverse", "sort", "sort"]
    tenth = sft_subset(500, 0.1, seed=0, groups=groups)
    assert [sum(groups[i] == g for i in tenth) for g in ("sort", "reverse", "count")] == [22, 22, 6]
    assert len(set(tenth)) == len(tenth) and subset == sft_subset(500, 0.01, seed=0, groups=groups)
    assert subset != sft_subset(500, 0.01, seed=1, groups=groups)
    assert sft_subset(5, 1.0, seed=3, groups="aabbc") == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("args, kwargs, words", [
    ((0, 0.5, 0), {}, "at least one prompt"), ((4, 0.0, 0), {}, "sft_fraction must be in"),
    ((4, 1.5, 0), {}, "sft_fraction must be in"), ((4, 0.5, 0), dict(groups=["a", "b"]), "2 SFT groups for 4 prompts")])
def test_sft_subset_refuses_bad_input(args, kwargs, words):
    with pytest.raises(UserError, match=words):
        sft_subset(*args, **kwargs)


def test_same_seed_same_run(world, task):
    prompts, demos = task
    runs = []
    for _ in range(2):
        model, tokenizer = policy(world)
        with single_torch_thread():
            run_method("sft_rft", model, tokenizer, prompts, demos, world.gold, rft=RFT, sft=SFT, sft_fraction=0.5)
        runs.append(model.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(runs[0].values(), runs[1].values()))


@pytest.mark.parametrize("kwargs, words", [
    (dict(method="ppo"), "method must be one of"), (dict(sft_fraction=0.0), "sft_fraction must be in"),
    (dict(sft_step_fraction=1.5), "sft_step_fraction must be in"), (dict(demonstrations=["x"]), "1 demonstrations")])
def test_bad_arguments_are_refused(world, task, kwargs, words):
    prompts, demos = task
    model, tokenizer = policy(world)
    arguments = dict(method="sft_rft", demonstrations=demos) | kwargs
    with pytest.raises(UserError, match=words):
        run_method(arguments.pop("method"), model, tokenizer, prompts, arguments.pop("demonstrations"), world.gold,
                   rft=RFT, sft=SFT, **arguments)


def test_bad_sft_configuration_is_refused():
    with pytest.raises(UserError, match="reduction must be one of"):
        SFTConfig(reduction="max")


def test_flat_and_far_family_summary_and_helpers():
    initial = PromptRewardStats(rewards=np.zeros((4, 2)), mean=np.array([-1.0, -1.0, 0.5, -0.9]),
                                std=np.array([0.0, 0.5, 0.0, 0.01]))
    assert flat_and_far(initial, best=1.0, std_eps=0.05, min_gap=1.0).tolist() == [True, False, False, True]
    after = {"rft": PromptRewardStats(np.zeros((4, 2)), initial.mean + [0.0, 0.4, 0.0, 0.1], initial.std),
             "sft": PromptRewardStats(np.zeros((4, 2)), initial.mean + [1.0, 1.0, 0.2, 1.0], initial.std)}
    summary = family_summary(["a", "a", "b", "b"], initial, after, std_eps=0.05)
    assert summary["a"] == {"n": 2, "frac_near_zero_std": 0.5, "std_p10": pytest.approx(0.05),
                            "frac_near_zero_std_rft": 0.5, "frac_near_zero_std_sft": 0.5,
                            "gain_rft": 0.2, "gain_sft": 1.0, "rft_minus_sft": pytest.approx(-0.8)}
    assert summary["b"]["frac_near_zero_std"] == 1.0 and summary["b"]["std_p10"] == pytest.approx(0.001)
    # family a: 10th-percentile std 0.05, RFT - SFT -0.8; family b: 0.001, -0.55 -> lower std, smaller loss: negative
    assert family_std_gap_correlation(summary) == pytest.approx(-1.0)
    summary["c"] = {"std_p10": 0.5, "rft_minus_sft": 0.0}
    assert family_std_gap_correlation(summary) > 0.5
    assert np.isnan(family_std_gap_correlation({"a": summary["a"]}))
    assert unit_interval([-1.0, 0.0, 1.0], low=-1, high=1).tolist() == [0.0, 0.5, 1.0]
    assert pearson([1, 2, 3], [2, 4, 7]) > 0.9 and np.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_grue_like_figure_has_one_panel_per_view():
    from rmlab.train.plots_vanishing import plot_grue_like

    initial = PromptRewardStats(np.zeros((4, 2)), np.array([-1.0, -1.0, 0.5, -0.9]), np.array([0.0, 0.5, 0.0, 0.01]))
    after = {m: PromptRewardStats(np.zeros((4, 2)), initial.mean + shift, initial.std)
             for m, shift in (("rft", 0.1), ("sft", 1.0), ("sft_rft", 1.2))}
    families = ["a", "a", "b", "b"]
    summary = family_summary(families, initial, after, std_eps=0.05)
    correlations = {"rft": 0.4, "sft": -0.3, "sft_rft": -0.2}
    fig = plot_grue_like(initial, after, summary, correlations, prompt_families=families)
    assert [ax.get_title() for ax in fig.axes] == ["initial policy", "RFT", "SFT", "SFT→RFT",
                                                   "near-zero std (initial)", "RFT − SFT gain",
                                                   "corr(initial std, gain)"]
    gap, corr = fig.axes[5], fig.axes[6]
    assert [bar.get_height() for bar in gap.patches] == pytest.approx([summary[f]["rft_minus_sft"] for f in "ab"])
    assert [bar.get_height() for bar in corr.patches] == pytest.approx(list(correlations.values()))
    assert [len(c.get_offsets()) for c in fig.axes[0].collections] == [2, 2]      # one colour per family


def test_partial_sft_figure_draws_every_arm_and_both_baselines():
    from rmlab.train.plots_vanishing import plot_partial_sft

    rewards = {(f, s): f + s for f in (0.01, 1.0) for s in (0.1, 1.0)}
    ax, = plot_partial_sft(rewards, rewards[(1.0, 1.0)], rft_alone=0.4).axes
    assert [line.get_label() for line in ax.lines] == ["SFT on 1% of prompts", "SFT on 100% of prompts",
                                                       "90 % of SFT(100 %)→RFT", "RFT alone (no SFT)"]
    assert ax.lines[2].get_ydata()[0] == pytest.approx(1.8) and ax.lines[3].get_ydata()[0] == 0.4


def test_partial_sft_figure_per_task_panel_has_one_bar_per_task_and_arm_and_the_90_percent_marks():
    from rmlab.train.plots_vanishing import plot_partial_sft

    rewards = {(f, 1.0): f for f in (0.01, 1.0)}
    per_task = {"sort": {"RFT": 0.5, "SFT(1 %)→RFT": 0.7, "SFT(100 %)→RFT": 0.8},
                "count": {"RFT": 0.0, "SFT(1 %)→RFT": 0.9, "SFT(100 %)→RFT": 1.0}}
    _, bars = plot_partial_sft(rewards, 1.0, per_task=per_task).axes
    heights = [patch.get_height() for patch in bars.patches]
    assert heights == pytest.approx([0.5, 0.0, 0.7, 0.9, 0.8, 1.0])       # arm by arm, tasks in the given order
    marks, = [c for c in bars.collections if c.get_label() == "90 % of SFT(100 %)→RFT"]
    assert [segment[0][1] for segment in marks.get_segments()] == pytest.approx([0.72, 0.9])
    assert [t.get_text() for t in bars.get_xticklabels()] == ["sort", "count"]
