# graphc: `make demo` and `make test` work on a fresh clone with only python3 present.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: deps venv demo test lint bench clean

# System packages later features need (Graphviz, Chromium) are installed here; none yet.
# make test, make demo and .ci/run all go through it.
deps:
	@true

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: deps $(STAMP)

demo: venv
	$(PY) -m graphc.demo

test: venv
	$(PY) -m pytest -q -n 2 tests

bench: venv
	$(PY) -m graphc.bench

lint: venv
	$(PY) -m ruff check graphc kernels tests

clean:
	rm -rf $(VENV) build *.egg-info
