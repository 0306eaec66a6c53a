# Entry points for people and CI. Each target installs what it needs first, so
# `make demo` and `make test` each work alone on a fresh machine.
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Python 3.12 (NautilusTrader 1.231 needs >= 3.12): `python3.12` on PATH if it runs, else pyenv's
# 3.12 (a pyenv shim named python3.12 fails when 3.12 is installed but not selected). Override
# with `make PYTHON=/path/to/python3.12 ...`.
ifeq ($(origin PYTHON), undefined)
PYTHON := $(shell for p in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12; do \
	  "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
endif

.PHONY: install demo test test-fast notebooks bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no Python 3.12 found (NautilusTrader 1.231 needs it): install python3.12 or pass PYTHON=/path/to/python3.12" >&2; exit 1; }
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m amm.demo

# Two workers, one test file each at a time (module fixtures stay in one process): the suite
# mostly runs single-threaded Nautilus engines, so 2 cores take ~0.6x the serial time.
PYTEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not slow"

# Execute every notebooks/*.ipynb top to bottom on the real data (tests/test_notebooks.py; the
# executed copies, with their plots, land in notebooks/_work/executed/).
notebooks: $(STAMP)
	$(BIN)/python -m pytest tests/test_notebooks.py -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache runs
