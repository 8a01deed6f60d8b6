"""The language-model side of arXiv 2310.20703: per-prompt reward statistics under a policy, and the finetuning
methods the paper compares, all on :mod:`rmlab.train` (RLOO/GRPO of :mod:`rmlab.train.pg`, SFT of
:mod:`rmlab.train.sft`).

* :func:`prompt_reward_stats`: the mean and std of the reward over ``k`` samples of the policy per prompt (the
  paper's Fig. 1 recipe: 10 samples per input; the official code does not say which std estimator it plots, here the
  unbiased one by default, as :func:`rmlab.measure.variance.per_prompt_variance`).
* :func:`run_method`: ``"rft"`` (RL from the policy as it is), ``"sft"`` (supervised on demonstrations), or
  ``"sft_rft"`` (SFT, then RL); with ``sft_fraction`` / ``sft_step_fraction`` < 1 the SFT phase is *partial*: it sees
  a seeded random ``sft_fraction`` of the prompts (:func:`sft_subset`; of each prompt family with ``sft_groups``)
  for ``sft_step_fraction`` of the full SFT run's steps (§5.2 of the paper: "SFT on as few as 1 % of the inputs").

Both run torch on one thread (:func:`rmlab._threads.single_torch_thread`): these tiny models run several times
faster so on a shared CPU, and a fixed thread count makes a run repeat bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from rmlab._threads import single_torch_thread
from rmlab.errors import UserError
from rmlab.lm.reward_spec import RewardFn, score_rewards
from rmlab.lm.sample import sample_responses
from rmlab.measure.variance import per_prompt_mean, per_prompt_variance
from rmlab.train.loop import EpochBatches
from rmlab.train.pg import PGConfig, PGResult, train_pg
from rmlab.train.sft import SFTConfig, SFTResult, train_sft

METHODS = ("rft", "sft", "sft_rft")


@dataclass
class PromptRewardStats:
    """``rewards [n, k]``: the reward of each of ``k`` samples per prompt; ``mean [n]`` and ``std [n]`` per prompt."""

    rewards: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def prompt_reward_stats(policy, tokenizer, prompts: list[str], reward_fn: RewardFn, *, k: int = 10,
                        max_new_tokens: int = 16, temperature: float = 1.0, seed: int = 0, ddof: int = 1,
                        batch_size: int = 64, chat_template: bool = False, name: str = "reward",
                        progress=False) -> PromptRewardStats:
    """Sample ``k`` responses per prompt from ``policy`` (:func:`rmlab.lm.sample.sample_responses`, seeded per
    (prompt position, sample): the same whatever the batching) and return the per-prompt reward mean and std
    (``ddof`` 1: unbiased, 0: population)."""
    prompts = list(prompts)
    if not prompts:
        raise UserError("no prompts to measure")
    if k < 2:
        raise UserError(f"k must be >= 2 to estimate a std, got {k}")
    with single_torch_thread():
        samples = sample_responses(policy, tokenizer, prompts, k, max_new_tokens=max_new_tokens,
                                   temperature=temperature, seed=seed, batch_size=batch_size,
                                   chat_template=chat_template, progress=progress)
    flat = score_rewards(name, reward_fn, [p for p in prompts for _ in range(k)],
                         [r for group in samples for r in group])
    rewards = flat.reshape(len(prompts), k)
    return PromptRewardStats(rewards=rewards, mean=per_prompt_mean(rewards),
                             std=np.sqrt(per_prompt_variance(rewards, ddof=ddof)))


def sft_subset(n_prompts: int, fraction: float, seed: int, *, groups: Sequence | None = None) -> list[int]:
    """A seeded random ``fraction`` of ``range(n_prompts)``, sorted, drawn per group: ``groups[i]`` names the group
    (task, prompt family) of prompt ``i``, and each group of ``n_g`` prompts contributes
    ``max(1, round(fraction * n_g))`` of them (Python's ``round``: halves to even), so every group is represented.
    This is the paper's partial SFT run on a mix of tasks: there each GRUE task is its own experiment and
    ``frac_train_samples`` takes a fraction of *that task's* inputs. Without ``groups`` all prompts form one group:
    a uniform draw of ``max(1, round(fraction * n_prompts))`` (1 % of 60 prompts is 0.6 of a prompt: one prompt).

    >>> families = ["sort"] * 6 + ["count"] * 2 + ["reverse"] * 4
    >>> subset = sft_subset(12, 0.25, seed=0, groups=families)
    >>> sorted(families[i] for i in subset), subset == sft_subset(12, 0.25, seed=0, groups=families)
    (['count', 'reverse', 'sort', 'sort'], True)
    >>> len(sft_subset(200, 0.01, seed=1))
    2
    """
    if n_prompts < 1:
        raise UserError(f"need at least one prompt to draw an SFT subset from, got n_prompts={n_prompts!r}")
    if not 0 < fraction <= 1:
        raise UserError(f"sft_fraction must be in (0, 1], got {fraction!r}")
    groups = np.zeros(n_prompts, dtype=int) if groups is None else np.asarray(list(groups))
    if len(groups) != n_prompts:
        raise UserError(f"{len(groups)} SFT groups for {n_prompts} prompts: give one group per prompt")
    rng = np.random.default_rng(seed)
    subset = []
    for group in sorted(set(groups.tolist())):
        members = np.flatnonzero(groups == group)
        count = max(1, round(fraction * len(members)))
        subset += members[rng.permutation(len(members))[:count]].tolist()
    return sorted(subset)


@dataclass
class MethodRun:
    """What :func:`run_method` did: the indices of the prompts SFT saw (empty for RFT) and each phase's result."""

    method: str
    sft_prompts: list[int]
    sft: SFTResult | None
    rft: PGResult | None


def run_method(method: str, policy, tokenizer, prompts: list[str], demonstrations: list[str], reward_fn: RewardFn,
               *, rft: PGConfig, sft: SFTConfig, sft_fraction: float = 1.0, sft_step_fraction: float = 1.0,
               sft_groups: Sequence | None = None, gold_fn: RewardFn | None = None, chat_template: bool = False,
               progress=False) -> MethodRun:
    """Finetune ``policy`` in place by ``method`` (``"rft"``, ``"sft"`` or ``"sft_rft"``) on ``prompts``;
    ``demonstrations[i]`` is the SFT target of ``prompts[i]``, ``reward_fn`` the RL reward (``gold_fn``, if given,
    is logged). The SFT phase trains on :func:`sft_subset` (``sft_fraction`` of each group of ``sft_groups``, e.g.
    the prompt families, or of all prompts without it; seeded by ``sft.seed``) for
    ``sft_step_fraction`` of the steps that ``sft`` would take on all the prompts; RL then runs on all prompts."""
    if method not in METHODS:
        raise UserError(f"method must be one of {METHODS}, got {method!r}")
    prompts, demonstrations = list(prompts), list(demonstrations)
    if len(prompts) != len(demonstrations):
        raise UserError(f"{len(prompts)} prompts but {len(demonstrations)} demonstrations")
    if not 0 < sft_step_fraction <= 1:
        raise UserError(f"sft_step_fraction must be in (0, 1], got {sft_step_fraction!r}")
    subset, sft_result, rft_result = [], None, None
    with single_torch_thread():
        if method != "rft":
            subset = sft_subset(len(prompts), sft_fraction, sft.seed, groups=sft_groups)
            full_steps = sft.steps or EpochBatches(len(prompts), sft.batch_size).steps(epochs=sft.epochs)
            sft_result = train_sft(policy, tokenizer, [prompts[i] for i in subset],
                                   [demonstrations[i] for i in subset],
                                   replace(sft, steps=max(1, round(sft_step_fraction * full_steps))),
                                   chat_template=chat_template, progress=progress)
        if method != "sft":
            rft_result = train_pg(policy, tokenizer, prompts, reward_fn, rft, gold_fn=gold_fn,
                                  chat_template=chat_template, progress=progress)
    return MethodRun(method=method, sft_prompts=subset, sft=sft_result, rft=rft_result)


def flat_and_far(stats: PromptRewardStats, *, best: float, std_eps: float, min_gap: float) -> np.ndarray:
    """Prompts whose reward is *flat* (std at most ``std_eps``) and *far* from optimal (mean at least ``min_gap``
    below ``best``), where Thm 1 says RFT cannot move: ``[n]`` bool."""
    return (stats.std <= std_eps) & (best - stats.mean >= min_gap)


def unit_interval(reward, *, low: float, high: float):
    """A reward in ``[low, high]`` mapped affinely to ``[0, 1]`` (the range of the paper's GRUE metrics, so that
    "a quarter / half / 90 % of a reward" has the paper's meaning)."""
    return (np.asarray(reward, dtype=np.float64) - low) / (high - low)


def pearson(x, y) -> float:
    """Pearson correlation of two equal-length samples; NaN when either is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def family_summary(families: list[str], initial: PromptRewardStats, after: dict[str, PromptRewardStats], *,
                   std_eps: float) -> dict[str, dict[str, float]]:
    """Per prompt family: its size, the fraction of prompts with reward std at most ``std_eps`` before
    (``frac_near_zero_std``) and after each method (``frac_near_zero_std_<method>``: a solved prompt, answered right
    every time, counts too), the 10th percentile of the initial std (``std_p10``, the paper's Table 1 statistic), and
    each method's mean reward gain (``gain_<method>``), plus ``rft_minus_sft`` when both were run."""
    families = np.asarray(families)
    out = {}
    for family in sorted(set(families.tolist())):
        rows = families == family
        entry = {"n": int(rows.sum()), "frac_near_zero_std": float((initial.std[rows] <= std_eps).mean()),
                 "std_p10": float(np.percentile(initial.std[rows], 10))}
        entry |= {f"frac_near_zero_std_{method}": float((stats.std[rows] <= std_eps).mean())
                  for method, stats in after.items()}
        entry |= {f"gain_{method}": float((stats.mean[rows] - initial.mean[rows]).mean())
                  for method, stats in after.items()}
        if {"rft", "sft"} <= set(after):
            entry["rft_minus_sft"] = entry["gain_rft"] - entry["gain_sft"]
        out[family] = entry
    return out


def family_std_gap_correlation(summary: dict[str, dict[str, float]]) -> float:
    """Pearson, over the prompt families of :func:`family_summary`, between the 10th percentile of the initial
    reward std and RFT's gain minus SFT's: the paper's Table 1 reading (families with more near-flat prompts lose more
    under RFT) would make it positive. NaN with fewer than two families or a constant column."""
    return pearson([entry["std_p10"] for entry in summary.values()],
                   [entry["rft_minus_sft"] for entry in summary.values()])
