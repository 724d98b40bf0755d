"""Inference API benchmark (issue 6): embed throughput and rerank latency of the packaged
all-MiniLM-L6-v2 (int8 ONNX on onnxruntime), and sparse embed throughput of the packaged
SPLADE-tiny-msmarco (numpy), on this CPU.

- cold load: first ``onnx_minilm.get()`` in this process (imports onnxruntime + tokenizers,
  opens the session);
- embed: ``--texts`` short English sentences (seeded, 8–16 words), timed (a) through the
  service as the API does it, in requests of 96 inputs (the model's batch limit), and (b)
  straight through the model port in one call; texts/s is the median of ``--repeat`` runs;
- rerank: 1 query × ``--docs`` documents through the service (each request embeds the query
  and the documents), ``--iterations`` requests after a warm-up; p50 / p99 latency;
- sparse: the first ``--sparse-texts`` of the same sentences, and as many ~100-word passages,
  through the service in requests of 96 (texts/s, median of ``--repeat``), after the cold
  load of the SPLADE weights (safetensors) and tokenizer.

Appends a dated section to ``bench/RESULTS.md`` (``--no-append`` prints only).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import date

from spruce.inference import onnx_minilm, splade
from spruce.inference.models import EMBED_MODEL, RERANK_MODEL, SPARSE_MODEL
from spruce.inference.service import InferenceService
from results import machine, publish  # bench/ is on sys.path when a script runs

WORDS = (
    "the a of to and in is was for on with as by at from that this it are be has have not but or an "
    "spruce forest river city market price model data search vector index query system water energy "
    "music history science game team player school student teacher company product customer service "
    "winter summer light night morning road train car house garden tree flower animal dog cat bird "
    "grows runs builds finds reads writes opens closes moves changes falls rises shows keeps brings "
    "quickly slowly often never always quietly early late small large old new cold warm bright dark"
).split()


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "." for _ in range(n)]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--docs", type=int, default=20)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--sparse-texts", type=int, default=480)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    model = onnx_minilm.get()
    load_s = time.perf_counter() - t0
    threads = model._session.get_session_options().intra_op_num_threads
    service = InferenceService()
    texts = sentences(args.texts)
    params = {"input_type": "passage"}

    def via_service() -> int:
        tokens = 0
        for i in range(0, len(texts), 96):
            r = service.embed({"model": EMBED_MODEL, "parameters": params,
                               "inputs": [{"text": t} for t in texts[i:i + 96]]})
            tokens += r["usage"]["total_tokens"]
        return tokens

    def via_port() -> None:
        model.embed_ids([t.ids for t in model.tokenize(texts)])

    via_service()  # warm-up
    runs_service, runs_port = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        tokens = via_service()
        runs_service.append(time.perf_counter() - t)
        t = time.perf_counter()
        via_port()
        runs_port.append(time.perf_counter() - t)
    svc_rate = args.texts / statistics.median(runs_service)
    port_rate = args.texts / statistics.median(runs_port)

    q = "Which forest animals stay active in the cold winter?"
    docs = [{"text": t} for t in sentences(args.docs, seed=1)]
    body = {"model": RERANK_MODEL, "query": q, "documents": docs, "top_n": 5}
    for _ in range(10):
        service.rerank(body)
    lat = []
    for _ in range(args.iterations):
        t = time.perf_counter()
        service.rerank(body)
        lat.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    splade.get()
    sparse_load_s = time.perf_counter() - t0

    def sparse_rate(batch: list[str]) -> tuple[float, int]:
        """texts/s (median of ``--repeat``) and tokens, in requests of 96."""
        runs, tokens = [], 0
        for _ in range(args.repeat):
            tokens = 0
            t = time.perf_counter()
            for i in range(0, len(batch), 96):
                r = service.embed({"model": SPARSE_MODEL, "parameters": params,
                                   "inputs": [{"text": x} for x in batch[i:i + 96]]})
                tokens += r["usage"]["total_tokens"]
            runs.append(time.perf_counter() - t)
        return len(batch) / statistics.median(runs), tokens

    short = texts[:args.sparse_texts]
    passages = [" ".join(sentences(8, seed=100 + i)) for i in range(args.sparse_texts)]
    sparse_rate(short[:96])  # warm-up
    short_rate, short_tokens = sparse_rate(short)
    passage_rate, passage_tokens = sparse_rate(passages)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    where = (f"{machine()}, "
             f"load average {load} at the end (other processes share the cores)")
    md = (
        f"\n## {date.today().isoformat()} — Inference: packaged all-MiniLM-L6-v2 (int8 ONNX) embed and rerank, "
        f"SPLADE-tiny-msmarco (numpy) sparse embed\n"
        f"Machine: {where}; onnxruntime intra-op threads {threads}; `bench/inference.py --texts {args.texts} "
        f"--repeat {args.repeat} --docs {args.docs} --iterations {args.iterations} "
        f"--sparse-texts {args.sparse_texts}`.\n\n"
        f"Cold model load (import onnxruntime + tokenizers, open the session): {load_s * 1000:.0f} ms; "
        f"SPLADE-tiny (safetensors + tokenizer): {sparse_load_s * 1000:.0f} ms.\n\n"
        "| measurement | result |\n|---|---|\n"
        f"| embed {args.texts} short texts (8–16 words, {tokens} tokens) through the service, requests of 96 "
        f"| {svc_rate:,.0f} texts/s (median of {args.repeat}) |\n"
        f"| same texts in one call to the model port (length-sorted batches of {onnx_minilm.BATCH}) "
        f"| {port_rate:,.0f} texts/s |\n"
        f"| rerank 1 query × {args.docs} docs ({RERANK_MODEL}: embeds query + docs per request), "
        f"{args.iterations} requests | p50 {statistics.median(lat):.1f} ms, p99 {pct(lat, 99):.1f} ms |\n"
        f"| sparse embed ({SPARSE_MODEL}) {len(short)} short texts ({short_tokens} tokens) through the service, "
        f"requests of 96 | {short_rate:,.0f} texts/s |\n"
        f"| sparse embed {len(passages)} passages of ~100 words ({passage_tokens} tokens), requests of 96 "
        f"| {passage_rate:,.0f} texts/s |\n"
    )
    publish(md, append=not args.no_append)


if __name__ == "__main__":
    main()
