"""Figure of the implicit-vs-explicit learning dynamics (arXiv 2507.07981 §4, :mod:`rmlab.theory.token_cues`)."""

from __future__ import annotations

import numpy as np

from rmlab import plotting
from rmlab.theory import token_cues as T

LABELS = {"explicit": "EX-RM (linear head on h)", "implicit": "IM-RM (β ln π/π_ref)"}


def plot_token_cues(run: T.TokenCuesRun):
    """Left: accuracy (ties ½) on the training pairs and on unseen-token pairs of unseen prompts, along training.
    Middle: the largest |reward difference| on the unseen pairs (the IM-RM's stays exactly 0: drawn at the bottom).
    Right: one gradient step on (x, y+, y-): the reward change of seen and unseen answers on x, each RM's change
    divided by its change on y+ (EX-RM exact, IM-RM first order through the token coefficients rho)."""
    fig, (ax_acc, ax_diff, ax_step) = plotting.subplots(1, 3, width=4.4, height=3.5)
    colors = dict(zip(T.KINDS, plotting.PALETTE))
    for kind in T.KINDS:
        ax_acc.plot(run.steps, run.accuracy[kind]["train"], "--", color=colors[kind], label=f"{LABELS[kind]}, train")
        ax_acc.plot(run.steps, run.accuracy[kind]["unseen"], "-", color=colors[kind], lw=2,
                    label=f"{LABELS[kind]}, unseen tokens")
        ax_diff.plot(run.steps, run.max_unseen_difference[kind], color=colors[kind], lw=2, label=LABELS[kind])
    ax_acc.set(xlabel="Adam step", ylabel="accuracy (ties ½)", ylim=(0.4, 1.05),
               title=f"Thm 2: single tokens (alignment {run.config.alignment:.2f})")
    ax_acc.legend(fontsize=7, loc="center right")
    ax_diff.set_yscale("symlog", linthresh=1e-3)
    ax_diff.set(xlabel="Adam step", ylabel="max |r(x, a) − r(x, b)|, unseen pairs",
                title=f"IM-RM unseen differences: exactly 0 (β = {run.config.beta})")
    ax_diff.legend(fontsize=7)
    probes = list(run.one_step)
    x = np.arange(len(probes))
    for i, kind in enumerate(T.KINDS):
        changes = np.array([run.one_step[p][kind] for p in probes])
        ax_step.bar(x + (i - 0.5) * 0.38, changes / abs(changes[0]), width=0.38, color=colors[kind],
                    label=LABELS[kind])
    ax_step.axhline(0, color="0.3", lw=0.8)
    ax_step.set_xticks(x, [p.replace("unseen synonym", "synonym") for p in probes], fontsize=8)
    ax_step.set(ylabel="Δr / |Δr(y+)| after one step", title="One step on (x, y+, y−)")
    ax_step.legend(fontsize=7)
    return fig


def token_cues_explorer(alignment: float = 0.8, unembedding_similarity: float = 0.5, log10_lr: float = -1.3,
                        seed: int = 0):
    """Train both RMs on the instance with these knobs and draw :func:`plot_token_cues` (for the sliders)."""
    return plot_token_cues(T.single_token_dynamics(T.TokenCuesConfig(
        alignment=alignment, unembedding_similarity=unembedding_similarity, lr=10 ** log10_lr, steps=200,
        seed=seed)))
