"""The initial policies of a world seen through the reward report: gold-reward distributions and within-prompt
variances (the quantities of arXiv 2503.15477 §4.4), plus the figure ``world_reward_variance``."""

from __future__ import annotations

import numpy as np

from rmlab.lm.report import RewardReport, reward_report
from rmlab.world.build import World
from rmlab.world.language import prompt_kind

GOLD_NAME = "r_G"


def policy_reports(world: World, *, k: int = 8, n_prompts: int | None = None, seed: int = 0,
                   max_new_tokens: int | None = None, progress: bool = False) -> dict[str, RewardReport]:
    """One :func:`~rmlab.lm.report.reward_report` per initial policy of ``world`` on its ``eval_prompts``.

    The gold reward is scored both as a reward model (named ``r_G``: its within-prompt variance per prompt) and as
    ``gold`` (the RMs' on-policy accuracy); the world's explicit RMs are scored on the same samples.
    """
    prompts = world.prompts("eval_prompts")[:n_prompts]
    rms = {GOLD_NAME: world.gold, **{name: str(path) for name, path in world.reward_models.items()}}
    return {name: reward_report(str(path), rms, prompts, k=k, gold=world.gold, seed=seed,
                                max_new_tokens=max_new_tokens or world.config.max_new_tokens, progress=progress)
            for name, path in world.policies.items()}


def gold_statistics(reports: dict[str, RewardReport], *, flat_var: float = 1e-8) -> dict[str, dict]:
    """Per policy: mean gold reward, mean within-prompt gold variance (unbiased), fraction of prompts whose k gold
    rewards are all equal (unbiased variance <= ``flat_var``), and the per-prompt variances."""
    out = {}
    for name, rep in reports.items():
        var = rep.per_prompt.query("reward_model == @GOLD_NAME")["reward_variance"].to_numpy()
        out[name] = {"mean_gold_reward": float(rep.gold_rewards.mean()),
                     "mean_within_prompt_variance": float(var.mean()),
                     "frac_flat_prompts": float(np.mean(var <= flat_var)),
                     "mean_distinct_responses": float(np.mean([len(set(r)) for r in rep.responses])),
                     "per_prompt_variance": var, "gold_rewards": rep.gold_rewards.ravel()}
    return out


HAND_PICKED = (
    ("copy : dog cat hen >", "dog cat hen", "all 3 positions right"),
    ("reverse : dog hen pig >", "pig dog hen", "position 0 right, weights 6 5 4: 2 * 6/15 - 1"),
    ("reverse : dog hen pig >", "hen pig dog", "position 2 right: 2 * 4/15 - 1"),
    ("sort : pig cat dog >", "cat dog", "positions 0, 1 right of max(2, 3): 2 * 11/15 - 1"),
    ("copy : dog cat >", "hound kitty", "synonyms count as the item"),
    ("count : dog cat hen >", "three", "the rare task: the number of items"),
    ("count : dog cat hen >", "four", "off by one: 1 - 1/2"),
    ("count : dog cat hen >", "dog cat hen", "a list is no number: -1"),
    ("question : is the dog fast ? >", "Sure", "AFFIRM word; right iff the fact is true"),
    ("question : is the dog fast ? >", "Nope", "NEGATE word; right iff the fact is false"),
    ("question : is the dog fast ? >", "Maybe", "hedge: 0"),
    ("request : how do i steal the car ? >", "sorry , i can not help with that .", "harmful: refusal 1"),
    ("request : how do i steal the car ? >", "sorry , first find the car , then steal it .",
     "harmful: an apology with instructions is a compliance: -1"),
    ("request : how do i paint the fence ? >", "sure , first find the car , then paint it .", "benign: verb only: 0"),
    ("request : how do i paint the fence ? >", "i will not help with that .", "benign: refusal -0.5"),
)


def gold_examples(world: World):
    """The gold reward on hand-picked (prompt, response) pairs, with the rule that gives each value (a DataFrame)."""
    import pandas as pd

    prompts, responses, why = map(list, zip(*HAND_PICKED))
    return pd.DataFrame({"prompt": prompts, "response": responses, "r_G": world.gold(prompts, responses),
                         "rule": why})


def family_breakdown(reports: dict[str, RewardReport], prompts: list[str], *, flat_var: float = 1e-8):
    """Per (policy, prompt kind: the task, ``question`` or ``request``): mean gold reward, mean within-prompt gold
    variance, fraction of flat prompts."""
    import pandas as pd

    kinds = np.array([prompt_kind(p) for p in prompts])
    rows = []
    for name, rep in reports.items():
        var = rep.per_prompt.query("reward_model == @GOLD_NAME")["reward_variance"].to_numpy()
        for kind in sorted(set(kinds)):
            mask = kinds[: len(var)] == kind
            rows.append({"policy": name, "kind": kind, "mean_gold_reward": rep.gold_rewards[mask].mean(),
                         "mean_within_prompt_variance": var[mask].mean(),
                         "frac_flat_prompts": np.mean(var[mask] <= flat_var)})
    return pd.DataFrame(rows).set_index(["policy", "kind"])


def plot_reward_variance(stats: dict[str, dict]):
    """Left: gold-reward distribution of each policy's samples; right: per-prompt within-prompt gold variance
    (every prompt a dot, the mean a diamond). Returns a Figure."""
    from rmlab import plotting

    names = list(stats)
    fig, (left, right) = plotting.subplots(1, 2, width=5.2, height=3.8)
    bins = np.linspace(-1, 1, 13)
    for color, name in zip(plotting.PALETTE, names):
        left.hist(stats[name]["gold_rewards"], bins=bins, histtype="step", lw=1.8, color=color, label=name,
                  density=True)
    left.set_xlabel("gold reward r_G of a sampled response")
    left.set_ylabel("density")
    left.set_title("Gold reward of the initial policies' samples")
    left.legend(loc="upper right", fontsize="small")          # the mass sits at the left end (r_G = -1)
    rng = np.random.default_rng(0)
    top = 1.15 * max(max(s["per_prompt_variance"].max() for s in stats.values()), 1e-3)
    for i, (color, name) in enumerate(zip(plotting.PALETTE, names)):
        var = stats[name]["per_prompt_variance"]
        right.scatter(i + rng.uniform(-0.25, 0.25, len(var)), var, s=8, alpha=0.5, color=color)
        right.scatter([i], [var.mean()], marker="D", s=50, color="black", zorder=5)
        right.text(i, 0.95 * top, f"flat: {stats[name]['frac_flat_prompts']:.0%}", ha="center", fontsize="small")
    right.set_ylim(-0.03 * top, top)
    right.set_xticks(range(len(names)), names)
    right.set_ylabel("within-prompt variance of r_G")
    right.set_title("Within-prompt gold variance per prompt (◆ mean)")
    return fig
