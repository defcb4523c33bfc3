# Two commands do all the set-up on a fresh machine (Python 3.10+):
#   make book   install the reader's environment and build the HTML book
#   make test   install the test tools and run every test (unit, property, nbval)
# Everything installs into .venv (override with VENV=path).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: book test execute benchmark clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.reader: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.reader
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

book: $(VENV)/.reader
	$(BIN)/python tools/fetch_mathjax.py
	$(BIN)/jupyter-book build . -W -n --keep-going

test: $(VENV)/.dev
	$(BIN)/python -m pytest

# Re-execute every chapter and store its outputs (after the package changes).
execute: $(VENV)/.reader
	$(BIN)/python tools/execute_notebooks.py

benchmark: $(VENV)/.dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf _build
