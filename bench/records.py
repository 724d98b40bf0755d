"""Records API benchmark (issue 6): integrated indexes through the official SDK against
``spruce serve`` over HTTP, for the packaged dense (all-minilm-l6-v2) and sparse
(splade-tiny-msmarco) models.

- corpus: ``--n`` WordNet noun synsets (``/usr/share/wordnet/data.noun``, Debian's
  ``wordnet-base``), seeded sample; a record is ``{"_id", "chunk_text": "lemmas: gloss",
  "category": lexicographer file}``. Without WordNet: first paragraphs of the Python standard
  library's docstrings (real English, offline everywhere).
- upsert: ``upsert_records`` in requests of 96 (the limit), one client thread; records/s
  includes embedding (the server embeds every text), after a one-record warm-up that loads
  the model;
- search: ``--queries`` text searches, top_k 10, each query the lemmas of one corpus record
  (so hit@10 of that record is a retrieval sanity check); p50 / p99 latency without rerank,
  with rerank (top_k 10 → top_n 5, ``all-minilm-l6-v2-cosine-rerank`` over ``chunk_text``),
  and on the sparse index with ``match_terms`` (the query's first word).

Appends a dated section to ``bench/RESULTS.md`` (``--no-append`` prints only).
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import re
import socket
import statistics
import sysconfig
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from pinecone import Pinecone
from results import machine, publish  # bench/ is on sys.path when a script runs
from run import API_KEY, start_server

DENSE, SPARSE, RERANK = "all-minilm-l6-v2", "splade-tiny-msmarco", "all-minilm-l6-v2-cosine-rerank"
WORDNET = Path("/usr/share/wordnet/data.noun")
NOUN_FILES = (
    "noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body noun.cognition noun.communication "
    "noun.event noun.feeling noun.food noun.group noun.location noun.motive noun.object noun.person "
    "noun.phenomenon noun.plant noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time"
).split()  # WordNet lexicographer files 03-28, in order
BATCH = 96


def wordnet_records(n: int, seed: int) -> list[dict]:
    synsets = []
    for line in WORDNET.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(" ") or "|" not in line:
            continue  # the license header
        head, gloss = line.split("|", 1)
        fields = head.split()
        offset, lexfile, count = fields[0], int(fields[1]), int(fields[3], 16)
        lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(count)]
        synsets.append({"_id": f"n{offset}", "chunk_text": f"{', '.join(lemmas)}: {gloss.strip()}",
                        "category": NOUN_FILES[lexfile - 3], "_query": " ".join(lemmas[:2])})
    return random.Random(seed).sample(synsets, n)


def docstring_records(n: int, seed: int) -> list[dict]:
    out = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                doc = ast.get_docstring(node)
                text = " ".join(doc.split("\n\n")[0].split()) if doc else ""
                if 8 <= len(text.split()) <= 80 and ">>>" not in text:
                    out.append({"_id": f"{path.stem}.{node.name}.{node.lineno}", "chunk_text": text,
                                "category": path.stem, "_query": " ".join(text.split()[:6])})
    return random.Random(seed).sample(out, min(n, len(out)))


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def bench_index(pc: Pinecone, model: str, records: list[dict], queries: list[dict]) -> dict:
    name = "bench-" + model.split("-")[0]
    pc.create_index_for_model(name=name, cloud="aws", region="us-east-1",
                              embed={"model": model, "field_map": {"text": "chunk_text"}})
    idx = pc.Index(host=pc.describe_index(name).host)
    docs = [{k: v for k, v in r.items() if k != "_query"} for r in records]
    idx.upsert_records("warmup", docs[:1])  # loads the model in the server
    t0 = time.perf_counter()
    for i in range(0, len(docs), BATCH):
        idx.upsert_records("bench", docs[i:i + BATCH])
    upsert_s = time.perf_counter() - t0
    out = {"rate": len(docs) / upsert_s, "upsert_s": upsert_s}
    found = 0
    for q in queries:  # hit@10 pass; also the warm-up of the search path
        hits = idx.search(namespace="bench", query={"inputs": {"text": q["_query"]}, "top_k": 10},
                          fields=["category"]).result.hits
        found += q["_id"] in {h["_id"] for h in hits}
    out["hit10"] = found / len(queries)
    it = iter(queries * 3)
    out["search"] = timed(lambda: idx.search(namespace="bench", query={
        "inputs": {"text": next(it)["_query"]}, "top_k": 10}, fields=["category"]), len(queries))
    out["rerank"] = timed(lambda: idx.search(namespace="bench", query={
        "inputs": {"text": next(it)["_query"]}, "top_k": 10},
        rerank={"model": RERANK, "rank_fields": ["chunk_text"], "top_n": 5}), len(queries))
    if model == SPARSE:
        def with_terms() -> None:
            q = next(it)["_query"]
            idx.search(namespace="bench", query={"inputs": {"text": q}, "top_k": 10,
                                                 "match_terms": {"strategy": "all", "terms": q.split()[:1]}})
        out["terms"] = timed(with_terms, len(queries))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()

    source = "WordNet 3.0 noun glosses" if WORDNET.exists() else "Python stdlib docstrings"
    records = (wordnet_records if WORDNET.exists() else docstring_records)(args.n, args.seed)
    queries = random.Random(args.seed + 1).sample(records, min(args.queries, len(records)))
    words = [len(re.findall(r"\w+", r["chunk_text"])) for r in records]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    load_before = os.getloadavg()[0]
    proc = start_server(tempfile.mkdtemp(prefix="spruce-bench-records-"), port)
    try:
        pc = Pinecone(api_key=API_KEY, host=f"http://127.0.0.1:{port}")
        results = {model: bench_index(pc, model, records, queries) for model in (DENSE, SPARSE)}
    finally:
        proc.terminate()
        proc.wait(timeout=60)

    where = (f"{machine()}, 1-min load "
               f"average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after (other work on the machine)")
    lines = [
        f"\n## {date.today().isoformat()} — Records API: upsert_records and search (integrated indexes)",
        (f"Machine: {where}; `bench/records.py --n {args.n} --queries {args.queries} --seed {args.seed}`; "
         f"`spruce serve` and the SDK 7.x client on the same machine, one client thread. Corpus: {len(records)} "
         f"{source} (median {statistics.median(words):.0f} words per text); queries: the first lemmas of "
         f"{len(queries)} corpus records."),
        "",
        ("| index model | upsert_records (96/request, incl. embedding) | hit@10 of the queried record "
         "| search p50 / p99 | search + rerank (top 10 → 5) p50 / p99 | with match_terms p50 / p99 |"),
        "|---|---|---|---|---|---|",
    ]
    for model, r in results.items():
        terms = f"{pct(r['terms'], 50):.1f} / {pct(r['terms'], 99):.1f} ms" if "terms" in r else "n/a (dense)"
        lines.append(
            f"| {model} | {r['rate']:,.0f} records/s ({r['upsert_s']:.1f} s) | {r['hit10']:.2f} "
            f"| {pct(r['search'], 50):.1f} / {pct(r['search'], 99):.1f} ms "
            f"| {pct(r['rerank'], 50):.1f} / {pct(r['rerank'], 99):.1f} ms | {terms} |")
    publish("\n".join(lines) + "\n", append=not args.no_append)


if __name__ == "__main__":
    main()
