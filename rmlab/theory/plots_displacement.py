"""Figures for likelihood displacement in the unconstrained-features model (arXiv 2410.08847, Thm 4/5, Table 13);
each function returns a Figure. :func:`displacement_explorer` builds its instance and runs the flow, so a notebook
can hand it to :func:`rmlab.plotting.explore` as it is."""

from __future__ import annotations

import numpy as np

from rmlab import plotting
from rmlab.theory import cross_sample as CS
from rmlab.theory import displacement as D


def plot_rates(closed: np.ndarray, simulated: np.ndarray, alignment: np.ndarray, other_rates: np.ndarray):
    """Left: Thm 4's closed-form d/dt ln pi(y+) against the simulated flow's, one dot per instance. Right: every
    other token's simulated rate against ``<W_z, W+ - W->`` (one instance's tokens, centred per instance)."""
    fig, (ax, ax_r) = plotting.subplots(1, 2, width=4.4, height=3.6)
    span = [min(closed.min(), simulated.min()), max(closed.max(), simulated.max())]
    ax.plot(span, span, color="0.6", lw=1)
    ax.scatter(simulated, closed, s=10, color=plotting.PALETTE[0])
    displaced = int(np.sum(simulated < 0))
    ax.set(xlabel="simulated d/dt ln π(y⁺) (RK4, central difference)", ylabel="Thm 4 closed form",
           title=f"{len(closed)} random instances ({displaced} displaced)")
    ax_r.scatter(alignment, other_rates, s=4, alpha=0.4, color=plotting.PALETTE[1])
    ax_r.set(xlabel="⟨W_z, W⁺ − W⁻⟩ − its mean over z", ylabel="d/dt ln π(z) − its mean over z",
             title="Thm 5: other tokens move ∝ ⟨W_z, W⁺ − W⁻⟩")
    return fig


def displacement_explorer(kappa: float = 1.0, orth: float = 0.8, scale: float = 8.0, lr: float = 0.2,
                          steps: int = 100):
    """The hand-built vocabulary of :func:`rmlab.theory.displacement.handbuilt_geometry`, DPO(No > Never) by
    gradient descent (``lr``, ``steps``). Left: pi of each answer token over the steps. Right: Thm 5's ranking,
    ``<W_z, W+ - W->`` per token, beside the change of ln pi(z) after the first step. The defaults are notebook 09's,
    under which No is displaced."""
    h, W = D.handbuilt_geometry(scale=scale, kappa=kappa, orth=orth)
    plus, minus = np.array([0]), np.array([1])
    flow = D.simulate_flow(h, W, plus, minus, dt=lr, steps=steps, method="euler")
    probs = np.exp(flow.log_probs[:, 0])                                               # [steps + 1, V]
    geometry = D.projections(W[0, 0], W[0, 1])
    rate = D.rate_preferred(h, W, plus, minus, D.initial_ell_prime(h, W, plus, minus))[0]
    drop, peak, trough = D.peak_to_trough(probs[:, 0])
    fig, (ax, ax_r) = plotting.subplots(1, 2, width=4.6, height=3.6)
    for i, name in enumerate(D.HANDBUILT_TOKENS[:5]):
        ax.plot(probs[:, i], label=plotting.legend_label(name), lw=2 if i < 2 else 1.3)
    ax.set(xlabel="gradient step", ylabel="π(z | x)", ylim=(0, 1),
           title=f"DPO(No ≻ Never): peak-to-trough {drop:.2f} (steps {peak}→{trough})")
    ax.legend(fontsize=7)
    align = D.alignment(W, plus, minus)[0]
    first_step = flow.log_probs[1, 0] - flow.log_probs[0, 0]
    x = np.arange(len(D.HANDBUILT_TOKENS))
    ax_r.bar(x - 0.2, align / np.abs(align).max(), 0.4, label="⟨W_z, W⁺ − W⁻⟩ (scaled)")
    ax_r.bar(x + 0.2, first_step / max(np.abs(first_step).max(), 1e-300), 0.4, label="Δ ln π(z), step 1 (scaled)")
    ax_r.set_xticks(x, D.HANDBUILT_TOKENS, rotation=60, fontsize=7)
    ax_r.set(title=f"proj {geometry['proj']:.2f}, orth {geometry['orth']:.2f}, Thm 4 rate {rate:+.3f}")
    ax_r.axhline(0, color="0.5", lw=0.8)
    ax_r.legend(fontsize=7)
    return fig


def plot_phase_diagram(diagram: dict, threshold: float = 0.2):
    """One panel per unembedding scale ``c`` of :func:`rmlab.theory.displacement.phase_diagram`: the peak-to-trough
    drop of pi(No) over (orth, kappa), the cells with a drop >= ``threshold`` outlined, and Table 13's boundary
    ``‖orth‖ = ‖proj‖`` (``orth = |1 - kappa|`` here; displacement-prone above it)."""
    kappas, orths, scales = diagram["kappas"], diagram["orths"], diagram["scales"]
    fig, axes = plotting.subplots(1, len(scales), width=2.9, height=3.2, sharey=True, squeeze=False)
    extent = [orths[0], orths[-1], kappas[0], kappas[-1]]
    for ax, scale, drop in zip(axes[0], scales, diagram["drop"]):
        image = ax.imshow(drop, origin="lower", extent=extent, aspect="auto", vmin=0, vmax=1, cmap="viridis",
                          interpolation="nearest")
        ax.contour(orths, kappas, (drop >= threshold).astype(float), levels=[0.5], colors="white", linewidths=1.2)
        ax.plot(np.abs(1 - kappas), kappas, color=plotting.PALETTE[3], lw=1.5, ls="--")
        ax.grid(False)
        ax.set(xlim=extent[:2], ylim=extent[2:], title=f"c = {scale:g}\n{int(np.sum(drop >= threshold))} of "
                                                        f"{drop.size} cells displace")
    axes[0, 0].set_ylabel("κ = ⟨W⁺, W⁻⟩ / ‖W⁺‖²")
    fig.supxlabel("orth: the part of W⁻ off W⁺, in units of c (dashed: Table 13's ‖orth‖ = ‖proj‖)")
    fig.colorbar(image, ax=axes[0].tolist(), label=f"drop of π(No) (white line: ≥ {threshold:g})")
    return fig


def plot_weighted_loss(curves: dict[str, np.ndarray], diagrams: dict[str, dict], threshold: float = 0.2):
    """Prop. 2 on the hand-built vocabulary: ``curves`` (label -> pi(No) per step of DPO(No > Never) under that
    weighting) on the left; on the right, per label, how many cells of each :func:`rmlab.theory.displacement.
    phase_diagram` in ``diagrams`` (label -> diagram, same grid) have a drop >= ``threshold``, one bar per scale."""
    fig, (ax_l, ax_r) = plotting.subplots(1, 2, width=4.6, height=3.4)
    for color, (label, probs) in zip(plotting.PALETTE, curves.items()):
        ax_l.plot(probs, color=color, label=label)
    ax_l.set(xlabel="gradient-descent step", ylabel="π(No)", title="hand-built geometry, c = 8: DPO(No ≻ Never)")
    ax_l.legend(fontsize="small")
    scales = next(iter(diagrams.values()))["scales"]
    x, width = np.arange(len(scales)), 0.8 / len(diagrams)
    for i, (color, (label, diagram)) in enumerate(zip(plotting.PALETTE, diagrams.items())):
        counts = np.sum(diagram["drop"] >= threshold, axis=(1, 2))
        ax_r.bar(x + (i - (len(diagrams) - 1) / 2) * width, counts, width, color=color, label=label)
    ax_r.set_xticks(x, [f"c = {c:g}" for c in scales])
    ax_r.set(ylabel=f"cells with a drop ≥ {threshold:g}", title="the phase diagram's grid")
    return fig


def plot_cross_sample(closed_total: np.ndarray, simulated_total: np.ndarray, cross: dict[str, np.ndarray]):
    """Left: Thm 8's decomposition summed (own term + every cross term) against the simulated flow's d/dt ln pi(y+_i),
    one dot per prompt. Right: each cross term, sample j's push on ln pi(y+_i | x_i) measured by the chain rule along
    sample j's part of the velocity, divided by ``<h_i, h_j>`` and sorted within each of Thm 8's cases (``cross``:
    case -> those values), with how many have the sign the case predicts for a positive ``<h_i, h_j>``."""
    fig, (ax, ax_r) = plotting.subplots(1, 2, width=5.0, height=3.8)
    span = [min(closed_total.min(), simulated_total.min()), max(closed_total.max(), simulated_total.max())]
    ax.plot(span, span, color="0.6", lw=1)
    ax.scatter(simulated_total, closed_total, s=8, color=plotting.PALETTE[0])
    ax.set(xlabel="simulated d/dt ln π(y⁺ᵢ | xᵢ) (RK4, central difference)",
           ylabel="own term + Σ cross terms (Thm 8)", title=f"{len(closed_total)} prompts")
    start = 0
    for k, (case, values) in enumerate(cross.items()):
        ordered = np.sort(values)
        agree = int(np.sum(np.sign(values) == CS.PREDICTED_SIGN[case]))
        ax_r.scatter(start + np.arange(len(ordered)), ordered, s=5, color=plotting.PALETTE[k],
                     label=f"{case}: {agree} of {len(values)} {'up' if CS.PREDICTED_SIGN[case] > 0 else 'down'}")
        start += len(ordered) + 50
    ax_r.axhline(0, color="0.5", lw=0.8)
    ax_r.set_xticks([])
    ax_r.set(ylabel="cross term / ⟨hᵢ, hⱼ⟩", xlabel="pairs (i, j), sorted within each case",
             title="Thm 8: sample j's push on ln π(y⁺ᵢ | xᵢ)")
    ax_r.legend(fontsize=7, loc="upper right", markerscale=3)
    return fig


def plot_ches_premise(ufm: dict[str, tuple[np.ndarray, np.ndarray]], shares: dict[str, np.ndarray],
                      paper: dict[str, float]):
    """Left: CHES against Thm 6's rate of ln pi(y+) over random multi-token pairs of the unconstrained-features
    model, one colour per setting (``ufm``: name -> (ches, rate)), Spearman in the legend. Right: per pair of a
    model's preference set, the share of positive coefficients (``shares``: name -> per-pair shares), with the
    paper's reported levels (``paper``: same names -> value) as dashed lines."""
    from scipy.stats import spearmanr

    fig, (ax, ax_r) = plotting.subplots(1, 2, width=4.8, height=3.7)
    for k, (name, (ches, rate)) in enumerate(ufm.items()):
        ax.scatter(ches, rate, s=6, alpha=0.5, color=plotting.PALETTE[k],
                   label=f"{name}: Spearman {spearmanr(ches, rate)[0]:+.2f}")
    ax.set(xlabel="CHES", ylabel="Thm 6: d/dt ln π(y⁺|x)", title=f"{len(rate)} random pairs per setting")
    ax.legend(fontsize=7, markerscale=2)
    bins = np.linspace(0, 1, 21)
    for k, (name, values) in enumerate(shares.items()):
        ax_r.hist(values, bins=bins, alpha=0.55, color=plotting.PALETTE[k + 2],
                  label=f"{name}: mean {np.mean(values):.2f}")
        if name in paper:
            ax_r.axvline(paper[name], color=plotting.PALETTE[k + 2], ls="--", lw=1.2)
    ax_r.set(xlabel="share per pair (dashed: the paper's reported level)", ylabel="pairs",
             title="positive coefficients, per preference pair")
    ax_r.legend(fontsize=7)
    return fig
