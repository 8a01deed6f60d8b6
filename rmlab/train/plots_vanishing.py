"""Figures of the vanishing-gradient experiments (notebook 13); each function returns a Figure."""

from __future__ import annotations

from rmlab import plotting

METHOD_COLORS = {"rft": 0, "sft": 1}
METHOD_NAMES = {"rft": "RFT (exact expected gradient)", "sft": "SFT"}


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
