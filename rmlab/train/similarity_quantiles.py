"""Which preference pairs displace ln pi(y+|x) under DPO? The similarity-quantile experiment of arXiv 2410.08847 §5
(Fig. 2): rank a pool of pairs by a similarity measure, take a window of consecutive pairs around each quantile
(:func:`rmlab.measure.ches.quantile_window`, the official ``__quantile_slice``), run one epoch of DPO on each window
from the same initial policy, and record the window's mean change of ln pi(y+|x) and ln pi(y-|x).

The paper's claim: under CHES the change falls monotonically with the quantile (the most similar pairs displace the
preferred response), while the edit distance and the last-hidden inner product do not rank it.

Deviations from the official runs, stated: the window holds ``window`` pairs (512 in the paper) and the seeds only
change the batch order (the paper's runs differ by their random seed in the same way); reference log-probs are
precomputed (:mod:`rmlab.train.dpo`).
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pandas as pd
from rmlab._headless import tqdm
from scipy import stats

from rmlab.errors import UserError
from rmlab.lm.data import load_preferences
from rmlab.measure.ches import quantile_window
from rmlab.train.dpo import DPOConfig, train_dpo

# similarity measure -> how it is read from rmlab.lm.ches.ches_scores' columns (higher = more similar)
SIMILARITY_MEASURES = {
    "ches": lambda scores: scores["ches"],
    "minus_edit_distance": lambda scores: -scores["edit_distance"],
    "last_hidden_inner_product": lambda scores: scores["last_hidden_inner_product"],
}
QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)


def logprob_changes(result) -> pd.DataFrame:
    """Per tracked pair of a :func:`~rmlab.train.dpo.train_dpo` result: ``delta_logp_chosen`` /
    ``delta_logp_rejected``, from the first record (step 0) to the last."""
    tracking = pd.DataFrame(result.tracking)
    first = tracking[tracking.step == tracking.step.min()].set_index("index")
    last = tracking[tracking.step == tracking.step.max()].set_index("index")
    return pd.DataFrame({"delta_logp_chosen": last.logp_chosen - first.logp_chosen,
                         "delta_logp_rejected": last.logp_rejected - first.logp_rejected})


def quantile_dpo_runs(policy, tokenizer, preferences, scores: pd.DataFrame, config: DPOConfig, *, window: int,
                      seeds=(0, 1, 2), quantiles=QUANTILES, measures=tuple(SIMILARITY_MEASURES),
                      progress: bool = True) -> pd.DataFrame:
    """One DPO run (``config``, its seed replaced) from a copy of ``policy`` per (measure, quantile, seed), on the
    ``window`` pairs around that quantile of the measure; ``policy`` itself is the frozen reference and is not
    changed. ``scores``: :func:`rmlab.lm.ches.ches_scores` of ``preferences`` under ``policy`` (one row per pair,
    in order).

    Returns one row per run: ``measure, quantile, seed, delta_logp_chosen, delta_logp_rejected`` (window means),
    ``window_score_mean`` (the measure's mean over the window).
    """
    preferences = load_preferences(preferences)
    if len(scores) != len(preferences):
        raise UserError(f"scores has {len(scores)} rows for {len(preferences)} preference pairs")
    unknown = sorted(set(measures) - set(SIMILARITY_MEASURES))
    if unknown:
        raise UserError(f"unknown similarity measure(s) {unknown}; known: {sorted(SIMILARITY_MEASURES)}")
    runs = [(m, q, s) for m in measures for q in quantiles for s in seeds]
    rows = []
    for measure, q, seed in tqdm(runs, desc="quantile DPO runs", disable=not progress):
        values = np.asarray(SIMILARITY_MEASURES[measure](scores), dtype=np.float64)
        subset = quantile_window(values, q, window)
        model = copy.deepcopy(policy)
        result = train_dpo(model, tokenizer, preferences.select(subset), replace(config, seed=seed),
                           reference=policy, progress=False)
        changes = logprob_changes(result).mean()
        rows.append({"measure": measure, "quantile": q, "seed": seed, **changes.to_dict(),
                     "window_score_mean": float(values[subset].mean())})
    return pd.DataFrame(rows)


def quantile_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per measure and quantile: mean, min and max over seeds of the window's mean Δ ln pi(y+|x) (the figure's
    points and bars)."""
    return (runs.groupby(["measure", "quantile"]).delta_logp_chosen.agg(["mean", "min", "max"]).reset_index())


def quantile_spearman(runs: pd.DataFrame) -> dict[str, float]:
    """Per measure: Spearman correlation between the quantile and the seed-mean Δ ln pi(y+|x) (paper: CHES -> -1)."""
    summary = quantile_summary(runs)
    # over a handful of points Spearman is a simple fraction (e.g. -0.9 = 1 - 6*38/120): rounding removes the float
    # noise (-0.8999999999999998) that would otherwise decide a comparison with that fraction
    return {measure: round(float(stats.spearmanr(group["quantile"], group["mean"]).statistic), 12)
            for measure, group in summary.groupby("measure", sort=False)}


def check_window_checklist(record, summary: pd.DataFrame, spearman: dict[str, float], *, label: str = "",
                           quick_relaxed: dict[str, str] | None = None) -> None:
    """The reproduction checklist's Figure 2 criteria on one :func:`quantile_summary` / :func:`quantile_spearman`
    pair, on ``record`` (a :class:`rmlab.figures.FigureRecord`; ``label`` closes each name in brackets): Spearman
    exactly -1 for CHES (``<= -0.95`` over five windows), the lowest-CHES window raising ln pi(y+) and the highest
    lowering it, and every baseline ranking poorly (Spearman > -0.6). ``quick_relaxed``: the reason per criterion,
    keyed ``"ches"``, ``"lowest"``, ``"highest"`` or a baseline measure."""
    relaxed = quick_relaxed or {}
    suffix = f" ({label})" if label else ""
    ches = summary[summary.measure == "ches"].set_index("quantile")["mean"]
    record.check(f"checklist: Spearman(CHES percentile, mean Δ ln π(y+)) is -1{suffix}", spearman["ches"], "<=", -0.95,
                 quick_relaxed=relaxed.get("ches"))
    record.check(f"checklist: mean Δ ln π(y+), lowest-CHES window{suffix}", ches.iloc[0], ">", 0.0,
                 quick_relaxed=relaxed.get("lowest"))
    record.check(f"checklist: mean Δ ln π(y+), highest-CHES window{suffix}", ches.iloc[-1], "<", 0.0,
                 quick_relaxed=relaxed.get("highest"))
    for measure in SIMILARITY_MEASURES:
        if measure != "ches":
            record.check(f"checklist: Spearman({measure} percentile, mean Δ ln π(y+)){suffix}", spearman[measure],
                         ">", -0.6, quick_relaxed=relaxed.get(measure))


MEASURE_LABELS = {"ches": "CHES", "minus_edit_distance": "− normalised edit distance",
                  "last_hidden_inner_product": "last-hidden inner product"}


def plot_quantile_windows(summary: pd.DataFrame, spearman: dict[str, float], title: str | None = None):
    """The paper's Figure 2: per similarity measure, the mean change of ln pi(y+|x) after one epoch on each quantile
    window (:func:`quantile_summary`; bars from the seeds' min to max), with :func:`quantile_spearman` in the title."""
    from rmlab import plotting

    measures = [m for m in SIMILARITY_MEASURES if m in set(summary.measure)]
    fig, axes = plotting.subplots(1, len(measures), width=3.6, sharey=True, squeeze=False)
    for ax, measure in zip(axes[0], measures):
        s = summary[summary.measure == measure]
        ax.errorbar(100 * s["quantile"], s["mean"], yerr=[s["mean"] - s["min"], s["max"] - s["mean"]], marker="o",
                    capsize=3)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(title=f"{MEASURE_LABELS[measure]}\nSpearman {spearman[measure]:+.2f}", xlabel="similarity percentile")
    axes[0, 0].set_ylabel("mean change of ln π(y⁺|x) after 1 epoch")
    if title:
        fig.suptitle(title)
    return fig
