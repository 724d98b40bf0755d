# The two commands a new machine needs: `make run` and `make test`. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5080
DATA_DIR ?= ./spruce-data

.PHONY: run test test-fast bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

run: $(STAMP)  ## embedded server, data kept in $(DATA_DIR)
	$(BIN)/spruce serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

test: $(STAMP)  ## the whole suite (what CI runs)
	$(BIN)/pytest

test-fast: $(STAMP)  ## everything except the scale tests
	$(BIN)/pytest -m "not slow"

bench: $(STAMP)  ## benchmarks (not tests); results go to bench/RESULTS.md
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache
