# Two entry points: `make demo` and `make test`. Both set up .venv first, once: the install
# re-runs only when pyproject.toml changes (or the stamp is deleted).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.hub-installed
TORCH := torch==2.13.0
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=

.PHONY: demo test install browser lint bench doctor clean

demo: install
	$(VENV)/bin/hub demo

test: install browser
	$(VENV)/bin/ruff check hub_kernel widgets tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/hub doctor --strict
	$(PY) -m pytest tests notebooks --nbval-lax $(PYTEST_ARGS)

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: an unpinned resolve (through stable-baselines3) pulls CUDA wheels.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

# Browser tests use Debian's Chromium, never a downloaded one. Installed when missing and
# we may (root, apt); otherwise the run fails with the command to run: nothing is skipped.
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is missing at $(CHROMIUM): run 'sudo apt-get install chromium'" >&2; exit 1; \
	  fi; \
	fi

lint: install
	$(VENV)/bin/ruff check hub_kernel widgets tests benchmarks
	$(VENV)/bin/mypy

bench: install browser
	$(PY) benchmarks/first_paint.py

doctor: install
	$(VENV)/bin/hub doctor

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
