"""Implicit vs explicit reward models under token-level and domain shift on the toy world (arXiv 2507.07981 §5.2).

For each seed, an EX-RM (a new linear head on the backbone's last hidden state) and an IM-RM (``beta ln pi/pi_ref``
from the same backbone) are trained with :func:`rmlab.train.reward_model.train_reward_model` on the same
gold-labelled pairs, with the same optimiser, learning rate and number of epochs, and evaluated on:

* ``in-distribution``: the pairs of the training sets whose prompts were held out (a fixed split by prompt); the
  default trains on ``prefs_off_policy`` only, the pairs the token-level shift rewrites (pooled with the World v2
  on-policy pairs, 2808 pairs, batch 16, 540 or 1600 steps, the EX-RM reached only 0.58-0.60 held out);
* each named shift set (default: ``prefs_shift_synonyms``, the token-level shift, and ``prefs_domain_shift``), with
  the rows whose prompt was trained on left out (the synonym set rewrites the off-policy pairs, prompts unchanged,
  so only rewrites of held-out pairs count -- the paper rewrites its *test* pairs).

Metrics (:func:`rmlab.train.reward_model.evaluate_reward_model`): accuracy with ties counted ½ and the normalised
absolute reward margin. Seeds change the EX-RM head's initialisation and the batch order of both.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import datasets
import numpy as np
import pandas as pd

from rmlab import plotting
from rmlab._threads import single_torch_thread
from rmlab.lm.load import load_causal_lm, new_reward_model
from rmlab.train.reward_model import KINDS, RMConfig, evaluate_reward_model, train_reward_model

IN_DISTRIBUTION = "in-distribution"
# UltraFeedback-trained averages over the paper's models (papernotes; SECONDARY): (accuracy, normalised margin)
PAPER_UF_AVERAGES = {
    IN_DISTRIBUTION: {"explicit": (0.752, 1.014), "implicit": (0.646, 0.813)},
    "token-level shift": {"explicit": (0.665, 0.976), "implicit": (0.602, 0.763)},
    "domain shift": {"explicit": (0.621, 0.807), "implicit": (0.720, 0.726)},
}


@dataclass(frozen=True)
class ShiftGridConfig:
    """The grid: training sets, named evaluation sets (label, dataset name), seeds, and the shared RM training."""

    train_sets: tuple[str, ...] = ("prefs_off_policy",)
    eval_sets: tuple[tuple[str, str], ...] = (("token-level shift", "prefs_shift_synonyms"),
                                              ("domain shift", "prefs_domain_shift"))
    backbone: str = "base"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    held_out_fraction: float = 0.3
    beta: float = 0.01
    lr: float = 3e-4
    epochs: int = 5
    steps: int | None = None          # optimiser steps; when set, replaces epochs
    batch_size: int = 16

    def __post_init__(self):
        if not 0 < self.held_out_fraction < 1:
            raise ValueError(f"held_out_fraction must be in (0, 1), got {self.held_out_fraction}")
        if not self.train_sets or not self.seeds:
            raise ValueError("need at least one training set and one seed")


def _held_out(prompt: str, fraction: float) -> bool:
    """A fixed split by prompt (a hash, so the same prompt is on the same side in every dataset and run)."""
    return int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16) / 16 ** 8 < fraction


def split_pairs(world, config: ShiftGridConfig) -> tuple[datasets.Dataset, dict[str, datasets.Dataset]]:
    """The training pairs and the evaluation sets (label -> pairs) of the grid."""
    missing = [name for name in config.train_sets + tuple(n for _, n in config.eval_sets) if name not in
               world.datasets]
    if missing:
        raise KeyError(f"the world at {world.path} has no dataset {missing}; available: {sorted(world.datasets)}")
    columns = ["prompt", "chosen", "rejected"]
    pooled = datasets.concatenate_datasets([world.preferences(n).select_columns(columns) for n in config.train_sets])
    held = np.array([_held_out(p, config.held_out_fraction) for p in pooled["prompt"]])
    train = pooled.select(np.flatnonzero(~held))
    trained_prompts = set(train["prompt"])
    evals = {IN_DISTRIBUTION: pooled.select(np.flatnonzero(held))}
    for label, name in config.eval_sets:
        rows = world.preferences(name).select_columns(columns)
        evals[label] = rows.select([i for i, p in enumerate(rows["prompt"]) if p not in trained_prompts])
    return train, evals


def shift_grid(world, config: ShiftGridConfig = ShiftGridConfig(), *, progress=False) -> pd.DataFrame:
    """One row per (seed, kind, evaluation set): ``accuracy`` (ties ½), ``normalized_margin``, ``n_pairs``."""
    train, evals = split_pairs(world, config)
    backbone = str(world.models[config.backbone])
    rows = []
    with single_torch_thread():
        for seed in config.seeds:
            for kind in KINDS:
                model, tokenizer = new_reward_model(backbone, seed=seed) if kind == "explicit" else \
                    load_causal_lm(backbone)
                trained = train_reward_model(model, tokenizer, train, RMConfig(
                    kind=kind, beta=config.beta, lr=config.lr, epochs=config.epochs, steps=config.steps,
                    batch_size=config.batch_size, seed=seed), progress=progress)
                for label, pairs in evals.items():
                    metrics = evaluate_reward_model(trained.reward, pairs)
                    rows.append({"seed": seed, "kind": kind, "eval_set": label, "n_pairs": len(pairs),
                                 "accuracy": metrics["accuracy"], "normalized_margin": metrics["normalized_margin"]})
    table = pd.DataFrame(rows)
    table.attrs["config"] = asdict(config)
    table.attrs["n_train_pairs"] = len(train)
    return table


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of accuracy and margin, per evaluation set and kind."""
    return table.groupby(["eval_set", "kind"], sort=False)[["accuracy", "normalized_margin"]].agg(["mean", "std"])


def per_seed_gap(table: pd.DataFrame, eval_set: str) -> pd.Series:
    """EX-RM minus IM-RM accuracy on ``eval_set``, per seed."""
    wide = table[table.eval_set == eval_set].pivot(index="seed", columns="kind", values="accuracy")
    return wide["explicit"] - wide["implicit"]


def plot_shift_grid(table: pd.DataFrame, paper: dict = PAPER_UF_AVERAGES):
    """Accuracy (left) and normalised margin (right) per evaluation set, EX-RM vs IM-RM: mean ± std over seeds
    (bars, seeds as dots), beside the paper's UltraFeedback averages (hatched; same order of sets)."""
    fig, axes = plotting.subplots(1, 2, width=5.6, height=3.6)
    labels = list(dict.fromkeys(table.eval_set))
    colors = dict(zip(KINDS, plotting.PALETTE))
    x = np.arange(len(labels))
    for ax, metric, index in ((axes[0], "accuracy", 0), (axes[1], "normalized_margin", 1)):
        for i, kind in enumerate(KINDS):
            sub = table[table.kind == kind].groupby("eval_set", sort=False)[metric]
            mean, std = sub.mean().reindex(labels), sub.std().reindex(labels)
            pos = x + (i - 1.5) * 0.2
            ax.bar(pos, mean, 0.2, yerr=std, color=colors[kind], capsize=3, label=f"{kind} (toy world)")
            for j, label in enumerate(labels):
                values = table[(table.kind == kind) & (table.eval_set == label)][metric]
                ax.plot(np.full(len(values), pos[j]), values, "k.", ms=3)
            paper_values = [paper[label][kind][index] if label in paper else np.nan for label in labels]
            ax.bar(x + (i + 0.5) * 0.2, paper_values, 0.2, color=colors[kind], alpha=0.35, hatch="//",
                   label=f"{kind} (paper, UltraFeedback avg.)")
        ax.set_xticks(x, labels, fontsize=8)
        ax.set(ylabel=metric.replace("_", " "), title=metric.replace("_", " ").capitalize())
    axes[0].axhline(0.5, color="0.4", lw=0.8, ls=":")
    axes[0].set_ylim(0, 1.3)
    axes[0].legend(fontsize=7, loc="upper center", ncol=2)
    return fig
