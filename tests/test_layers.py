"""The package's layer order: no module imports a later layer (function-local imports included)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rmlab"
# 0: private helpers, the user-error type with its validators, and the house plot style; then
# theory <- measure <- lm <- train <- world (integrations beside it) <- command line, reproduce and figure records
LAYERS = {"_io": 0, "_headless": 0, "_threads": 0, "errors": 0, "plotting": 0,
          "theory": 1, "measure": 2, "lm": 3, "train": 4, "world": 5, "integrations": 5}
TOP = 6


def layer(module: str) -> int:
    """Layer of a dotted module name inside rmlab (``rmlab`` itself and its top-level modules are the top)."""
    parts = module.split(".")
    return LAYERS.get(parts[1], TOP) if len(parts) > 1 else TOP


def rmlab_imports(path: Path) -> set[str]:
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "rmlab":
            imported |= {f"rmlab.{alias.name}" for alias in node.names}     # from rmlab import plotting
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module)
    return {name for name in imported if name == "rmlab" or name.startswith("rmlab.")}


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_subpackage_has_a_layer():
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()} <= set(LAYERS)
    assert {p.stem for p in PACKAGE.glob("_*.py") if p.stem not in ("__init__", "__main__")} <= set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_later_layer(path):
    name = ".".join(("rmlab",) + path.relative_to(PACKAGE).with_suffix("").parts)
    later = sorted(m for m in rmlab_imports(path) if layer(m) > layer(name))
    assert not later, f"{name} (layer {layer(name)}) imports later layers: {later}"


def test_the_check_sees_a_violation(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from rmlab import cli\ndef f():\n    from rmlab.world import build_world\n")
    assert rmlab_imports(module) == {"rmlab.world", "rmlab.cli"}
    assert layer("rmlab.world") > layer("rmlab.lm.score") and layer("rmlab.cli") > layer("rmlab.world.build")
