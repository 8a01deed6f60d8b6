"""Test-wide settings: offline, quick notebooks, headless plots, figures written to a temporary folder."""

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["RMLAB_QUICK"] = "1"
os.environ["MPLBACKEND"] = "Agg"
os.environ.setdefault("RMLAB_FIGURES_DIR", tempfile.mkdtemp(prefix="rmlab-test-figures-"))
os.environ.setdefault("RMLAB_CACHE", tempfile.mkdtemp(prefix="rmlab-test-cache-"))
