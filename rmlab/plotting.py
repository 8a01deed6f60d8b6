"""The rmlab house style: one seaborn theme, one palette, figures returned (never shown) by plot functions; and
:func:`explore`, the sliders that redraw a figure in a live notebook."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.rcParams.setdefault("figure.max_open_warning", 0)

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from rmlab._headless import headless  # noqa: E402

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

    def widget(self):
        import ipywidgets

        if self.log:
            return ipywidgets.FloatLogSlider(value=self.value, base=10, min=self.lo, max=self.hi,
                                             step=self.step or 0.05)
        if all(isinstance(x, int) for x in (self.lo, self.hi, self.value, self.step or 1)):
            return ipywidgets.IntSlider(value=self.value, min=self.lo, max=self.hi, step=self.step or 1)
        return ipywidgets.FloatSlider(value=self.value, min=self.lo, max=self.hi,
                                      step=self.step or (self.hi - self.lo) / 100)


def explore(fn, **sliders: Slider):
    """Redraw ``fn(**values)`` (a function returning a Figure) whenever a slider moves: ``ipywidgets.interact``.

    In headless runs (``RMLAB_HEADLESS=1``: ``rmlab reproduce`` and the tests) no widget is built and ``None`` is
    returned; call ``fn`` once with its defaults next to it so the figure also renders there.

    >>> explore(lambda tau=1.0: None, tau=Slider(-2, 2, 1.0, log=True)) is None   # the tests run headless
    True
    """
    if headless():
        return None
    import ipywidgets

    return ipywidgets.interact(fn, **{name: slider.widget() for name, slider in sliders.items()})
