"""What the official pinecone SDK costs the client per call, with the server out of the
picture: the installed SDK against a stdlib HTTP server on localhost that answers every request
instantly with a fixed, valid body. A system driven through the SDK can do no better than
this on this machine, one client process at a time (``run.py`` prints it beside the peers).

Measured: ``upsert`` of 200 × 384-d records with a ``cat`` field (tuples, as ``spruce_sdk.py``
sends them), and ``query(vector=384 floats, top_k=10)``, sequentially, after a warm-up.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from pinecone import Pinecone

DIM = 384
BATCH = 200
UPSERTS = 20
QUERIES = 1000
_QUERY_BODY = (b'{"matches":[' + b",".join(b'{"id":"%d","score":0.5}' % i for i in range(10))
               + b'],"namespace":"","usage":{"readUnits":1}}')


class _Instant(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers["content-length"]))
        body = b'{"upsertedCount":%d}' % BATCH if self.path.endswith("/upsert") else _QUERY_BODY
        # One write: headers and body in separate segments would meet delayed ACKs (40 ms).
        self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                         % (len(body), body))


@dataclass(frozen=True, slots=True)
class SdkFloor:
    upsert_records_per_s: float
    query_ms: float

    def describe(self) -> str:
        return (f"the SDK's own cost, against a local server that answers instantly (`bench/peers/sdk_floor.py`): "
                f"{self.upsert_records_per_s:,.0f} records/s of `upsert` ({BATCH} × {DIM}-d per call) and "
                f"{self.query_ms:.2f} ms per `query` (top_k 10; at most {1000 / self.query_ms:,.0f} QPS) per client "
                "process")


def measure() -> SdkFloor:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Instant)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"http://127.0.0.1:{server.server_port}"
    try:
        index = Pinecone(api_key="floor", host=host).Index(host=host)
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((BATCH, DIM)).astype(np.float32).tolist()

        def upsert() -> None:
            index.upsert(vectors=[(str(i), v, {"cat": i % 100}) for i, v in enumerate(vectors)])

        upsert()
        start = time.perf_counter()
        for _ in range(UPSERTS):
            upsert()
        upsert_rate = UPSERTS * BATCH / (time.perf_counter() - start)
        query = vectors[0]
        for _ in range(100):
            index.query(vector=query, top_k=10)
        start = time.perf_counter()
        for _ in range(QUERIES):
            index.query(vector=query, top_k=10)
        query_ms = (time.perf_counter() - start) / QUERIES * 1000
    finally:
        server.shutdown()
    return SdkFloor(upsert_rate, query_ms)


if __name__ == "__main__":
    print(measure().describe())
