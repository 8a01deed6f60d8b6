"""Project-level contracts: install files agree, notebooks are paired, stripped and follow the house layout."""

import re
import runpy
import tomllib
from importlib.metadata import version
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from ipykernel.ipkernel import IPythonKernel
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# The kernelspec JupyterLab writes into an opened notebook once ipykernel answers. A notebook carrying it and the
# kernel's language_info opens without a "Select Kernel" dialog and without an unsaved-changes mark (the browser test
# checks both against the running kernel, whose Python version language_info names); notebooks/*.py headers hold them.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def test_environment_yml_installs_this_package_with_the_dev_extra():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip_section == ["-e .[dev]"]
    assert "dev" in project["project"]["optional-dependencies"]
    assert project["project"]["name"] == "rmlab"
    assert any(dep.startswith("torch==2.13.0") for dep in project["project"]["dependencies"])


RANGED = ("torch", "transformers", "tokenizers", "datasets", "scikit-learn")


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {Requirement(d).name: Requirement(d) for d in project["project"]["dependencies"]}


@pytest.mark.parametrize("name", RANGED)
def test_the_tested_range_is_bounded_on_both_sides_and_holds_the_installed_version(name):
    specifier = _requirements()[name].specifier
    operators = {s.operator for s in specifier}
    assert operators & {"==", "<", "<="} and operators & {"==", ">=", ">"}, f"{name}: {specifier} is open-ended"
    assert specifier.contains(version(name), prereleases=True), f"installed {name} {version(name)} not in {specifier}"


def test_make_test_lowest_installs_the_lower_bound_of_each_range():
    pins = runpy.run_path(str(ROOT / ".ci" / "lowest_pins.py"))["lowest_pins"]()
    assert [p.split("==")[0] for p in pins] == list(RANGED)
    for pin in pins:
        name, lowest = pin.split("==")
        assert _requirements()[name].specifier.contains(lowest), pin
    assert "lowest_pins.py" in (ROOT / "Makefile").read_text()


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"^(make \S+)\s*#", readme, flags=re.M)
    assert commands[:2] == ["make figures", "make test"]
    assert re.search(r"^make test$", ci, flags=re.M)


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_in_sync_with_its_source(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name} has outputs"
    source = path.with_suffix(".py")
    assert source.exists(), f"{source.name} (the py:percent source) is missing"
    paired = jupytext.read(source)
    assert [c.source for c in paired.cells] == [c.source for c in nb.cells], \
        f"{path.name} is out of sync with {source.name}: run `make notebooks`"
    assert nb.metadata.get("kernelspec") == KERNELSPEC, f"{path.name}: kernelspec is not {KERNELSPEC}"
    language_info = dict(nb.metadata.get("language_info", {}), version=None)
    assert language_info == dict(IPythonKernel.language_info, version=None), \
        f"{path.name}: language_info is not the one ipykernel reports"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_starts_with_parameters_and_ends_with_asserts(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first, last = code[0], code[-1]
    assert "parameters" in first.metadata.get("tags", []), "first code cell must be tagged 'parameters'"
    assert re.search(r"^SEED = ", first.source, flags=re.M) and "RMLAB_QUICK" in first.source
    assert re.search(r"^assert ", last.source, flags=re.M), "the last code cell must assert the pass criteria"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_cell_that_makes_a_figure_shows_it_by_its_last_line(path):
    """House figures are closed when made (rmlab.plotting), so a cell shows its figure only as its last expression."""
    nb = nbformat.read(path, as_version=4)
    silent = [c.source.splitlines()[0] for c in nb.cells
              if c.cell_type == "code" and re.search(r"^fig\b.*=", c.source, flags=re.M)
              and c.source.rstrip().splitlines()[-1] != "fig"]
    assert not silent, f"{path.name}: cells that make `fig` but do not end with `fig`: {silent}"
