# graphc: `make demo` and `make test` work on a fresh clone with only python3 present.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: deps venv demo test lint bench clean

# System packages: Graphviz (`dot`, for graphc.viz's SVG/PNG/HTML) and Debian's Chromium
# with its driver (the HTML page is tested in headless Chromium). Installed with apt only
# when a command is missing, so a second run does nothing; sudo only when not root.
# make test, make demo and .ci/run all go through it.
DEPS_CMDS := dot chromium chromedriver
DEPS_APT := graphviz chromium chromium-driver
deps:
	@missing=""; for c in $(DEPS_CMDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "make deps: missing$$missing; installing $(DEPS_APT) with apt"; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo"; fi; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEPS_APT)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: deps $(STAMP)

demo: venv
	$(PY) -m graphc.demo

# The slow tests (marked `slow`: long loops such as memory over 10,000 steps) run as a
# step of their own, with their durations printed.
test: venv
	$(PY) -m pytest -q -n 2 -m "not slow" tests
	$(PY) -m pytest -q -n 2 -m slow --durations=0 tests

# graphc bench all (docs/benchmarking.md): every suite against NumPy, PyTorch, torch.compile
# and JAX where the bench extra is installed; ARGS adds options, e.g. ARGS="--quick".
bench: venv
	$(PY) -m graphc.bench all $(ARGS)

lint: venv
	$(PY) -m ruff check graphc kernels tests

clean:
	rm -rf $(VENV) build *.egg-info
