"""Figures for the teacher theorems (Thm 2/5, Prop. 1, Thm 3/6 of arXiv 2503.15477); each function returns a Figure.

The ``*_explorer`` functions build their instance, run the exact flow and draw, so a notebook can hand them to
:func:`rmlab.plotting.explore` (ipywidgets sliders) as they are.
"""

from __future__ import annotations

import matplotlib.ticker
import numpy as np

from rmlab import plotting
from rmlab.theory import constructions as C


def plot_thm2(inst: C.Thm5Instance, t_slow, t_fast, t_slow_kl=None, t_fast_kl=None, lam_kl: float | None = None,
              sweep: C.AccuracySweep | None = None):
    """Left: ``t_gamma`` vs T for the accurate (slow) and inaccurate (fast) RMs with Thm 5 / Prop. 3 bounds.
    Middle: the two reward models against ``r_G``, over the initial policy.
    Right (if ``sweep``): ``t_gamma`` vs accuracy for slow and fast RMs at every accuracy level."""
    fig, axes = plotting.subplots(1, 3 if sweep is not None else 2, width=4.6, height=3.6)
    ax, ax_r = axes[0], axes[1]
    T = inst.T
    c_slow, c_fast, c_bound = plotting.PALETTE[0], plotting.PALETTE[1], "0.45"
    ax.loglog(T, t_slow, "o-", color=c_slow, label=f"accurate RM (acc = {inst.acc_slow.min():.2f})")
    ax.loglog(T, np.full_like(T, t_fast), "s-", color=c_fast, label=f"inaccurate RM (acc = {inst.acc_fast:.3f})")
    if t_slow_kl is not None:
        ax.loglog(T, t_slow_kl, "o", mfc="none", color=c_slow, ms=9, label=f"accurate, λ = {lam_kl:.1e}")
        ax.loglog(T, np.full_like(T, t_fast_kl), "s", mfc="none", color=c_fast, ms=9,
                  label=f"inaccurate, λ = {lam_kl:.1e}")
    ax.loglog(T, inst.slow_lower_bound, "--", color=c_bound, label=r"Thm 5 lower bound $2(1-e^{-\gamma/2})\,T$")
    ax.loglog(T, inst.prop3_lower_bound, ":", color=c_slow, label="Prop 3 lower bound (own variance)")
    ax.axhline(inst.fast_upper_bound, ls="-.", color=c_fast, lw=1, label="Thm 5 upper bound (fast RM)")
    ax.set(xlabel="T (slow RM rewards lie in (0, 1/T))", ylabel="time t_γ to gain γ in r_G",
           title=f"Accuracy is not enough (γ = {inst.gamma})")
    low = min(np.min(inst.slow_lower_bound), t_fast)
    ax.set_ylim(low * 1e-3, None)                         # room for the legend under the curves
    ax.legend(fontsize=7, loc="lower right")

    order = np.argsort(inst.r_gold)
    x = inst.r_gold[order]
    ax_r.bar(x, inst.probs0[order] / inst.probs0.max(), width=0.03, color="0.8", label="π₀ (scaled to max 1)")
    ax_r.plot(x, inst.r_slow[0][order], "o-", ms=3, color=c_slow, label=f"accurate RM at T = {T[0]:g}")
    ax_r.plot(x, inst.r_fast[order], "s-", ms=3, color=c_fast, label="inaccurate RM")
    ax_r.axvline(inst.r_gold[inst.y_gamma], color=c_fast, lw=0.8, ls=":")
    ax_r.set(xlabel="ground-truth reward r_G(y)", ylabel="reward-model score", title="The two teachers")
    ax_r.legend(fontsize=7, loc="upper left")
    if sweep is not None:
        _plot_accuracy_sweep(axes[2], inst, sweep, c_slow, c_fast)
    return fig


def _plot_accuracy_sweep(ax, inst: C.Thm5Instance, sweep: C.AccuracySweep, c_slow, c_fast):
    """``t_gamma`` vs accuracy; runs that never reach the goal (``inf``) are drawn as open triangles at the top."""
    finite = np.concatenate([sweep.t_slow, sweep.t_fast])
    top = 10 * np.max(finite[np.isfinite(finite)])
    for acc, t, color, label in ((sweep.acc_slow, sweep.t_slow, c_slow, f"slow RMs (rewards in (0, 1/{sweep.T:g}))"),
                                 (sweep.acc_fast, sweep.t_fast, c_fast, "fast RMs (y_γ ranked first)")):
        ok = np.isfinite(t)
        ax.semilogy(acc[ok], t[ok], "o", color=color, label=label)
        if not ok.all():
            ax.semilogy(acc[~ok], np.full((~ok).sum(), top), "^", mfc="none", color=color,
                        label="never reached (by t_max)")
    ax.axhline(float(C.thm5_slow_lower_bound(sweep.T, inst.gamma)), ls="--", color="0.45", label="Thm 5 lower bound")
    ax.axhline(inst.fast_upper_bound, ls="-.", color=c_fast, lw=1, label="Thm 5 upper bound")
    ax.set(xlabel="accuracy (uniform pairs)", ylabel="t_γ", title="Any accuracy, slow or fast")
    ax.legend(fontsize=7, loc="center left")


def plot_best_of_n(inst: C.Thm5Instance, n, bon: dict, times, values: dict):
    """Left: exact Best-of-N value of ``r_G`` vs the number of draws for each RM (``bon[label] -> [len(n)]``; the
    first entry is drawn as a wide band so that curves lying exactly on it stay visible).
    Right: ``E_pi[r_G]`` along the exact policy-gradient flow of each RM (``values[label] -> [len(times)]``)."""
    fig, (ax, ax_t) = plotting.subplots(1, 2, width=4.6, height=3.6)
    for k, (label, v) in enumerate(bon.items()):
        style = dict(lw=7, alpha=0.3) if k == 0 else dict(marker="os^D"[k % 4], ms=4, ls=["-", "--", ":"][k % 3])
        ax.semilogx(n, v, color=plotting.PALETTE[k], label=label, **style)
    ax.set(xlabel="N (Best-of-N draws from π₀)", ylabel="E[r_G] of the selected output", title="Best-of-N (Prop 1)")
    ax.legend(fontsize=7)
    for k, (label, v) in enumerate(values.items()):
        ax_t.plot(times, v, color=plotting.PALETTE[k + len(bon)], label=label)
    ax_t.axhline(inst.probs0 @ inst.r_gold + inst.gamma, color="0.45", ls="--", lw=1, label="start + γ")
    ax_t.set(xlabel="gradient-flow time t", ylabel="E_π(t)[r_G]", title="Policy gradient (exact flow)")
    ax_t.legend(fontsize=7)
    return fig


def plot_thm3(inst: C.Thm6Instance, M):
    """2×2 grid: ``t_gamma`` vs T for each (policy family, RM) cell of ``M`` ``[K, 2, 2]``, with the Thm 6 bound."""
    fig, axes = plotting.subplots(2, 2, width=3.6, height=3.0, sharex=True, sharey=True)
    families, rms = ["π ∈ Π", "π' ∈ Π'"], ["r", "r'"]
    for i, j in np.ndindex(2, 2):
        ax = axes[i, j]
        diag = i == j
        color = plotting.PALETTE[0] if diag else plotting.PALETTE[3]
        ax.loglog(inst.T, M[:, i, j], "o-", color=color, label="t_γ (exact flow)")
        if diag:
            ax.axhline(inst.fast_upper_bound[i], ls="-.", color="0.45", lw=1, label="Thm 6 upper bound")
        else:
            ax.loglog(inst.T, inst.slow_lower_bound, "--", color="0.45", label="Thm 6 lower bound")
        ax.set_title(f"{families[i]}, trained on {rms[j]}", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        ax.set_xticks(inst.T, [f"{t:g}" for t in inst.T], minor=False)
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        if i == 1:
            ax.set_xlabel("T (other good output has mass T⁻²)")
        if j == 0:
            ax.set_ylabel("t_γ")
    fig.suptitle(f"Which RM is the better teacher depends on the policy (c = {inst.c}, γ = {inst.gamma})")
    return fig


def thm2_explorer(logit_std: float = 1.5, log10_T_max: float = 3.0, lam_fraction: float = 0.0, seed: int = 0):
    """Thm 2/5 on a fresh draw: ``logit_std`` = spread (inverse temperature) of the initial logits, T up to
    ``10**log10_T_max``, KL coefficient ``lam_fraction * lam_max`` (Thm 5's largest lam with the fast guarantee)."""
    inst = C.thm5_instance(T=np.logspace(0, log10_T_max, 5), logit_std=logit_std, seed=seed)
    lam = lam_fraction * inst.lam_max
    t_slow, t_fast = C.thm5_times(inst, lam=lam)
    fig = plot_thm2(inst, t_slow, t_fast)
    fig.axes[0].set_title(f"π₀(y_γ) = {inst.probs0[inst.y_gamma]:.3f}, λ = {lam:.1e}")
    return fig


def thm3_explorer(c: float = 0.2, gamma: float = 0.2, log10_T_max: float = 1.5):
    """Thm 3/6 with mass ``c`` on the matching output and T from 3 to ``10**log10_T_max``."""
    inst = C.thm6_instance(T=np.geomspace(3, 10 ** log10_T_max, 4), gamma=gamma, c=c)
    return plot_thm3(inst, C.thm6_times(inst))

