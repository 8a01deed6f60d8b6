"""Unintentional unalignment (arXiv 2410.08847 §6): DPO on pairs of two refusals (or two compliances) lowers the
refusal rate, because the pairs whose responses are similar displace the preferred response; an SFT term, gold
pairs, or keeping only the lowest-LN-CHES pairs prevent it.

A *judge* is any callable ``response text -> bool`` (True = refusal), e.g. :func:`rmlab.world.is_refusal`. Refusal
rates are measured as the paper does: samples at temperature 0.7 (top-k / top-p off), one per prompt unless told.

Deviations from the paper, stated: the paper's judge is a fine-tuned Mistral-7B; here it is the caller's callable.
The paper reports the training-set change of ln pi(y+|x) (Table 16) over the training pairs; here every variant is
scored on the same full training set, whatever subset it was trained on.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pandas as pd
from rmlab._headless import tqdm
from sklearn.metrics import roc_auc_score

from rmlab.errors import UserError
from rmlab.lm.data import load_preferences
from rmlab.lm.sample import sample_responses
from rmlab.lm.score import sequence_logprobs
from rmlab.train.dpo import DPOConfig, train_dpo

PAIR_TYPES = ("two_refusals", "two_compliances", "one_each")
REFUSAL_SAMPLING_TEMPERATURE = 0.7     # 2410.08847 §6 evaluates refusal on samples at temperature 0.7


def refusal_rate(policy, tokenizer, prompts, judge, *, samples: int = 1,
                 temperature: float = REFUSAL_SAMPLING_TEMPERATURE, max_new_tokens: int = 32, seed: int = 0,
                 batch_size: int = 32) -> float:
    """Fraction of ``samples`` responses per prompt (seeded, plain sampling) that ``judge`` calls a refusal."""
    if not prompts:
        raise UserError("no prompts to measure a refusal rate on")
    responses = sample_responses(policy, tokenizer, list(prompts), samples, max_new_tokens=max_new_tokens,
                                 temperature=temperature, seed=seed, batch_size=batch_size, progress=False)
    return float(np.mean([judge(r) for group in responses for r in group]))


def gold_refusal_pairs(policy, tokenizer, prompts, judge, *, samples: int = 8, temperature: float = 1.0,
                       max_new_tokens: int = 32, seed: int = 0, batch_size: int = 32) -> list[dict]:
    """The paper's "gold" pairs: per prompt, a refusal preferred to a compliance, both among ``samples`` samples of
    ``policy`` (the first of each kind); prompts whose samples lack either kind are dropped, as the paper drops the
    SORRY-Bench prompts without both human judgments."""
    responses = sample_responses(policy, tokenizer, list(prompts), samples, max_new_tokens=max_new_tokens,
                                 temperature=temperature, seed=seed, batch_size=batch_size, progress=False)
    rows = []
    for prompt, group in zip(prompts, responses):
        refusals = [r for r in group if judge(r)]
        compliances = [r for r in group if not judge(r) and r.strip()]
        if refusals and compliances:
            rows.append({"prompt": prompt, "chosen": refusals[0], "rejected": compliances[0]})
    return rows


def pair_types(preferences, judge) -> np.ndarray:
    """Per pair: ``two_refusals``, ``two_compliances`` or ``one_each`` (Fig. 4 of the paper)."""
    preferences = load_preferences(preferences)
    refused = np.array([[judge(c), judge(r)] for c, r in zip(preferences["chosen"], preferences["rejected"])])
    return np.where(refused.all(axis=1), "two_refusals", np.where(~refused.any(axis=1), "two_compliances",
                                                                   "one_each"))


def one_each_auroc(types: np.ndarray, ln_ches) -> float:
    """How well a *low* LN-CHES singles out the one-of-each pairs among all pairs (AUROC; the paper's Fig. 4 claim:
    LN-CHES ranks same-type pairs above one-of-each pairs)."""
    one_each = np.asarray(types) == "one_each"
    if one_each.all() or not one_each.any():
        return float("nan")
    return float(roc_auc_score(one_each, -np.asarray(ln_ches, dtype=np.float64)))


def lowest_fraction(scores, fraction: float) -> np.ndarray:
    """Indices of the ``ceil(fraction * n)`` lowest ``scores``, in their original order (ties: earlier first); the
    paper keeps the 5 % lowest-LN-CHES pairs (19 of 370), footnote 9 up to 15 %."""
    scores = np.asarray(scores, dtype=np.float64)
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"fraction must be in (0, 1], got {fraction}")
    keep = int(np.ceil(fraction * len(scores)))
    return np.sort(np.argsort(scores, kind="stable")[:keep])


def unalignment_runs(policy, tokenizer, variants: dict, *, train_preferences, train_prompts, test_prompts, judge,
                     seeds=(0, 1, 2), refusal_samples: int = 1, max_new_tokens: int = 32,
                     progress: bool = True) -> pd.DataFrame:
    """One DPO run per (variant, seed) from a copy of ``policy`` (itself the frozen reference, unchanged).

    variants: ``{name: (preferences, DPOConfig)}`` -- e.g. plain DPO, DPO + SFT term, gold pairs, the lowest-LN-CHES
    subset. Each run's seed replaces its config's. Returns one row per run plus an ``initial`` row: ``variant,
    seed, train_refusal, test_refusal, delta_logp_chosen`` (mean change of ln pi(y+|x) over ``train_preferences``,
    the same pairs for every variant; 0 for ``initial``) and ``delta_logp_own`` (the same over the variant's own
    training pairs, which the paper's Table 16 may mean: they differ for gold pairs and subsets).
    """
    measure = dict(judge=judge, samples=refusal_samples, max_new_tokens=max_new_tokens)
    rows = [{"variant": "initial", "seed": None, "train_refusal": refusal_rate(policy, tokenizer, train_prompts,
                                                                                **measure),
             "test_refusal": refusal_rate(policy, tokenizer, test_prompts, **measure), "delta_logp_chosen": 0.0,
             "delta_logp_own": 0.0}]
    shared = load_preferences(train_preferences)
    shared_before, own_before = _chosen_logprobs(policy, tokenizer, shared), {}
    runs = [(name, seed) for name in variants for seed in seeds]
    for name, seed in tqdm(runs, desc="unalignment runs", disable=not progress):
        preferences, config = variants[name]
        if not isinstance(config, DPOConfig):
            raise UserError(f"variant {name!r}: expected (preferences, DPOConfig), got a {type(config).__name__}")
        own = load_preferences(preferences)
        if name not in own_before:
            own_before[name] = _chosen_logprobs(policy, tokenizer, own)
        model = copy.deepcopy(policy)
        train_dpo(model, tokenizer, own, replace(config, seed=seed), reference=policy, progress=False)
        changes = [float(np.mean(_chosen_logprobs(model, tokenizer, pairs) - start))
                   for pairs, start in ((shared, shared_before), (own, own_before[name]))]
        rows.append({"variant": name, "seed": seed,
                     "train_refusal": refusal_rate(model, tokenizer, train_prompts, **measure, seed=seed),
                     "test_refusal": refusal_rate(model, tokenizer, test_prompts, **measure, seed=seed),
                     "delta_logp_chosen": changes[0], "delta_logp_own": changes[1]})
    return pd.DataFrame(rows)


def _chosen_logprobs(model, tokenizer, preferences) -> np.ndarray:
    return sequence_logprobs(model, tokenizer, preferences["prompt"], preferences["chosen"])["logprob_sum"]


RUN_METRICS = ("train_refusal", "test_refusal", "delta_logp_chosen", "delta_logp_own")


def refusal_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per variant (in run order): mean, min and max over the seeds of each of :data:`RUN_METRICS` that ``runs``
    has (columns ``(metric, statistic)``)."""
    return runs.groupby("variant", sort=False)[[m for m in RUN_METRICS if m in runs]].agg(["mean", "min", "max"])


def plot_refusal_rates(table: pd.DataFrame, title: str | None = None):
    """The paper's Figure 3 / 8: training and test refusal rate per variant of :func:`refusal_table`, bars at the
    mean over the seeds, error bars from min to max."""
    from rmlab import plotting

    fig, ax = plotting.subplots(width=7.5, height=3.6)
    x = np.arange(len(table))
    for offset, split in ((-0.2, "train_refusal"), (0.2, "test_refusal")):
        mean, lo, hi = (table[split][c].to_numpy() for c in ("mean", "min", "max"))
        ax.bar(x + offset, 100 * mean, width=0.4, yerr=[100 * (mean - lo), 100 * (hi - mean)], capsize=3,
               label=split.replace("_", " "))
    ax.set_xticks(x, list(table.index), rotation=20, ha="right")
    ax.set(ylabel="refusal rate (%)", ylim=(0, 100), title=title)
    ax.legend()
    return fig
