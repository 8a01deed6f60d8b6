"""The code style the project keeps (``[tool.ruff]`` in pyproject.toml): pyflakes, pycodestyle, import order."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "rmlab", "tests", "benchmarks",
                             "conftest.py", ".ci"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
