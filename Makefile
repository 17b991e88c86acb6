# Two entry points for a fresh machine: `make demo` and `make test`. Both install first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Offline machines (CI, development) seed the asset cache from here; elsewhere assets are downloaded.
SHARED_ASSETS ?= ../shared/assets

.PHONY: install assets browser demo test test-fast lint bench clean

# torch is installed first and pinned: a bare `torch` requirement would pull the newest CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[pipeline,dev,ray]'
	touch $(STAMP)

install: $(STAMP)

assets: install
	@if [ -d "$(SHARED_ASSETS)" ]; then \
		$(BIN)/cyclist-dataset assets fetch --from "$(SHARED_ASSETS)"; \
	else \
		$(BIN)/cyclist-dataset assets fetch; \
	fi

# The labelling app's browser tests drive Debian's chromium through Playwright (a browser download
# by `playwright install` is never needed, nor possible offline).
browser:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
		else echo "the browser tests need chromium: sudo apt-get install -y chromium" >&2; exit 1; fi; }

demo: assets
	$(BIN)/cyclist-dataset run pipelines/demo.toml

# Everything CI runs: lint, then every tier (unit, integration, e2e) on the real footage and models.
test: lint assets browser
	$(BIN)/pytest

# The unit tier: synthetic data only, no assets needed (an empty cache is enforced), ~50 s.
test-fast: install
	$(BIN)/pytest tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: assets
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/ray_executor.py
	$(BIN)/python benchmarks/anonymize.py
	$(BIN)/python benchmarks/long_video.py
	$(BIN)/python benchmarks/annotate.py
	$(BIN)/python benchmarks/evaluate.py
	$(BIN)/python benchmarks/tracking.py

clean:
	rm -rf $(VENV) workspace *.egg-info
