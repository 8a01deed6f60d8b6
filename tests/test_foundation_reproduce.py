"""`rmlab reproduce` end to end on throw-away notebooks (the real notebooks run under nbval)."""

import json
import os
import subprocess
import sys

import nbformat
import pytest

from rmlab.cli import main
from rmlab.errors import UserError
from rmlab.reproduce import select_notebooks

PASSING = """
import matplotlib.pyplot as plt
from rmlab.figures import FigureRecord
rec = FigureRecord("tiny_{tag}", notebook="{name}", seed=SEED, quick=QUICK)
fig, ax = plt.subplots(); ax.plot([0, 1], [0, {value}])
rec.add_data(value={value})
rec.check("value is positive", {value}, ">", 0)
rec.save(fig)
"""


def write_notebook(folder, name, value, tag=None):
    cells = [
        nbformat.v4.new_code_cell('import os\nSEED = 0\nQUICK = os.environ.get("RMLAB_QUICK", "0") == "1"',
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(PASSING.format(tag=tag or name, name=name, value=value)),
        nbformat.v4.new_code_cell("assert rec.passed, rec.failures()"),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / f"{name}.ipynb")


@pytest.fixture
def notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder, "good", 1.0)
    write_notebook(folder, "bad", -1.0)
    return folder


def test_good_notebook_writes_png_and_json_with_quick_flag(notebooks, tmp_path, capsys):
    out = tmp_path / "figs"
    code = main(["reproduce", "--quick", "--only", "good", "--out", str(out), "--notebooks", str(notebooks)])
    assert code == 0
    record = json.loads((out / "tiny_good.json").read_text())
    assert record["quick"] is True and record["notebook"] == "good"
    assert record["criteria"] == [{"name": "value is positive", "value": 1.0, "op": ">", "threshold": 0.0,
                                   "passed": True}]
    assert (out / "tiny_good.png").exists()
    assert "tiny_good" in capsys.readouterr().out


def test_the_kernels_get_the_settings_and_this_process_keeps_its_environment(notebooks, tmp_path):
    before = dict(os.environ)                                    # the suite itself runs with RMLAB_QUICK=1
    assert main(["reproduce", "--only", "good", "--out", str(tmp_path / "figs"), "--notebooks", str(notebooks)]) == 0
    assert json.loads((tmp_path / "figs" / "tiny_good.json").read_text())["quick"] is False
    assert dict(os.environ) == before


def test_failing_assert_exits_nonzero_naming_notebook_and_cell_but_keeps_numbers(notebooks, tmp_path, capsys):
    out = tmp_path / "figs"
    code = main(["reproduce", "--only", "bad", "--out", str(out), "--notebooks", str(notebooks)])
    assert code == 1
    err = capsys.readouterr().err
    assert "notebook bad failed at code cell 3 of 3" in err and "AssertionError" in err
    record = json.loads((out / "tiny_bad.json").read_text())
    assert record["criteria"][0]["passed"] is False and record["quick"] is False



def test_repeated_only_flags_add_up(notebooks, tmp_path):
    out = tmp_path / "figs"
    assert main(["reproduce", "--only", "good", "--only", "bad", "--out", str(out), "--notebooks", str(notebooks)]) == 1
    assert (out / "tiny_good.json").exists() and (out / "tiny_bad.json").exists()
    assert [p.stem for p in select_notebooks(notebooks, ["bad", "good", "bad"])] == ["bad", "good"]

def test_unknown_name_and_missing_folder_are_clear_errors(notebooks, tmp_path, capsys):
    assert main(["reproduce", "--only", "nope", "--notebooks", str(notebooks), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown notebook name(s) for --only: nope" in err and "Available: bad, good" in err
    assert main(["reproduce", "--notebooks", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "notebooks folder not found" in capsys.readouterr().err
    with pytest.raises(UserError, match="no notebooks"):
        select_notebooks(tmp_path / "figs" if (tmp_path / "figs").mkdir() is None else None, None)


def test_python_dash_m_and_help():
    result = subprocess.run([sys.executable, "-m", "rmlab", "reproduce", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "--quick" in result.stdout and "--only" in result.stdout and "--out" in result.stdout
