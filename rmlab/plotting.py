"""The rmlab house style: one seaborn theme, one palette, figures returned (never shown) by plot functions; and
:func:`explore`, the sliders that redraw a figure in a live notebook.

Figures are closed (detached from pyplot) as soon as they are made, so that a notebook shows each one exactly once:
where a cell's last expression is the figure, or in an explorer. An open pyplot figure would also be shown by the
inline backend at the end of the cell (and by ipywidgets' ``interact``), a second copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.rcParams.setdefault("figure.max_open_warning", 0)

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from rmlab._headless import headless  # noqa: E402

PALETTE = sns.color_palette("colorblind", 10).as_hex()
SLIDER_WIDTH = "640px"     # a short drag moves a slider by a small step


def use_style() -> None:
    """Apply the house style (seaborn "whitegrid", colorblind palette, readable fonts)."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 100, "axes.titleweight": "bold", "legend.frameon": False})


def subplots(nrows: int = 1, ncols: int = 1, *, width: float = 4.2, height: float = 3.4, **kwargs):
    """``plt.subplots`` in the house style, returning a closed figure; ``width``/``height`` are per panel, in inches."""
    use_style()
    kwargs.setdefault("squeeze", True)
    kwargs.setdefault("constrained_layout", True)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), **kwargs)
    plt.close(fig)      # still drawable and savable; only no longer shown by pyplot (see the module docstring)
    return fig, axes


def legend_label(text: str) -> str:
    """``text`` as a legend shows it: matplotlib leaves out labels that start with "_", which the papers' notation
    for a leading space ("_Yes") does; a thin space in front keeps them.

    >>> legend_label("_Yes ≻ No"), legend_label("No")
    ('\u2009_Yes ≻ No', 'No')
    """
    return "\u2009" + text if text.startswith("_") else text


@dataclass(frozen=True)
class Slider:
    """A slider for :func:`explore` from ``lo`` to ``hi`` starting at ``value``, in steps of ``step``.

    With ``log=True``, ``lo`` and ``hi`` are powers of ten (the slider spans ``10**lo .. 10**hi``). Whole-number
    ``lo``, ``hi`` and ``value`` (and ``step``) give an integer slider.
    """

    lo: float
    hi: float
    value: float
    step: float | None = None
    log: bool = False

    def widget(self, description_width: str):
        import ipywidgets

        look = dict(continuous_update=False, style={"description_width": description_width},
                    layout=ipywidgets.Layout(width=SLIDER_WIDTH, max_width="100%"))
        if self.log:
            return ipywidgets.FloatLogSlider(value=self.value, base=10, min=self.lo, max=self.hi,
                                             step=self.step or 0.05, **look)
        if all(isinstance(x, int) for x in (self.lo, self.hi, self.value, self.step or 1)):
            return ipywidgets.IntSlider(value=self.value, min=self.lo, max=self.hi, step=self.step or 1, **look)
        return ipywidgets.FloatSlider(value=self.value, min=self.lo, max=self.hi,
                                      step=self.step or (self.hi - self.lo) / 100, **look)


def explore(fn, **sliders: Slider) -> None:
    """Display sliders that redraw ``fn(**values)`` (a function returning a Figure) when one is moved and released.

    The figure is shown once, under the sliders, and closed after each draw. In headless runs (``RMLAB_HEADLESS=1``:
    ``rmlab reproduce`` and the tests) no widget is built; call ``fn`` once with its defaults next to it so that the
    figure also renders there.

    >>> explore(lambda tau=1.0: None, tau=Slider(-2, 2, 1.0, log=True))   # the tests run headless: shows nothing
    """
    if headless():
        return
    import ipywidgets
    from IPython.display import display

    def draw(**values):
        fig = fn(**values)
        display(fig)
        plt.close(fig)      # a figure fn left open in pyplot would be shown a second time by the inline backend

    description_width = f"{max(map(len, sliders)) + 2}ch"     # labels in full, and the sliders' tracks aligned
    view = ipywidgets.interactive(draw, **{name: s.widget(description_width) for name, s in sliders.items()})
    display(view)
