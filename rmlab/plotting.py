"""The rmlab house style: one seaborn theme, one palette, figures returned (never shown) by plot functions."""

from __future__ import annotations

import matplotlib

matplotlib.rcParams.setdefault("figure.max_open_warning", 0)

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

PALETTE = sns.color_palette("colorblind", 10).as_hex()


def use_style() -> None:
    """Apply the house style (seaborn "whitegrid", colorblind palette, readable fonts)."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 100, "axes.titleweight": "bold", "legend.frameon": False})


def subplots(nrows: int = 1, ncols: int = 1, *, width: float = 4.2, height: float = 3.4, **kwargs):
    """``plt.subplots`` in the house style; ``width``/``height`` are per panel, in inches."""
    use_style()
    kwargs.setdefault("squeeze", True)
    kwargs.setdefault("constrained_layout", True)
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), **kwargs)
