"""Figures of the vanishing-gradient experiments (notebook 13); each function returns a Figure."""

from __future__ import annotations

import numpy as np

from rmlab import plotting

METHOD_COLORS = {"rft": 0, "sft": 1}
METHOD_NAMES = {"rft": "RFT (exact expected gradient)", "sft": "SFT"}
RUN_NAMES = {"rft": "RFT", "sft": "SFT", "sft_rft": "SFT→RFT"}   # rmlab.train.rft_vs_sft.METHODS
FAMILY_COLORS = (3, 9, 4, 5, 6, 8)     # palette indices apart from the methods' (0-2)


def plot_controlled(panels: dict[str, dict[str, list[dict]]]):
    """``vg_controlled``: one row per panel (e.g. ``{"Adam": {...}, "SGD": {...}}``), each mapping a method to its
    :func:`rmlab.train.controlled.finetune` history. Columns: train accuracy on the modified (solid) and unmodified
    (dashed) images; the modified images' mean reward std; the norm of their gradient (log scale)."""
    fig, axes = plotting.subplots(len(panels), 3, width=4.0, height=3.0, squeeze=False)
    for row, (panel, histories) in zip(axes, panels.items()):
        for method, history in histories.items():
            color = plotting.PALETTE[METHOD_COLORS[method]]
            epochs = [h["epoch"] for h in history]
            row[0].plot(epochs, [h["acc_modified"] for h in history], color=color,
                        label=f"{METHOD_NAMES[method]}, modified")
            row[0].plot(epochs, [h["acc_unmodified"] for h in history], color=color, ls="--",
                        label=f"{METHOD_NAMES[method]}, unmodified")
            row[1].plot(epochs, [h["reward_std_modified"] for h in history], color=color, label=METHOD_NAMES[method])
            row[2].semilogy(epochs, [h["grad_norm_modified"] for h in history], color=color,
                            label=METHOD_NAMES[method])
        row[0].set(title=f"{panel}: train accuracy", xlabel="epoch", ylabel="accuracy", ylim=(-0.03, 1.03))
        row[1].set(title=f"{panel}: reward std, modified", xlabel="epoch", ylabel="mean STD_y~p[r]")
        row[2].set(title=f"{panel}: gradient norm, modified", xlabel="epoch", ylabel="‖∇ objective‖")
        for ax in row:
            ax.legend(fontsize=7)
    return fig


def plot_grue_like(initial, after: dict, families: dict[str, dict], correlations: dict[str, float], *,
                   prompt_families: list[str] | None = None):
    """``vg_grue_like``: the reward mean-std scatter per prompt before finetuning and after each method
    (``after``: method -> :class:`rmlab.train.rft_vs_sft.PromptRewardStats`), coloured by ``prompt_families`` (each
    prompt's family, in the prompts' order) when given; per family, the fraction of near-zero-std prompts and the
    RFT - SFT gain gap; corr(initial std, gain) per method. One panel each: the scatters in the first row, the three
    summaries in the second."""
    panels = [("initial policy", initial), *((RUN_NAMES.get(m, m), stats) for m, stats in after.items())]
    ncols = max(len(panels), 3)
    fig, grid = plotting.subplots(2, ncols, width=3.4, height=3.2, squeeze=False)
    for ax in [*grid[0, len(panels):], *grid[1, 3:]]:
        fig.delaxes(ax)
    axes = [*grid[0, :len(panels)], *grid[1, :3]]
    names = list(families)
    colors = {family: plotting.PALETTE[FAMILY_COLORS[i % len(FAMILY_COLORS)]] for i, family in enumerate(names)}
    rows = None if prompt_families is None else {f: np.asarray(prompt_families) == f for f in names}
    for ax, (title, stats) in zip(axes, panels):
        if rows is None:
            ax.scatter(stats.mean, stats.std, s=8, alpha=0.6, color=plotting.PALETTE[0])
        else:
            for family, mask in rows.items():
                ax.scatter(stats.mean[mask], stats.std[mask], s=8, alpha=0.6, color=colors[family], label=family)
        ax.set(title=title, xlabel="reward mean", ylabel="reward std")
    if rows is not None:
        axes[0].legend(fontsize=7, title="family", title_fontsize=7)
    ax = axes[len(panels)]
    ax.bar(names, [families[f]["frac_near_zero_std"] for f in names], color=[colors[f] for f in names])
    ax.set(title="near-zero std (initial)", ylabel="fraction of prompts", ylim=(0, 1))
    ax = axes[len(panels) + 1]
    ax.bar(names, [families[f].get("rft_minus_sft", float("nan")) for f in names], color=[colors[f] for f in names])
    ax.axhline(0, color="0.4", lw=1)
    ax.set(title="RFT − SFT gain", ylabel="mean reward gain gap")
    ax = axes[len(panels) + 2]
    methods = list(correlations)
    ax.bar([RUN_NAMES.get(m, m) for m in methods], [correlations[m] for m in methods],
           color=[plotting.PALETTE[METHOD_COLORS.get(m, 2)] for m in methods])
    ax.axhline(0, color="0.4", lw=1)
    ax.set(title="corr(initial std, gain)", ylabel="Pearson r")
    for a in axes[len(panels):]:
        a.tick_params(axis="x", labelrotation=30)
    return fig


def plot_heuristics(variants: dict[str, float], reference: float, reference_name: str = "SFT→RFT", *,
                    title: str = "RFT heuristics on flat-and-far prompts", ylabel: str = "reward (scaled to [0, 1])"):
    """``vg_heuristics`` (and ``vg_heuristics_controlled``): the final value of each RFT variant (name -> value),
    with the reference method's value and half of it as lines."""
    fig, ax = plotting.subplots(1, 1, width=6.0, height=3.4)
    names = list(variants)
    ax.bar(names, [variants[n] for n in names], color=plotting.PALETTE[0])
    ax.axhline(reference, color=plotting.PALETTE[1], label=reference_name)
    ax.axhline(reference / 2, color=plotting.PALETTE[1], ls="--", label=f"half of {reference_name}")
    ax.set(title=title, ylabel=ylabel)
    ax.tick_params(axis="x", labelrotation=30)
    ax.legend(fontsize=8)
    return fig


def plot_partial_sft(rewards: dict[tuple[float, float], float], full_reference: float, *,
                     rft_alone: float | None = None, per_task: dict[str, dict[str, float]] | None = None,
                     reference_arm: str = "SFT(100 %)→RFT"):
    """``vg_partial_sft``: the reward after partial SFT then RFT, one line per fraction of prompts (x: the fraction
    of SFT steps), with 90 % of full SFT then RFT as a dashed line and, when given, RFT without SFT (``rft_alone``)
    as a dotted one. ``rewards``: (prompt fraction, step fraction) -> reward. ``per_task`` (task -> arm -> reward),
    when given, adds a panel of bars: each task run as its own experiment, with 90 % of that task's
    ``reference_arm`` marked as a black tick."""
    fig, axes = plotting.subplots(1, 1 if per_task is None else 2, width=5.0, height=3.4)
    ax = np.atleast_1d(axes)[0]
    for i, fraction in enumerate(sorted({f for f, _ in rewards})):
        steps = sorted(s for f, s in rewards if f == fraction)
        ax.plot(steps, [rewards[(fraction, s)] for s in steps], "o-", color=plotting.PALETTE[i],
                label=f"SFT on {fraction:.0%} of prompts")
    ax.axhline(0.9 * full_reference, color="0.3", ls="--", label="90 % of SFT(100 %)→RFT")
    if rft_alone is not None:
        ax.axhline(rft_alone, color="0.3", ls=":", label="RFT alone (no SFT)")
    ax.set(title="partial SFT, then RFT" + ("" if per_task is None else ": all tasks in one run"),
           xlabel="fraction of SFT steps", ylabel="reward (scaled to [0, 1])")
    ax.legend(fontsize=8)
    if per_task is not None:
        _plot_per_task(np.atleast_1d(axes)[1], per_task, reference_arm)
    return fig


def _plot_per_task(ax, per_task: dict[str, dict[str, float]], reference_arm: str):
    tasks = list(per_task)
    arms = list(per_task[tasks[0]])
    width = 0.8 / len(arms)
    for j, arm in enumerate(arms):
        ax.bar(np.arange(len(tasks)) + (j - (len(arms) - 1) / 2) * width, [per_task[t][arm] for t in tasks],
               width, color=plotting.PALETTE[j], label=arm)
    ax.hlines([0.9 * per_task[t][reference_arm] for t in tasks], np.arange(len(tasks)) - 0.45,
              np.arange(len(tasks)) + 0.45, color="k", ls="--", label=f"90 % of {reference_arm}")
    ax.set_xticks(np.arange(len(tasks)), tasks)
    top = max(max(rewards.values()) for rewards in per_task.values())
    ax.set(title="each task its own experiment", ylabel="reward (scaled to [0, 1])", ylim=(0, 1.35 * top))
    ax.legend(fontsize=8, ncol=2, loc="upper center")       # above the bars: the ylim leaves room for it
