"""``spruce serve``'s process-wide settings: one BLAS thread, and a collector that does not run
a young collection every ~1 request of a bulk load."""

from __future__ import annotations

import gc

import numpy  # noqa: F401 - loads the BLAS whose threads are limited
from threadpoolctl import threadpool_info, threadpool_limits

from spruce.cli import GC_THRESHOLD0, tune_server_process


def test_the_server_process_uses_one_blas_thread_and_a_higher_gc_threshold():
    before = gc.get_threshold()
    with threadpool_limits(None):  # restores the test process's own limits afterwards
        try:
            tune_server_process()
            assert gc.get_threshold() == (GC_THRESHOLD0, *before[1:])
            assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == {1}
        finally:
            gc.set_threshold(*before)
