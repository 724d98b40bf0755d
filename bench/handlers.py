"""AWS host Lambda handlers: cold import time of each ``functions/`` module and the data-plane
handler's per-request overhead (Mangum + FastAPI routing + middlewares).

1. Each handler module is imported in fresh interpreters (cwd = repo root, the environment the
   CDK stack sets, fake credentials, an unreachable AWS endpoint so an accidental network call
   fails at once instead of reaching AWS); the subprocess times only the import with
   ``time.perf_counter`` and reports whether LanceDB / pyarrow came along. ``python -c pass``
   gives the interpreter start-up baseline; ``-X importtime`` names the slowest top-level
   packages for the data plane and the query executor.
2. In-process: the data-plane app as ``functions/data_plane.py`` builds it, but over the
   embedded engine (``open_local``), invoked with API Gateway HTTP API v2 events for a fetch
   and a top-k 10 query, against the same calls made on the engine directly.

Run: ``make bench-handlers`` or ``python bench/handlers.py``. Appends a dated section to
``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from results import machine, publish  # bench/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ("control_plane", "data_plane", "index_builder", "query_executor", "workflow_task")
API_HANDLERS = ("control_plane", "data_plane")
IMPORTTIME_HANDLERS = ("data_plane", "query_executor")
KEY = "bench-key"
DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"

PROBE = """\
import json, sys, time
t0 = time.perf_counter()
import functions.{name}
t1 = time.perf_counter()
print(json.dumps({{"ms": (t1 - t0) * 1e3, "lancedb": "lancedb" in sys.modules,
                  "pyarrow": "pyarrow" in sys.modules, "modules": len(sys.modules)}}))
"""


# --------------------------------------------------------------------------- cold imports

def handler_env(efs_root: Path) -> dict[str, str]:
    """What the CDK stack gives the functions, plus fake credentials and a dead endpoint."""
    from spruce.storage.aws_tables import TableNames

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SPRUCE_", "PYTHON"))}
    env.update(TableNames("spruce-catalog", "spruce-namespaces", "spruce-manifests", "spruce-log").env())
    env.update({
        "SPRUCE_BUCKET": "spruce-bench-bucket", "SPRUCE_EXECUTOR_FUNCTION": "spruce-executor",
        "SPRUCE_EFS_ROOT": str(efs_root),
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_CONFIG_FILE": str(efs_root / "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(efs_root / "no-creds"),
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    })
    return env


def run_probe(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = (time.perf_counter() - t0) * 1e3
    if proc.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{proc.stderr[-3000:]}")
    return wall, proc


def cold_imports(env: dict[str, str], repeat: int) -> tuple[list[float], dict[str, dict[str, Any]]]:
    """Start-up baseline walls, and per handler: import ms, process walls, what got imported.
    Handlers run round-robin so drift on the machine spreads over all of them."""
    for name in HANDLERS:  # warm the page cache; not counted
        run_probe(["-c", PROBE.format(name=name)], env)
    baseline: list[float] = []
    out: dict[str, dict[str, Any]] = {n: {"ms": [], "wall": []} for n in HANDLERS}
    for _ in range(repeat):
        baseline.append(run_probe(["-c", "pass"], env)[0])
        for name in HANDLERS:
            wall, proc = run_probe(["-c", PROBE.format(name=name)], env)
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            out[name]["ms"].append(got["ms"])
            out[name]["wall"].append(wall)
            out[name].update(lancedb=got["lancedb"], pyarrow=got["pyarrow"], modules=got["modules"])
    return baseline, out


def parse_importtime(stderr: str) -> list[tuple[str, int, int, str | None]]:
    """``-X importtime`` lines as (module, depth, cumulative µs, the module that imported it)."""
    rows: list[tuple[str, int, int]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((name.strip(), depth, int(cumulative)))
    out = []
    for i, (name, depth, cum) in enumerate(rows):  # a module is printed after everything it imported
        # The importer: the nearest enclosing module of another top-level package (importing
        # ``a.b`` first imports ``a``, which would otherwise name ``a.b`` as a's importer).
        top, parent, level = name.split(".")[0], None, depth
        for n, d, _ in rows[i + 1:]:
            if d < level:
                level = d
                if n.split(".")[0] != top:
                    parent = n
                    break
        out.append((name, depth, cum, parent))
    return out


def slowest_packages(name: str, env: dict[str, str], runs: int, top: int = 5) -> list[tuple[str, float, str]]:
    """Top-level packages (no dot in the name) by cumulative import time, median over runs,
    with the module that first imported each."""
    cums: dict[str, list[int]] = {}
    parents: dict[str, str] = {}
    for _ in range(runs):
        _, proc = run_probe(["-X", "importtime", "-c", f"import functions.{name}"], env)
        for module, _, cum, parent in parse_importtime(proc.stderr):
            if "." not in module and module != "functions":
                cums.setdefault(module, []).append(cum)
                parents[module] = parent or "-"
    ranked = sorted(((m, statistics.median(v) / 1e3) for m, v in cums.items()), key=lambda x: -x[1])
    return [(m, ms, parents[m]) for m, ms in ranked[:top]]


# --------------------------------------------------------------------------- per-request overhead

def v2_event(method: str, path: str, *, query: str = "", body: Any = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as in tests/e2e/test_aws_handlers.py."""
    headers = {"host": DOMAIN, "x-forwarded-proto": "https", "content-type": "application/json",
               "api-key": KEY, "x-pinecone-api-version": "2025-04"}
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": headers, "isBase64Encoded": False, "body": None if body is None else json.dumps(body),
        "requestContext": {"accountId": "123456789012", "apiId": "abc123", "domainName": DOMAIN,
                           "domainPrefix": "abc123", "requestId": uuid.uuid4().hex, "routeKey": "$default",
                           "stage": "$default", "time": "24/Nov/2026:00:00:00 +0000", "timeEpoch": 0,
                           "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "192.0.2.1", "userAgent": "bench"}},
    }


def call(handler, event: dict[str, Any]) -> tuple[int, Any]:
    out = handler(event, None)
    assert not out.get("isBase64Encoded")
    return out["statusCode"], json.loads(out["body"]) if out.get("body") else None


def asgi_caller(app, loop: asyncio.AbstractEventLoop, method: str, path: str, query: str, body: bytes | None):
    """The ASGI app called without Mangum (same loop reuse as Mangum): separates Mangum's
    event translation from FastAPI's routing and middlewares."""
    headers = [(b"host", DOMAIN.encode()), (b"content-type", b"application/json"), (b"api-key", KEY.encode()),
               (b"x-pinecone-api-version", b"2025-04")]
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.0"}, "http_version": "1.1",
             "method": method, "scheme": "https", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": query.encode(), "headers": headers, "server": (DOMAIN, 443),
             "client": ("192.0.2.1", 0)}

    def run() -> int:
        sent = False
        status = 0

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body or b"", "more_body": False}

        async def send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        loop.run_until_complete(app(dict(scope), receive, send))
        return status

    return run


def timed(fns: dict[str, Any], iterations: int, warmup: int) -> dict[str, np.ndarray]:
    """Each callable ``iterations`` times, interleaved (one of each per round, rotating order)."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    out = {n: np.empty(iterations) for n in names}
    gc.collect()
    for i in range(iterations):
        for n in names[i % len(names):] + names[:i % len(names)]:
            t0 = time.perf_counter()
            fns[n]()
            out[n][i] = time.perf_counter() - t0
    return {n: v * 1e6 for n, v in out.items()}  # µs


def threads_started(fn, calls: int = 100) -> float:
    """Threads started per call of ``fn`` (a diagnostic pass, not timed)."""
    started = 0
    real_start = threading.Thread.start

    def start(self, *args, **kwargs):
        nonlocal started
        started += 1
        return real_start(self, *args, **kwargs)

    threading.Thread.start = start
    try:
        for _ in range(calls):
            fn()
    finally:
        threading.Thread.start = real_start
    return started / calls


def request_overhead(tmp: Path, *, iterations: int, warmup: int, records: int, dim: int) -> dict[str, Any]:
    from mangum import Mangum

    from spruce.api.app import create_app
    from spruce.engine.local import open_local
    from spruce.engine.model import QuerySpec

    engine = open_local(tmp / "data", start=False)  # no background builder thread to add noise
    try:
        engine.register_api_key(KEY)
        control = Mangum(create_app(engine, public_url=None, planes=("control",)), lifespan="off")
        data_app = create_app(engine, public_url=None, planes=("data",))
        handler = Mangum(data_app, lifespan="off")  # exactly what functions/data_plane.py builds

        status, model = call(control, v2_event("POST", "/indexes", body={
            "name": "bench", "dimension": dim, "metric": "cosine",
            "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}}))
        assert status == 201, model
        rng = np.random.default_rng(7)
        vectors = rng.normal(size=(records, dim)).astype(np.float32)
        ids = ["a"] + [f"v{i:04d}" for i in range(1, records)]
        status, body = call(handler, v2_event("POST", "/data/bench/vectors/upsert", body={
            "namespace": "ns", "vectors": [{"id": rid, "values": v.tolist(), "metadata": {"n": i}}
                                           for i, (rid, v) in enumerate(zip(ids, vectors))]}))
        assert status == 200 and body == {"upsertedCount": records}, body
        assert engine.flush("bench", "ns")

        q = rng.normal(size=dim).astype(np.float32)
        fetch_event = v2_event("GET", "/data/bench/vectors/fetch", query="ids=a&namespace=ns")
        query_body = {"namespace": "ns", "vector": q.tolist(), "topK": 10}
        query_event = v2_event("POST", "/data/bench/query", body=query_body)
        spec = QuerySpec(top_k=10, vector=np.asarray(q.tolist(), dtype=np.float32))

        # Same answers both ways before timing anything.
        status, fetched = call(handler, fetch_event)
        assert status == 200 and list(fetched["vectors"]) == ["a"], fetched
        assert list(engine.fetch("bench", "ns", ["a"]).value) == ["a"]
        status, answered = call(handler, query_event)
        direct = engine.query("bench", "ns", spec).value
        assert status == 200 and [m["id"] for m in answered["matches"]] == [m.id for m in direct], answered
        assert len(direct) == 10

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # Mangum runs on the thread's loop; the ASGI-only calls share it
        asgi_fetch = asgi_caller(data_app, loop, "GET", "/data/bench/vectors/fetch", "ids=a&namespace=ns", None)
        asgi_query = asgi_caller(data_app, loop, "POST", "/data/bench/query", "", json.dumps(query_body).encode())
        assert asgi_fetch() == 200 and asgi_query() == 200

        fetch = timed({"handler": lambda: handler(fetch_event, None), "asgi": asgi_fetch,
                       "engine": lambda: engine.fetch("bench", "ns", ["a"])}, iterations, warmup)
        query = timed({"handler": lambda: handler(query_event, None), "asgi": asgi_query,
                       "engine": lambda: engine.query("bench", "ns", spec)}, iterations, warmup)
        threads = {"fetch": threads_started(lambda: handler(fetch_event, None)),
                   "query": threads_started(lambda: handler(query_event, None))}
        return {"fetch": {**fetch, "threads": threads["fetch"]}, "query": {**query, "threads": threads["query"]}}
    finally:
        engine.close()


# --------------------------------------------------------------------------- report

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7, help="fresh interpreters per handler")
    ap.add_argument("--importtime-runs", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--no-append", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="spruce-bench-handlers-") as tmp:
        tmp_path = Path(tmp)
        env = handler_env(tmp_path / "efs")
        baseline, imports = cold_imports(env, args.repeat)
        slow = {name: slowest_packages(name, env, args.importtime_runs) for name in IMPORTTIME_HANDLERS}
        overhead = request_overhead(tmp_path, iterations=args.iterations, warmup=args.warmup,
                                    records=args.records, dim=args.dim)

    for name in API_HANDLERS:
        if imports[name]["lancedb"] or imports[name]["pyarrow"]:
            print(f"WARNING: API handler {name} imports lancedb/pyarrow", file=sys.stderr)

    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    base_min, base_med = min(baseline), statistics.median(baseline)
    import_rows = [
        "| handler | import min / median (ms) | process wall median (ms) | lancedb | pyarrow | modules loaded |",
        "|---|---|---|---|---|---|",
        f"| (`python -c pass`, start-up baseline) | – | {base_med:.0f} (min {base_min:.0f}) | no | no | – |",
    ]
    for name in HANDLERS:
        r = imports[name]
        import_rows.append(
            f"| {name} | {min(r['ms']):.0f} / {statistics.median(r['ms']):.0f} | {statistics.median(r['wall']):.0f} "
            f"| {yes(r['lancedb'])} | {yes(r['pyarrow'])} | {r['modules']} |")

    slow_rows = ["| handler | slowest top-level packages, cumulative ms (imported by) |", "|---|---|"]
    for name, pkgs in slow.items():
        slow_rows.append(f"| {name} | " + "; ".join(f"{m} {ms:.0f} ({parent})" for m, ms, parent in pkgs) + " |")

    def p(v: np.ndarray, q: float) -> float:
        return float(np.percentile(v, q))

    req_rows = [
        "| request | handler p50 / p99 (µs) | ASGI app without Mangum p50 / p99 | engine call p50 / p99 "
        "| overhead p50 / p99 (handler − engine) | of which Mangum (p50) | threads started per request |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {"fetch": "GET /data/bench/vectors/fetch?ids=a&namespace=ns vs `engine.fetch`",
              "query": f"POST /data/bench/query topK 10 ({args.dim}-d) vs `engine.query`"}
    for kind, t in overhead.items():
        h, a, e = t["handler"], t["asgi"], t["engine"]
        req_rows.append(
            f"| {labels[kind]} | {p(h, 50):,.0f} / {p(h, 99):,.0f} | {p(a, 50):,.0f} / {p(a, 99):,.0f} "
            f"| {p(e, 50):,.0f} / {p(e, 99):,.0f} | {p(h, 50) - p(e, 50):,.0f} / {p(h, 99) - p(e, 99):,.0f} "
            f"| {p(h, 50) - p(a, 50):,.0f} | {t['threads']:.2f} |")

    section = [
        f"\n## {date.today().isoformat()} — AWS host Lambda handlers: cold imports and data-plane request overhead",
        f"Machine: {machine()}; `bench/handlers.py --repeat {args.repeat} --iterations {args.iterations} "
        f"--warmup {args.warmup} --records {args.records} --dim {args.dim}`.",
        "",
        f"Cold import of each `functions/` module in a fresh interpreter (cwd = repo root, the stack's "
        f"environment, fake credentials; {args.repeat} runs each, round-robin, after one unrecorded warm-up "
        "run): the time around `import functions.<name>` inside the process (it includes building the boto3 "
        "clients, engine and app at module level, no network calls); the process wall time includes start-up.",
        "",
        *import_rows,
        "",
        f"`-X importtime`, median of {args.importtime_runs} runs:",
        "",
        *slow_rows,
        "",
        f"Per-request overhead of the data-plane handler, in process: `Mangum(create_app(engine, public_url=None, "
        f"planes=(\"data\",)), lifespan=\"off\")` over the embedded engine (`open_local`, background builder "
        f"off), one namespace of {args.records} × {args.dim}-d cosine records flushed into a slab; API Gateway "
        f"HTTP API v2 events; {args.iterations:,} calls each after {args.warmup} warm-up calls, interleaved "
        "with the ASGI-only and the direct engine calls.",
        "",
        *req_rows,
    ]
    text = "\n".join(section) + "\n"
    publish(text, append=not args.no_append)


if __name__ == "__main__":
    main()
