"""Headless notebook runs: no ipywidgets.

``rmlab reproduce`` and the test suite execute notebooks with ``RMLAB_HEADLESS=1``. There nothing may create an
ipywidget (an explorer's sliders, ``tqdm.auto``'s notebook progress bar): a headless executor can block forever on a
cell whose widget comm messages it does not answer (jupyter/nbclient#312). Progress bars are then plain text on
stderr, and explorers are not built (their static default call still draws the figure).
"""

from __future__ import annotations

import os


def headless() -> bool:
    return os.environ.get("RMLAB_HEADLESS") == "1"


if headless():
    from tqdm.std import tqdm
else:
    from tqdm.auto import tqdm

__all__ = ["headless", "tqdm"]
