# Two commands do all the set-up on a fresh machine (each creates .venv if it is missing):
#   make figures   regenerate every figure on the embedded default world (no network, no hub) into figures/
#   make test      run the whole test suite: unit tests + every notebook in quick mode + the notebooks in
#                  JupyterLab under headless Chromium (installs Debian's chromium + chromium-driver if missing)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rmlab-installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
CHROMIUM := /usr/bin/chromium /usr/bin/chromedriver
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

PINS ?=   # extra requirements installed with the package, e.g. the lowest versions of the tested range

.PHONY: figures figures-quick test test-fresh test-lowest notebooks bench lab browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' $(PINS)
	touch $(STAMP)

figures: $(STAMP)
	$(BIN)/rmlab reproduce

figures-quick: $(STAMP)
	$(BIN)/rmlab reproduce --quick

test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest

# CI's view: the suite in a fresh clone of HEAD with a new virtual environment, resolved from pyproject's ranges today
test-fresh:
	d=$$(mktemp -d) && git clone -q . $$d && $(MAKE) -C $$d test

# the same with the lowest versions of the tested range of torch, transformers, tokenizers, datasets and scikit-learn
test-lowest:
	d=$$(mktemp -d) && git clone -q . $$d && $(MAKE) -C $$d test PINS="$$($(PYTHON) .ci/lowest_pins.py)"

notebooks: $(STAMP)  ## regenerate each notebooks/*.ipynb from its py:percent source (no outputs; notebooks/_*.py are drafts)
	$(BIN)/jupytext --to ipynb $(filter-out notebooks/_%,$(wildcard notebooks/*.py))

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b --quick || exit 1; done

lab: $(STAMP)
	$(BIN)/jupyter lab $(if $(SUDO),,--allow-root) notebooks/

browser: $(CHROMIUM)  ## headless Chromium and its driver, for tests/test_browser_notebooks.py (a no-op once installed)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
