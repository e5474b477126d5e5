# Two entry points: `make demo` and `make test` (`make test-fast` skips slow and browser tests).
# Both set up .venv first, once: the install
# re-runs only when pyproject.toml changes (or the stamp is deleted).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.hub-installed
TORCH := torch==2.13.0
# Where a CPU build of torch is not found by plain pip (it is on hub's machines), point this at
# a CPU wheel index, e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=
export HUB_BROWSER_PATH := $(CHROMIUM)

.PHONY: demo test test-fast install browser lint bench peers doctor clean

demo: install
	$(VENV)/bin/hub demo

test: install browser
	$(VENV)/bin/ruff check hub_kernel widgets tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hub doctor --strict
	$(PY) -m pytest tests notebooks --nbval-lax $(PYTEST_ARGS)

# The tests not marked slow or browser (a few minutes), after the same set-up and linters.
test-fast: install browser
	$(VENV)/bin/ruff check hub_kernel widgets tests benchmarks
	$(VENV)/bin/lint-imports
	$(PY) -m pytest tests -m "not slow and not browser" $(PYTEST_ARGS)

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: an unpinned resolve (through stable-baselines3) pulls CUDA wheels.
$(STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

# Browser tests use Debian's Chromium, never a downloaded one; the PDF report tests render pages
# with poppler's pdftoppm; the tests of hub beyond one machine start real redis-server and
# PostgreSQL servers (Debian's redis-server and postgresql). Installed when missing and we may
# (root, apt); otherwise the run fails with the command to run: nothing is skipped.
browser:
	@missing=""; \
	[ -x "$(CHROMIUM)" ] || missing="$$missing chromium"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  if command -v apt-get >/dev/null; then \
	    echo "installing$$missing with apt-get"; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing \
	      >/dev/null || true; \
	  fi; \
	fi; \
	if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "Chromium is missing at $(CHROMIUM): run 'sudo apt-get install chromium'" \
	       "or set CHROMIUM=/path/to/chromium" >&2; exit 1; \
	fi; \
	if ! command -v pdftoppm >/dev/null; then \
	  echo "pdftoppm is missing: run 'sudo apt-get install poppler-utils'" >&2; exit 1; \
	fi; \
	if ! command -v redis-server >/dev/null; then \
	  echo "redis-server is missing: run 'sudo apt-get install redis-server'" >&2; exit 1; \
	fi; \
	if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "PostgreSQL is missing: run 'sudo apt-get install postgresql'" >&2; exit 1; \
	fi

lint: install
	$(VENV)/bin/ruff check hub_kernel widgets tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Peers that cannot share hub's environment get their own (ydata-profiling needs pandas < 3)
PEERS := .venv-peers
$(PEERS)/ydata/.installed:
	$(PYTHON) -m venv $(PEERS)/ydata
	$(PEERS)/ydata/bin/pip install -q ydata-profiling==4.18.4 pyarrow
	touch $@

peers: $(PEERS)/ydata/.installed

bench: install browser peers
	$(PY) benchmarks/insights.py
	$(PY) benchmarks/first_paint.py
	$(PY) benchmarks/stream.py
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/layout_agent.py
	$(PY) benchmarks/automl.py  # about an hour: 7 datasets x 5 folds x (10 s + 30 s) x 2
	$(PY) benchmarks/search_scaling.py  # about 10 minutes
	$(PY) benchmarks/out_of_core.py  # about 3 minutes, 1.2 GB of generated Parquet in a tmp dir

doctor: install
	$(VENV)/bin/hub doctor

clean:
	rm -rf $(VENV) $(PEERS) .pytest_cache .mypy_cache .ruff_cache test-artifacts
