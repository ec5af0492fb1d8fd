# Two commands do everything on a fresh machine (Python >= 3.10 with pip and venv):
#   make demo   creates .venv, installs modelyard, logs the example experiment into ./modelyard.db and
#               starts the server on http://127.0.0.1:5000
#   make test   creates .venv, installs modelyard with its test dependencies and runs the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_URI ?= sqlite:///modelyard.db
PYTEST_ARGS ?=

# Stamps record what is installed; they are remade when pyproject.toml changes.
STAMP_ALL := $(VENV)/.installed-all
STAMP_DEV := $(VENV)/.installed-dev

.DEFAULT_GOAL := help
.PHONY: help demo test install dev check lint bench clean

help:
	@echo "make demo    install modelyard, log an example experiment and start the server on :5000"
	@echo "make test    install modelyard with its test dependencies and run the whole test suite"
	@echo "make check   lint (ruff) and test"
	@echo "make clean   remove $(VENV) and build leftovers"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_ALL): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[all]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(STAMP_ALL)

# The UI tests drive headless Chromium from Debian (Playwright never downloads a browser here).
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && apt-get install -y -q chromium; \
	else \
		echo "The UI tests need Chromium at $(CHROMIUM): run 'sudo apt-get install -y chromium'"; \
	fi

install: $(STAMP_ALL)

dev: $(STAMP_DEV)

demo: $(STAMP_ALL)
	$(BIN)/python examples/quickstart.py --tracking-uri $(DEMO_URI)
	$(BIN)/modelyard server --backend-store-uri $(DEMO_URI) --host 127.0.0.1 --port 5000

test: $(STAMP_DEV) $(CHROMIUM)
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests $(wildcard bench examples)
	$(BIN)/ruff format --check src tests $(wildcard bench examples)

check: lint test

bench: $(STAMP_DEV)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
