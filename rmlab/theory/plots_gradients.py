"""Figures of the flat-landscape and vanishing-gradient notebooks (01, 04); each function returns a Figure."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import NullFormatter

from rmlab import plotting
from rmlab.theory import autoregressive as ar
from rmlab.theory.constructions import prop3_lower_bound
from rmlab.theory.landscape import Landscape, TimeRuns
from rmlab.theory.vanishing import BatchShare, BoundRatios, LineFit, SeparationResult

KIND_COLORS = {"random": 0, "adversarial": 3, "near_constant": 2, "mlp": 4}
FAMILY_COLORS = {"scaled": 0, "compressed": 1}


def plot_landscape(ls: Landscape):
    """Fig. 1: ``phi(theta) = E_pi[r]`` over the grid for r_G and the RMs of the accuracy axis (top row) and of the
    variance axis (bottom row), on one colour scale (x = pi_init, * = grid argmax). Last column: the rewards over the
    outputs with pi_init's mass shaded, and ``||grad phi(theta_init)||`` per panel."""
    gold = ls.panels[0]
    rows = [[p for p in ls.panels if p.axis == axis] for axis in ("accuracy", "variance")]
    ncols = max(len(r) for r in rows) + 2
    fig, axes = plotting.subplots(2, ncols, width=3.0, height=2.8, squeeze=False)
    t1, t2 = ls.theta_grid[..., 0], ls.theta_grid[..., 1]
    levels = np.linspace(-1, 1, 21)
    for row, panels in enumerate(rows):
        for col in range(ncols - 1):
            ax = axes[row, col]
            panel = ([gold] + panels + [None] * ncols)[col]
            if panel is None:
                ax.axis("off")
                continue
            mappable = ax.contourf(t1, t2, np.clip(panel.surface, -1, 1), levels=levels, cmap="viridis")
            ax.plot(*ls.theta_init, "wx", ms=9, mew=2)
            ax.plot(*panel.argmax_theta, "*", color="tab:red", ms=12, clip_on=False)
            ax.set_title(f"{panel.name} ({panel.axis} axis)\nacc {panel.accuracy:.2f}  "
                         f"Var₀ {panel.variance_init:.1e}\n‖∇φ₀‖ {panel.grad_norm_init:.1e}", fontsize=8)
            ax.set_xlabel("θ₁ (moves π)", fontsize=8)
            ax.set_ylabel("θ₂ (sharpens π)", fontsize=8)
    fig.colorbar(mappable, ax=axes[:, :-1].ravel().tolist(), location="bottom", shrink=0.5, aspect=40,
                 ticks=np.linspace(-1, 1, 5), label="φ(θ) = E_π[r]")
    colors = {"gold": "k", "accuracy": plotting.PALETTE[0], "variance": plotting.PALETTE[1]}
    ax = axes[0, -1]
    x = ls.family.positions
    ax.fill_between(x, -1, -1 + 2 * ls.family.probs(ls.theta_init) / ls.family.probs(ls.theta_init).max(),
                    color="0.85", label="π_init (scaled)")
    for i, p in enumerate(ls.panels):
        ax.plot(x, p.reward, color=colors[p.axis], lw=1.2, alpha=1.0 if p.axis == "gold" else 0.4 + 0.2 * (i % 3))
    ax.set_xlabel("output position x_y", fontsize=8)
    ax.set_title("rewards (black r_G, blue acc. axis,\norange var. axis)", fontsize=8)
    ax = axes[1, -1]
    ax.barh(range(len(ls.panels)), [p.grad_norm_init for p in ls.panels], color=[colors[p.axis] for p in ls.panels])
    ax.set_yticks(range(len(ls.panels)), [p.name for p in ls.panels], fontsize=7)
    ax.invert_yaxis()
    _log_axis_on_whole_decades(ax, [p.grad_norm_init for p in ls.panels])
    ax.set_title("‖∇φ(θ_init)‖ per panel", fontsize=9)
    return fig


def _log_axis_on_whole_decades(ax, values) -> None:
    """A log x axis from the decade below ``min(values)`` to the one above ``max(values)``, labelled at decades only
    (over less than a decade matplotlib labels the minor ticks too, and their labels run into each other)."""
    low, high = np.log10(np.min(values)), np.log10(np.max(values))
    ax.set_xscale("log")
    ax.set_xlim(10 ** np.floor(low), 10 ** max(np.ceil(high), np.floor(low) + 1))
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_time_vs_variance(runs: TimeRuns):
    """Thm 1/4 and Prop. 3: ``t_gamma`` vs ``Var_{pi_0}[r_RM]`` (log-log) with the lower bounds drawn. Tiny-MLP runs
    are drawn as ``t_gamma J^2`` so that the ``J = 1`` Thm 4 curve is their bound too."""
    fig, axes = plotting.subplots(1, 2, width=4.6, height=3.8)
    cfg = runs.config
    for ax, models in zip(axes, (("autoregressive", "autoregressive_mlp"), ("tabular",))):
        m = np.isin(runs.model, models)
        for model in models:
            for family, c in FAMILY_COLORS.items():
                for s, marker in zip(sorted(set(runs.prompts[runs.model == model])), "os^"):
                    sel = (runs.model == model) & (runs.family == family) & (runs.prompts == s) & \
                        np.isfinite(runs.t_gamma)
                    t = runs.t_gamma[sel]
                    if model == "autoregressive_mlp":
                        t, marker = t * runs.jacobian[sel] ** 2, "D"
                        label = f"{family} RM, tiny MLP |S|={s} (t_γ·J²)"
                    else:
                        label = f"{family} RM" + (f", |S|={s}" if model == "tabular" else "")
                    ax.scatter(runs.variance0[sel], t, s=14, alpha=0.7, marker=marker, color=plotting.PALETTE[c],
                               label=label, edgecolors="k" if model == "autoregressive_mlp" else "none")
        v = np.logspace(np.log10(runs.variance0[m].min()) - 0.3, np.log10(runs.variance0[m].max()) + 0.3, 50)
        if models[0] == "autoregressive":
            ax.plot(v, ar.thm4_time_lower_bound(cfg.gamma, cfg.lam, cfg.length, 1.0, v), "k--",
                    label=f"Thm 4 bound (L={cfg.length}, J=1)")
            ax.set_title(f"autoregressive toy V={cfg.vocab_size}, L={cfg.length}", fontsize=10)
        else:
            for s, style in zip(cfg.tabular_prompts, ("k--", "k:")):
                ax.plot(v, prop3_lower_bound(v, cfg.gamma, n_prompts=s), style, label=f"Prop. 3 bound, |S|={s}")
            ax.set_title(f"tabular softmax N={cfg.tabular_outputs}", fontsize=10)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("initial reward variance E_x Var_π₀[r_RM]")
        ax.set_ylabel(f"t_γ (γ={cfg.gamma} on r_G)")
        ax.legend(fontsize=6)
    return fig


def plot_gradient_bound(length: int, ratios: dict[str, BoundRatios]):
    """Thm 1 of 2310.20703: ``||grad V||`` (divided by ``J``) vs reward std per instance kind, with ``6 L STD^{2/3}``;
    right: the ratio to the bound."""
    fig, axes = plotting.subplots(1, 2, width=4.6, height=3.8)
    all_std = np.concatenate([b.std for b in ratios.values()])
    std = np.logspace(np.log10(max(all_std[all_std > 0].min(), 1e-8)), 0, 100)
    for kind, b in ratios.items():
        color = plotting.PALETTE[KIND_COLORS.get(kind, 5)]
        label = f"{kind} (n={len(b.std)})" + (" ‖∇‖/J" if kind == "mlp" else "")
        axes[0].scatter(b.std, b.grad_norm / b.jacobian, s=8, alpha=0.5, color=color, label=label)
        axes[1].hist(np.log10(b.ratio[b.ratio > 0]), bins=40, alpha=0.6, color=color, label=kind)
    axes[0].plot(std, 6 * length * std ** (2 / 3), "k--", label=r"$6\,L\,\mathrm{STD}^{2/3}$ (J=1)")
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("reward std under π")
    axes[0].set_ylabel(r"$\|\nabla_\theta\, \mathbb{E}_\pi[r]\| \,/\, J$")
    axes[0].legend(fontsize=7)
    axes[1].axvline(0.0, color="k", ls="--", label="bound (ratio 1)")
    axes[1].set_xlabel(r"$\log_{10}\,\|\nabla\| \,/\, (6\,L\,J\,\mathrm{STD}^{2/3})$")
    axes[1].set_ylabel("instances")
    axes[1].legend(fontsize=7)
    return fig


def plot_rft_vs_sft(res: SeparationResult, rft_fit: LineFit, sft_fit: LineFit):
    """RFT vs SFT: time for ``p(y*)`` to reach the target vs initial reward std (log-log), and ``t_SFT`` vs
    ``ln(1/STD)`` with its linear fit. Markers: numerical flow; lines: closed form."""
    fig, axes = plotting.subplots(1, 2, width=4.6, height=3.8)
    c_rft, c_sft = plotting.PALETTE[0], plotting.PALETTE[1]
    ax = axes[0]
    ax.plot(res.std, res.t_rft, "o", color=c_rft, label=f"RFT (slope {rft_fit.slope:.3f})")
    ax.plot(res.std, res.t_rft_closed, "-", color=c_rft, alpha=0.5)
    ax.plot(res.std, res.t_sft, "s", color=c_sft, label="SFT")
    ax.plot(res.std, res.t_sft_closed, "-", color=c_sft, alpha=0.5)
    ax.plot(res.std, 1 / res.std ** 2, "k:", label="1/STD²")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("initial reward std")
    ax.set_ylabel(f"time until p(y*) ≥ {res.target}")
    ax.legend(fontsize=8)
    ax = axes[1]
    x = np.log(1 / res.std)
    ax.plot(x, res.t_sft, "s", color=c_sft, label="SFT (flow)")
    ax.plot(x, sft_fit.slope * x + sft_fit.intercept, "k--",
            label=f"fit {sft_fit.slope:.2f}·ln(1/STD) + {sft_fit.intercept:.2f}, R²={sft_fit.r2:.4f}")
    ax.set_xlabel("ln(1/STD)")
    ax.set_ylabel("t_SFT")
    ax.legend(fontsize=8)
    return fig


def plot_trajectories(times, p_rft, p_sft, p0: float):
    """``p(y*)`` along RFT and SFT gradient flow from one ``p0``."""
    fig, ax = plotting.subplots(1, 1, width=5.0, height=3.4)
    ax.plot(times, p_rft, label="RFT (expected reward)", color=plotting.PALETTE[0])
    ax.plot(times, p_sft, label="SFT (log-likelihood)", color=plotting.PALETTE[1])
    ax.axhline(0.5, color="k", ls=":", lw=1)
    ax.set_xlabel("flow time t")
    ax.set_ylabel("p(y*)")
    ax.set_title(f"p₀(y*) = {p0:.0e}, initial std {np.sqrt(p0 * (1 - p0)):.3g}", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def plot_minibatch_share(res: BatchShare):
    """Each input's block of the batch gradient vs its reward std, low-std inputs highlighted; and their expected
    reward, which is far from the optimum 1."""
    fig, axes = plotting.subplots(1, 2, width=4.4, height=3.4)
    groups = (("other inputs", ~res.low, plotting.PALETTE[0]), ("low-std inputs", res.low, plotting.PALETTE[3]))
    for label, mask, color in groups:
        axes[0].loglog(res.std[mask], res.grad_norm[mask], "o", ms=4, color=color, label=f"{label} (n={mask.sum()})")
        axes[1].semilogx(res.std[mask], res.value[mask], "o", ms=4, color=color, label=label)
    axes[0].set(xlabel="reward std under π", ylabel="norm of the input's gradient block",
                title=f"low-std share of ‖∇‖: {res.share:.1e}")
    axes[1].axhline(1.0, ls="--", color="0.45", lw=1, label="optimum")
    axes[1].set(xlabel="reward std under π", ylabel="E_π[r]", ylim=(-0.05, 1.05), title="yet far from optimal")
    for ax in axes:
        ax.legend(fontsize=8)
    return fig
