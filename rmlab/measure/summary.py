"""The reward report's statistics from reward arrays alone (no model): per reward model, the variance metrics of
arXiv 2503.15477 §4.4, on/off-policy accuracy and the teacher score (:mod:`rmlab.measure.teacher`; needs the gold
reward), each with a bootstrap CI over prompts (:func:`summarize`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from rmlab.measure import variance as V
from rmlab.measure.accuracy import nanmean_last, on_policy_accuracy_per_prompt
from rmlab.measure.bootstrap import DEFAULT_RESAMPLES, bootstrap_ci
from rmlab.measure.teacher import teacher_score

METRICS = ("reward_variance", "whitened_reward_variance", "within_prompt_variance", "between_prompt_variance",
           "total_variance", "frac_zero_variance", "teacher_score", "on_policy_accuracy", "off_policy_accuracy")


def _variance_metrics(*, zero_std_atol: float) -> dict[str, Callable]:
    """Statistic functions of [..., n, k] rewards, one per variance metric (vectorised for the bootstrap)."""
    return {
        "reward_variance": V.reward_variance,
        "whitened_reward_variance": V.whitened_reward_variance,
        "within_prompt_variance": lambda r: V.variance_decomposition(r).within_prompt,
        "between_prompt_variance": lambda r: V.variance_decomposition(r).between_prompt,
        "total_variance": lambda r: V.variance_decomposition(r).total,
        "frac_zero_variance": lambda r: V.frac_zero_variance(r, atol=zero_std_atol),
    }


def summarize(rewards: dict[str, np.ndarray], gold_rewards: np.ndarray | None = None,
              preference_credit: dict[str, np.ndarray] | None = None, *, n_bootstrap: int = DEFAULT_RESAMPLES,
              seed: int = 0, ties: str = "paper", zero_std_atol: float = V.ZERO_STD_ATOL):
    """The report's statistics from reward arrays alone (no model): ``(summary, per_prompt, gold_summary)``.

    rewards: ``{name: [n, k]}`` on the same samples; gold_rewards: ``[n, k]`` or None; preference_credit:
    ``{name: [n_pairs]}`` per-pair credits from ``rmlab.measure.accuracy.preference_correct`` or None.
    """
    records, per_prompt = {}, []
    for name, R in rewards.items():
        record = {}
        for metric, stat in _variance_metrics(zero_std_atol=zero_std_atol).items():
            record[metric] = float(stat(R))
            record[f"{metric}_ci_low"], record[f"{metric}_ci_high"] = bootstrap_ci(stat, R, n_resamples=n_bootstrap,
                                                                                   seed=seed)
        if gold_rewards is None:
            record["teacher_score"] = record["teacher_score_ci_low"] = record["teacher_score_ci_high"] = float("nan")
        else:
            record["teacher_score"] = float(teacher_score(R, gold_rewards))
            record["teacher_score_ci_low"], record["teacher_score_ci_high"] = bootstrap_ci(
                teacher_score, R, gold_rewards, n_resamples=n_bootstrap, seed=seed)
        accuracy = (on_policy_accuracy_per_prompt(R, gold_rewards, ties=ties) if gold_rewards is not None
                    else np.full(R.shape[0], np.nan))
        credit = None if preference_credit is None else preference_credit[name]
        for metric, values in (("on_policy_accuracy", accuracy), ("off_policy_accuracy", credit)):
            if values is None or np.all(np.isnan(values)):
                record[metric] = record[f"{metric}_ci_low"] = record[f"{metric}_ci_high"] = float("nan")
                continue
            record[metric] = float(nanmean_last(values))
            record[f"{metric}_ci_low"], record[f"{metric}_ci_high"] = bootstrap_ci(nanmean_last, values,
                                                                                   n_resamples=n_bootstrap, seed=seed)
        records[name] = record
        per_prompt.append(pd.DataFrame({
            "reward_model": name, "prompt_index": np.arange(R.shape[0]), "reward_mean": V.per_prompt_mean(R),
            "reward_variance": V.per_prompt_variance(R), "whitened_reward_variance": V.per_prompt_whitened_variance(R),
            "on_policy_accuracy": accuracy}))
    columns = [c for m in METRICS for c in (m, f"{m}_ci_low", f"{m}_ci_high")]
    summary = pd.DataFrame.from_dict(records, orient="index")[columns]
    summary.index.name = "reward_model"
    gold_summary = None
    if gold_rewards is not None:
        stats = _variance_metrics(zero_std_atol=zero_std_atol)
        gold_summary = {metric: float(stat(gold_rewards)) for metric, stat in stats.items()}
        gold_summary["ci95"] = {metric: list(bootstrap_ci(stat, gold_rewards, n_resamples=n_bootstrap, seed=seed))
                                for metric, stat in stats.items()}
    return summary, pd.concat(per_prompt, ignore_index=True), gold_summary
