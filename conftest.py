"""Test-wide settings: offline, quick notebooks, headless plots, figures written to a temporary folder."""

import os
import tempfile

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


def pytest_collection_modifyitems(items):
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT_S
