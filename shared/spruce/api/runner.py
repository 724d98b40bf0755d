"""Where a query runs: on the event loop itself when that is safe, else on a worker thread.

Handing a query to a worker thread and its answer back costs two cross-thread wake-ups, and on
the benchmark VM (Firecracker, 2 vCPUs) a wake-up of the other vCPU is expensive: running
queries on the event loop raised a single client's QPS from 189 to 231 and cut the server's
CPU per query from 2.43 to 1.98 ms (medians of 5 interleaved passes at 200k rows,
bench/RESULTS.md 2026-12-02 evening), kernel time that callgrind's user-space count does not
see. But a query on the loop
blocks every other request until it ends, and a worker thread lets another request's
GIL-free parts (faiss, numpy, SQLite, LanceDB) run beside it. So a query runs inline only when
no other query is in flight and this index's recent queries were quick (``INLINE_BELOW_S``
on average): a request that arrives meanwhile then waits for at most about that long. The
first query of an index, a query while another runs, and queries of an index whose reads are
slow (a large unflushed tail during an ingest, slabs being opened, LanceDB's ANN fallback) go
to the loop's executor, as every query did before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: A query runs on the event loop only while its index's recent queries averaged under this.
INLINE_BELOW_S = 0.005
#: Weight of the newest duration in an index's running average.
_SMOOTHING = 0.2


class QueryRunner:
    """Runs a query's blocking work inline or on the executor (module docstring). One per app;
    ``run`` is called on the event loop's thread, so the in-flight count needs no lock."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._recent: dict[str, float] = {}  # index name -> running average of its queries, seconds

    def inline(self, index_name: str) -> bool:
        """Whether a query of ``index_name`` arriving now would run on the event loop."""
        recent = self._recent.get(index_name)
        return self._in_flight == 0 and recent is not None and recent < INLINE_BELOW_S

    async def run(self, index_name: str, fn: Callable[..., T], *args: object) -> T:
        inline = self.inline(index_name)
        self._in_flight += 1
        try:
            if inline:
                return self._timed(index_name, fn, *args)
            return await asyncio.get_running_loop().run_in_executor(None, self._timed, index_name, fn, *args)
        finally:
            self._in_flight -= 1

    def _timed(self, index_name: str, fn: Callable[..., T], *args: object) -> T:
        started = time.perf_counter()
        result = fn(*args)  # a failed query is not timed: names of missing indexes are not kept
        self._record(index_name, time.perf_counter() - started)
        return result

    def _record(self, index_name: str, elapsed: float) -> None:
        # On a worker thread this races only with other threads' updates of the same average:
        # a lost update skews one sample of a heuristic, never a result.
        recent = self._recent.get(index_name)
        self._recent[index_name] = elapsed if recent is None else recent + _SMOOTHING * (elapsed - recent)
