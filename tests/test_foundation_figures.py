import io
import json
import math
import os
import stat

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from rmlab import plotting
from rmlab._io import atomic_write_json, to_jsonable
from rmlab.figures import FigureRecord

SCHEMA_KEYS = {"figure", "notebook", "seed", "quick", "data", "criteria"}
CRITERION_KEYS = {"name", "value", "op", "threshold", "passed"}


@pytest.mark.parametrize("op,value,threshold,expected", [
    ("<", 1, 2, True), ("<", 2, 2, False), ("<=", 2, 2, True), (">", 2, 2, False),
    (">=", 2, 2, True), ("==", 0.5, 0.5, True), ("==", 0.5, 0.25, False),
])
def test_check_is_exactly_value_op_threshold(op, value, threshold, expected):
    rec = FigureRecord("f", notebook="nb", seed=0, quick=True)
    assert rec.check("c", value, op, threshold) is expected
    assert rec.criteria == [{"name": "c", "value": value, "op": op, "threshold": threshold, "passed": expected}]
    assert rec.passed is expected


def test_nan_value_never_passes_and_bad_op_is_rejected():
    rec = FigureRecord("f", notebook="nb", seed=0, quick=True)
    assert not rec.check("nan", float("nan"), "<=", 1.0)
    assert rec.failures() == ["f: nan: nan <= 1.0 is false"]
    with pytest.raises(ValueError, match="op must be one of"):
        rec.check("bad", 1.0, "=>", 1.0)
    with pytest.raises(TypeError, match="must be numbers"):
        rec.check("text", "high", ">", 1.0)


def test_rechecking_a_criterion_replaces_it():
    rec = FigureRecord("f", notebook="nb", seed=0, quick=True)
    rec.check("c", 0.0, ">", 1.0)
    rec.check("c", 2.0, ">", 1.0)
    assert len(rec.criteria) == 1 and rec.passed


def test_a_quick_relaxation_is_recorded_in_quick_mode_only_and_not_counted_as_unexpected(capsys):
    from rmlab.figures import criteria_summary

    quick = FigureRecord("f", notebook="nb", seed=0, quick=True)
    full = FigureRecord("f", notebook="nb", seed=0, quick=False)
    for rec in (quick, full):
        assert not rec.check("c", 0.0, ">", 1.0, quick_relaxed="too few steps at this size")
    assert quick.criteria[0]["quick_relaxed"] == "too few steps at this size" and not quick.passed
    assert set(full.criteria[0]) == CRITERION_KEYS                      # full mode asserts it: nothing relaxed
    assert criteria_summary([quick], set()) == []
    assert criteria_summary([full], set()) == [("f", "c")]
    assert "relaxed in quick mode: too few steps at this size" in capsys.readouterr().out


def test_save_writes_png_and_json_in_the_schema(tmp_path):
    rec = FigureRecord("demo_figure", notebook="00_tour", seed=3, quick=False)
    rec.add_data(x=np.linspace(0, 1, 3), y=torch.tensor([1.0, 2.0, 3.0]), n=np.int64(3))
    rec.check("slope", np.float64(1.5), ">=", 1)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = rec.save(fig, tmp_path)
    plt.close(fig)
    record = json.loads(path.read_text())
    assert set(record) == SCHEMA_KEYS
    assert record["figure"] == "demo_figure" and record["seed"] == 3 and record["quick"] is False
    assert record["data"] == {"x": [0.0, 0.5, 1.0], "y": [1.0, 2.0, 3.0], "n": 3}
    assert [set(c) for c in record["criteria"]] == [CRITERION_KEYS]
    assert (tmp_path / "demo_figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_save_refuses_a_figure_too_wide_to_read_and_writes_nothing(tmp_path):
    rec = FigureRecord("wide_figure", notebook="00_tour", seed=0, quick=True)
    fig, _ = plotting.subplots(1, 4, width=15)          # a whole figure's width given per panel: 60 in
    with pytest.raises(ValueError, match="60 in wide.*per panel"):
        rec.save(fig, tmp_path)
    assert list(tmp_path.iterdir()) == []
    fig, _ = plotting.subplots(1, 4, width=3.8)
    rec.save(fig, tmp_path)
    assert (tmp_path / "wide_figure.png").exists()


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)], ids=lambda m: f"{m:04o}")
def test_saved_figure_files_get_the_mode_of_the_process_umask(tmp_path, umask, mode):
    rec = FigureRecord("shared_figure", notebook="00_tour", seed=0, quick=True)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    before = os.umask(umask)
    try:
        rec.save(fig, tmp_path)
        rec.save(fig, tmp_path)     # replacing an existing file gives the same mode
    finally:
        os.umask(before)
        plt.close(fig)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"shared_figure.png": mode, "shared_figure.json": mode}


def test_json_is_strict_and_failed_writes_leave_nothing(tmp_path):
    assert to_jsonable({"a": [math.inf, 1]}) == {"a": [None, 1]}
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "x.json", {"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_house_figures_are_closed_but_still_drawable():
    from rmlab import plotting

    fig, ax = plotting.subplots(1, 2)
    ax[0].plot([0, 1], [0, 1])
    assert not plt.fignum_exists(fig.number)     # the inline backend will not show it a second time
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_explore_shows_one_view_and_each_figure_once_live_and_nothing_headless(monkeypatch):
    import IPython.display
    import ipywidgets
    from matplotlib.figure import Figure
    from rmlab.plotting import SLIDER_WIDTH, Slider, explore

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)

    def draw(tau=1.0, seed=0, width=0.5):
        fig, ax = plt.subplots()        # left open in pyplot: explore must still show it once and close it
        ax.plot([0, 1], [0, tau])
        return fig
    sliders = dict(tau=Slider(-2, 2, 1.0, log=True), seed=Slider(0, 20, 3), width=Slider(0.1, 0.9, 0.5, step=0.1))
    monkeypatch.setenv("RMLAB_HEADLESS", "1")
    assert explore(draw, **sliders) is None and shown == []
    monkeypatch.delenv("RMLAB_HEADLESS")
    explore(draw, **sliders)
    views = [x for x in shown if isinstance(x, ipywidgets.interactive)]
    figures = [x for x in shown if isinstance(x, Figure)]
    assert len(views) == 1 and len(figures) == 1 and len(shown) == 2
    assert not plt.fignum_exists(figures[0].number)
    controls = [w for w in views[0].children if hasattr(w, "value")]
    assert {type(w).__name__: w.value for w in controls} == {"FloatLogSlider": 1.0, "IntSlider": 3, "FloatSlider": 0.5}
    assert {(w.layout.width, w.style.description_width, w.continuous_update) for w in controls} == \
        {(SLIDER_WIDTH, "7ch", False)}      # one width for all, labels of up to 5 characters in full
    controls[0].value = 10.0
    assert len([x for x in shown if isinstance(x, Figure)]) == 2
