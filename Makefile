# Two commands do everything on a fresh machine:
#   make demo   installs modelyard and starts the server and UI over SQLite with an example experiment
#   make test   installs modelyard with its test dependencies and runs the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test install dev check lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e '.[all]'

$(STAMP): pyproject.toml $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)

demo: install
	$(BIN)/python examples/quickstart.py --tracking-uri sqlite:///modelyard.db
	$(BIN)/modelyard server --backend-store-uri sqlite:///modelyard.db --host 127.0.0.1 --port 5000

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

check: lint test

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
