"""Which allocator Arrow's buffers come from in the processes that write slabs.

pyarrow's default pool is mimalloc, which commits its 1 GiB arenas with ``MADV_HUGEPAGE``. A
fresh process then takes each first touch of that memory as a 2 MiB page, zeroed on the spot
(``clear_page_erms`` under ``do_huge_pmd_anonymous_page``), and in a Firecracker VM like this
machine that zeroing is slow (Lambda runs on Firecracker too; not measured there): 64% of the CPU samples of a 200k × 384-d
import, the first in its process, which took 2.0–4.2 s where the same process's next imports
took 1.0–1.2 s. Arrow's jemalloc pool uses ordinary pages: the first import took 1.3–1.6 s
(bench/RESULTS.md, 2026-12-06). Freed pages go back to the system after ``DECAY_MS``, so a
process that imports again reuses them instead of faulting them in anew.
"""

from __future__ import annotations

import logging

import pyarrow as pa

log = logging.getLogger(__name__)

#: How long jemalloc keeps freed pages before handing them back to the system.
DECAY_MS = 10_000


def use_jemalloc() -> bool:
    """Make jemalloc Arrow's default pool (process-wide). False (and the default pool kept)
    where this pyarrow build has no jemalloc."""
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        log.info("pyarrow has no jemalloc here; Arrow keeps its %s pool", pa.default_memory_pool().backend_name)
        return False
    pa.set_memory_pool(pool)
    pa.jemalloc_set_decay_ms(DECAY_MS)
    return True
