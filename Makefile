# Two commands set everything up (make install), one runs a real sweep (make demo), one the tests (make test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?=
SHARED_DATA := ../shared/datasets/clothing-small
DEMO_DATA_DIR := .data/clothing-dataset-small
DEMO_CACHE := .cache/data

.PHONY: install test test-fast demo bench clean

install: $(STAMP)

# Idempotent: re-runs only when pyproject.toml changes. torch/torchvision are pinned to the pair that
# ships on this project's machines, so pip never fetches a different multi-GB build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# Lint first (ruff: pyflakes, bugbear, pyupgrade, import order; configured in pyproject.toml), then the tests.
test: install
	$(PY) -m ruff check .
	$(PY) -m pytest -q --durations=20

# The unit tests alone: everything not marked `integration` (Ray, subprocess sweeps, Chromium, the S3 server;
# tests/conftest.py marks users of the shared sweep and Ray fixtures). CI runs `make test`, never this alone.
test-fast: install
	$(PY) -m ruff check .
	$(PY) -m pytest -q -m "not integration"

demo: install
	@data="$$($(MAKE) --no-print-directory -s demo-data DATA='$(DATA)')" || exit 2; \
	$(PY) -m data_pipeline.prepare "$$data" --out $(DEMO_CACHE) --image-size 112 --max-per-class 120 && \
	$(PY) -m search.run --space configs/demo.yaml --data "$$data"

# Prints the path of the demo data: DATA=, else the shared copy, else a clone of the public dataset.
.PHONY: demo-data
demo-data:
	@if [ -n "$(DATA)" ]; then \
		test -d "$(DATA)" || { echo "make demo: DATA=$(DATA) is not a directory" >&2; exit 2; }; \
		echo "$(DATA)"; \
	elif [ -d "$(SHARED_DATA)" ]; then echo "$(SHARED_DATA)"; \
	elif [ -d "$(DEMO_DATA_DIR)" ]; then echo "$(DEMO_DATA_DIR)"; \
	elif git clone --quiet --depth 1 https://github.com/alexeygrigorev/clothing-dataset-small $(DEMO_DATA_DIR) >&2; then \
		echo "$(DEMO_DATA_DIR)"; \
	else \
		echo "make demo: no data found; pass DATA=/path/to/images (ImageFolder tree, or train/validation/test tree), or give this machine internet to clone alexeygrigorev/clothing-dataset-small" >&2; exit 2; \
	fi

bench: install
	$(PY) -m benchmarks.run_all

clean:
	rm -rf $(VENV) .cache .pytest_cache
