# The two commands a new machine needs: `make run` and `make test`. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The latest pinecone SDK (10.x, API 2026-07) cannot share a venv with 7.x (API 2025-04).
LATEST := .venv-sdk-latest
LATEST_STAMP := $(LATEST)/.installed
HOST ?= 127.0.0.1
PORT ?= 5080
DATA_DIR ?= ./spruce-data

.PHONY: run test test-fast bench bench-sparse bench-handlers clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[aws,test,sdk7,bench]'
	touch $(STAMP)

$(LATEST_STAMP): pyproject.toml
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/pip install --quiet --upgrade pip
	$(LATEST)/bin/pip install --quiet -e '.[test,sdk-latest]'
	touch $(LATEST_STAMP)

run: $(STAMP)  ## embedded server, data kept in $(DATA_DIR)
	$(BIN)/spruce serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

test: $(STAMP) $(LATEST_STAMP)  ## the whole suite (what CI runs): SDK 7.x, then the SDK scenarios on 10.x
	$(BIN)/pytest
	$(LATEST)/bin/pytest tests/sdk/test_sdk_scenarios.py

test-fast: $(STAMP)  ## everything except the scale tests
	$(BIN)/pytest -m "not slow"

bench: $(STAMP)  ## benchmarks (not tests); results go to bench/RESULTS.md
	$(BIN)/python bench/run.py

bench-sparse: $(STAMP)  ## sparse query benchmark (50k Zipfian documents); appends to bench/RESULTS.md
	$(BIN)/python bench/sparse.py

bench-handlers: $(STAMP)  ## Lambda handlers: cold import times, data-plane request overhead; appends to bench/RESULTS.md
	$(BIN)/python bench/handlers.py

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache
