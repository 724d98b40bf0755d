"""``spruce serve``'s process-wide settings: one BLAS thread, a collector that does not run a
young collection every ~1 request of a bulk load, and Arrow buffers from jemalloc."""

from __future__ import annotations

import gc

import numpy  # also loads the BLAS whose threads are limited
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from spruce import arrow_memory
from spruce.cli import GC_THRESHOLD0, tune_server_process


@pytest.fixture
def arrow_pool():
    """Restores the test process's Arrow pool afterwards."""
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def test_the_server_process_uses_one_blas_thread_a_higher_gc_threshold_and_jemalloc(arrow_pool):
    before = gc.get_threshold()
    with threadpool_limits(None):  # restores the test process's own limits afterwards
        try:
            tune_server_process()
            assert gc.get_threshold() == (GC_THRESHOLD0, *before[1:])
            assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == {1}
            assert pa.default_memory_pool().backend_name == "jemalloc"
            pool = pa.default_memory_pool()
            held = pool.bytes_allocated()
            summed = pc.add(pa.array(numpy.arange(100_000)), 1)  # a new buffer, from the default pool
            assert pool.bytes_allocated() >= held + summed.nbytes
        finally:
            gc.set_threshold(*before)


def test_without_jemalloc_arrow_keeps_its_pool(arrow_pool, monkeypatch):
    def missing():
        raise NotImplementedError("jemalloc support is not built")
    monkeypatch.setattr(pa, "jemalloc_memory_pool", missing)
    kept = pa.default_memory_pool().backend_name
    assert arrow_memory.use_jemalloc() is False
    assert pa.default_memory_pool().backend_name == kept
