# Two commands do all the set-up on a fresh machine (Python 3.10+):
#   make book   install the reader's environment and build the HTML book
#   make test   install the test tools and run every test (unit, property, nbval)
# Everything installs into .venv (override with VENV=path).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: book test nbval-generic nbval-haswell execute benchmark clean exercises exercises-release exercises-autograde \
	exercises-export exercises-feedback grade book-student

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

# nbval over the book under an emulated other CPU, with a fresh Numba cache each time
# (README, "Reproducibility"): Numba compiles for another target and OpenBLAS uses
# another kernel family than this machine's. NBVAL_PATHS narrows it to some notebooks.
NBVAL_PATHS ?= book
NBVAL_CACHE ?= $(VENV)/numba-cache-profile

nbval-generic: $(VENV)/.dev
	rm -rf $(NBVAL_CACHE)-generic
	NUMBA_CPU_NAME=generic OPENBLAS_CORETYPE=Sandybridge NUMBA_CACHE_DIR=$(NBVAL_CACHE)-generic \
		$(BIN)/python -m pytest $(NBVAL_PATHS)

nbval-haswell: $(VENV)/.dev
	rm -rf $(NBVAL_CACHE)-haswell
	NUMBA_CPU_NAME=haswell OPENBLAS_CORETYPE=Haswell NUMBA_CACHE_DIR=$(NBVAL_CACHE)-haswell \
		$(BIN)/python -m pytest $(NBVAL_PATHS)

# Re-execute every chapter and store its outputs (after the package changes).
execute: $(VENV)/.reader
	$(BIN)/python tools/execute_notebooks.py

benchmark: $(VENV)/.dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf _build

# Exercises (exercises/ is the nbgrader course; see book/instructors.md).
# After writing or editing exercises/source/<chapter>/<chapter>.ipynb: check the
# solutions and the release, then regenerate and execute the book's exercise pages.
exercises: $(VENV)/.dev
	$(BIN)/python tools/grade.py validate
	$(BIN)/python tools/exercises.py book

exercises-release: $(VENV)/.dev
	$(BIN)/python tools/grade.py release

exercises-autograde: $(VENV)/.dev
	$(BIN)/python tools/grade.py autograde

exercises-export: $(VENV)/.dev
	$(BIN)/python tools/grade.py export

exercises-feedback: $(VENV)/.dev
	$(BIN)/python tools/grade.py feedback

# release, autograde exercises/submitted/, export the grades, write the feedback
grade: $(VENV)/.dev
	$(BIN)/python tools/grade.py all

# The book without the solutions of the exercises, in _build/student/_build/html
book-student: $(VENV)/.reader
	$(BIN)/python tools/fetch_mathjax.py
	$(BIN)/python tools/exercises.py student-config _build/student_config.yml
	$(BIN)/jupyter-book build . -W -n --keep-going --config _build/student_config.yml \
		--path-output _build/student
