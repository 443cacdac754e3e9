# Two commands do all set-up on a fresh machine (Python 3.11+):
#   make demo   -- create .venv, install rmtjax, run the default experiment (results/demo/)
#   make test   -- create/update .venv with the dev extras, run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?= -n 2

.PHONY: demo test test-slow lint format bench bench-quick package docs docs-figures browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/rmtjax run configs/demo.yaml --out results/demo

test: $(VENV)/.installed-dev browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# tests/test_docs.py opens the built site in headless Chromium (skipped when it is absent):
# install Debian's package when running as root and it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get install -y chromium >/dev/null 2>&1 || (apt-get update >/dev/null \
	  && apt-get install -y chromium >/dev/null)) || echo "no chromium: the docs browser test skips"; }

# The documentation site (build/site): small figures, then mkdocs with warnings as errors.
docs-figures: $(VENV)/.installed-dev
	$(BIN)/python docs/gen_figures.py

docs: docs-figures
	$(BIN)/mkdocs build --strict

test-slow: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks.run --blas-threads 1 --out benchmarks/out/results.json

bench-quick: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks.run --quick --blas-threads 1 --out benchmarks/out/results-quick.json

# Build the sdist and wheel, check their metadata, install the wheel into a clean venv, import it.
package: $(VENV)/.installed-dev
	rm -rf dist $(VENV)-wheel
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(PYTHON) -m venv $(VENV)-wheel
	$(VENV)-wheel/bin/python -m pip install --quiet dist/*.whl
	cd / && $(CURDIR)/$(VENV)-wheel/bin/python -c "import rmtjax, rmtjax.graphs, rmtjax.spectra, \
	  rmtjax.nets, rmtjax.experiments, rmtjax.cli; print('installed wheel: rmtjax', rmtjax.__version__)"

clean:
	rm -rf $(VENV) $(VENV)-wheel dist build results benchmarks/out .pytest_cache .ruff_cache
