"""Test-wide settings: offline, quick notebooks, headless plots, figures written to a temporary folder."""

import os
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["RMLAB_QUICK"] = "1"
os.environ["MPLBACKEND"] = "Agg"
os.environ["RMLAB_HEADLESS"] = "1"      # notebooks build no ipywidgets under nbval (see rmlab._headless)
os.environ.setdefault("RMLAB_FIGURES_DIR", tempfile.mkdtemp(prefix="rmlab-test-figures-"))
os.environ.setdefault("RMLAB_CACHE", tempfile.mkdtemp(prefix="rmlab-test-cache-"))

# nbval waits a hard-coded 5 s for each output message after a cell's reply (computationalmodelling/nbval#136, #231);
# on a loaded 2-core CI machine the kernel can take longer to flush, failing a cell that ran fine. This is a transport
# timeout, not a pass criterion: the cells' own timeout stays nbval's (--nbval-cell-timeout, 2000 s).
NBVAL_OUTPUT_TIMEOUT_S = 120


# The browser test (tests/test_browser_notebooks.py) runs every notebook with an explorer through Run All Cells in
# JupyterLab, in quick mode, and fails on any cell's error, as nbval does. Where a session collects both, nbval's run of
# those notebooks is deselected, so that each notebook is executed once (the explorer notebooks are among the slowest).
BROWSER_RUN_ALL_TEST = "test_run_all_shows_each_figure_once_and_the_explorer_redraws"


def pytest_collection_modifyitems(config, items):
    nbval_cells = [item for item in items if hasattr(item, "output_timeout")]
    for cell in nbval_cells:
        cell.output_timeout = NBVAL_OUTPUT_TIMEOUT_S
    run_in_browser = {Path(item.callspec.params["path"]) for item in items
                      if getattr(item, "originalname", None) == BROWSER_RUN_ALL_TEST}
    twice = {cell for cell in nbval_cells if Path(cell.path) in run_in_browser}
    if twice:
        config.hook.pytest_deselected(items=list(twice))
        items[:] = [item for item in items if item not in twice]
