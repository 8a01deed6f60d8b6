"""Named figures and the numbers behind them.

Every figure of rmlab has a name. A notebook builds one :class:`FigureRecord` per figure, stores the plotted series and
inputs with :meth:`FigureRecord.add_data`, states each pass criterion with :meth:`FigureRecord.check`, and calls
:meth:`FigureRecord.save`, which writes ``<name>.png`` and ``<name>.json`` into the figures folder
(``$RMLAB_FIGURES_DIR``, default ``figures/`` at the repository root). The JSON has one schema for all figures::

    {"figure": str, "notebook": str, "seed": int, "quick": bool,
     "data": {...the plotted series and inputs...},
     "criteria": [{"name": str, "value": number, "op": "<"|"<="|">"|">="|"==", "threshold": number, "passed": bool,
                   "quick_relaxed": str (only in quick mode, only for a criterion quick mode cannot meet at its size)}]}

where ``passed`` is exactly ``value op threshold``. A criterion with ``quick_relaxed`` is one the notebook's full mode
asserts; the string says why quick mode may miss it.

>>> rec = FigureRecord("demo", notebook="00_tour", seed=0, quick=True)
>>> rec.check("variance is positive", 0.25, ">", 0.0)
True
>>> rec.passed, rec.failures()
(True, [])
"""

from __future__ import annotations

import io
import math
import operator
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmlab._io import atomic_write_bytes, atomic_write_json, to_jsonable

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}
REPO_ROOT = Path(__file__).resolve().parent.parent


def figures_dir() -> Path:
    """Where figures go: ``$RMLAB_FIGURES_DIR`` if set (``rmlab reproduce --out`` sets it), else ``<repo>/figures``."""
    return Path(os.environ.get("RMLAB_FIGURES_DIR", REPO_ROOT / "figures"))


def quick_mode() -> bool:
    """True when ``RMLAB_QUICK=1``: notebooks then pick their small configuration (what CI runs)."""
    return os.environ.get("RMLAB_QUICK", "0") == "1"


MAX_WIDTH_INCHES = 20      # a row of five panels of 4 in; wider pages cannot be read on a screen


@dataclass
class FigureRecord:
    """The numbers behind one named figure, and its pass criteria."""

    figure: str
    notebook: str
    seed: int
    quick: bool
    data: dict[str, Any] = field(default_factory=dict)
    criteria: list[dict[str, Any]] = field(default_factory=list)

    def add_data(self, **series: Any) -> None:
        """Store plotted series or inputs under their names (numpy / torch values are converted to JSON)."""
        self.data.update({name: to_jsonable(value) for name, value in series.items()})

    def check(self, name: str, value: float, op: str, threshold: float, *, quick_relaxed: str | None = None) -> bool:
        """Record the criterion ``value op threshold`` and return whether it holds (NaN never passes).

        ``quick_relaxed``: why quick mode cannot meet this criterion at its size, for one that full mode asserts. In
        quick mode it is stored with the criterion (the JSON says so) and :func:`criteria_summary` does not count its
        failure; in full mode it is ignored.

        >>> rec = FigureRecord("demo", notebook="00_tour", seed=0, quick=True)
        >>> rec.check("gain", 0.1, ">", 0.5, quick_relaxed="40 steps instead of 400")
        False
        >>> rec.criteria[0]["quick_relaxed"]
        '40 steps instead of 400'
        """
        if op not in OPS:
            raise ValueError(f"criterion {name!r}: op must be one of {sorted(OPS)}, got {op!r}")
        value, threshold = _number(name, value), _number(name, threshold)
        passed = not math.isnan(value) and bool(OPS[op](value, threshold))
        criterion = {"name": name, "value": value, "op": op, "threshold": threshold, "passed": passed}
        if self.quick and quick_relaxed:
            criterion["quick_relaxed"] = quick_relaxed
        self.criteria = [c for c in self.criteria if c["name"] != name] + [criterion]
        return passed

    @property
    def passed(self) -> bool:
        return all(c["passed"] for c in self.criteria)

    def failures(self) -> list[str]:
        return [f"{self.figure}: {c['name']}: {c['value']} {c['op']} {c['threshold']} is false"
                for c in self.criteria if not c["passed"]]

    def to_dict(self) -> dict[str, Any]:
        return {"figure": self.figure, "notebook": self.notebook, "seed": self.seed, "quick": self.quick,
                "data": self.data, "criteria": self.criteria}

    def save(self, fig, out_dir: str | os.PathLike | None = None) -> Path:
        """Write ``<name>.png`` (from the matplotlib ``fig``) and ``<name>.json``; return the JSON path. Refuses a
        figure wider than :data:`MAX_WIDTH_INCHES` (nothing written): the usual cause is a whole figure's width given
        to :func:`rmlab.plotting.subplots`, which takes it per panel."""
        width = fig.get_size_inches()[0]
        if width > MAX_WIDTH_INCHES:
            raise ValueError(f"figure {self.figure!r} is {width:.0f} in wide (at most {MAX_WIDTH_INCHES}): "
                             "rmlab.plotting.subplots takes width per panel, not for the whole figure")
        out = Path(out_dir) if out_dir is not None else figures_dir()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=130, bbox_inches="tight")
        atomic_write_bytes(out / f"{self.figure}.png", buf.getvalue())
        return atomic_write_json(out / f"{self.figure}.json", self.to_dict())


def criteria_summary(records, expected_failures) -> list[tuple[str, str]]:
    """Print every criterion of ``records`` (PASS/FAIL, its measured value and threshold) and which of the
    ``expected_failures`` -- ``(figure, criterion name)`` pairs a notebook records but does not assert -- pass now;
    return the failing criteria that are neither expected to fail nor relaxed in quick mode (``quick_relaxed``, see
    :meth:`FigureRecord.check`); a notebook asserts that there are none.

    >>> rec = FigureRecord("demo", notebook="00_tour", seed=0, quick=True)
    >>> _ = rec.check("a", 1.0, ">", 0.0), rec.check("b", 0.5, ">", 0.8)
    >>> _ = rec.check("c", 0, ">", 1, quick_relaxed="size")
    >>> criteria_summary([rec], {("demo", "b")})
    PASS  demo: a: 1 > 0
    FAIL  demo: b: 0.5 > 0.8
    FAIL  demo: c: 0 > 1 (relaxed in quick mode: size)
    expected to fail, passing now: none
    []
    """
    outcomes, relaxed = {}, set()
    for rec in records:
        for c in rec.criteria:
            note = f" (relaxed in quick mode: {c['quick_relaxed']})" if "quick_relaxed" in c else ""
            print(f"{'PASS' if c['passed'] else 'FAIL'}  {rec.figure}: {c['name']}: {c['value']:.4g} {c['op']} "
                  f"{c['threshold']:g}{note}")
            outcomes[(rec.figure, c["name"])] = c["passed"]
            if note:
                relaxed.add((rec.figure, c["name"]))
    print("expected to fail, passing now:", sorted(k for k in expected_failures if outcomes.get(k)) or "none")
    return [k for k, passed in outcomes.items() if not passed and k not in expected_failures | relaxed]


def _number(name: str, x: Any) -> float:
    x = to_jsonable(x)
    if x is None:
        return math.nan
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"criterion {name!r}: value and threshold must be numbers, got {x!r}")
    return float(x)
