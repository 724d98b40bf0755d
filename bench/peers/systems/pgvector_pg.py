"""pgvector on a local PostgreSQL server, driven over a Unix socket with psycopg.

Debian bookworm has no pgvector package, so the server is the PyPI package ``pgserver``
(PostgreSQL 16 with pgvector bundled) started on a data directory under the run's workdir.
Bulk load the way pgvector's documentation advises: binary ``COPY`` into the table, then
``CREATE INDEX ... USING hnsw`` (pgvector's defaults m=16, ef_construction=64, cosine ops)
with a large ``maintenance_work_mem`` so the graph is built in memory. The knob is
``hnsw.ef_search``. Filters are ``WHERE cat < t``: pgvector < 0.8 has no iterative index
scan, so a selective filter is applied to the ``ef_search`` candidates the index returns.
"""

from __future__ import annotations

from pathlib import Path
from importlib.metadata import version

import numpy as np
import pgserver
import psycopg

from systems.base import Knob, Setup

M = 16
EF_CONSTRUCTION = 64
EF_SEARCH = (10, 20, 40, 80, 160, 320)
MAINTENANCE_WORK_MEM = "4GB"
PARALLEL_WORKERS = 1  # the leader builds too: two processes on this 2-core machine
COPY_BATCH = 50_000


def copy_binary(ids: np.ndarray, cats: np.ndarray, vectors: np.ndarray) -> bytes:
    """Rows (bigint, int, vector) in PostgreSQL's binary COPY tuple format; a pgvector value
    is int16 dimension, int16 unused, then big-endian float4s."""
    dim = vectors.shape[1]
    row = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("cat_len", ">i4"), ("cat", ">i4"),
                    ("vec_len", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("vec", ">f4", (dim,))])
    out = np.zeros(len(ids), dtype=row)
    out["fields"], out["id_len"], out["cat_len"], out["vec_len"] = 3, 8, 4, 4 + 4 * dim
    out["id"], out["cat"], out["dim"], out["vec"] = ids, cats, dim, vectors
    return out.tobytes()


class PgVector:
    name = "pgvector (PostgreSQL server)"

    def start(self, workdir: Path) -> Setup:
        self._datadir = workdir / "pgdata"
        self._server = pgserver.get_server(str(self._datadir), cleanup_mode="stop")
        self._conn = psycopg.connect(self._server.get_uri(), autocommit=True)
        self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        self._conn.execute("CREATE TABLE bench (id bigint PRIMARY KEY, cat int NOT NULL, embedding vector(384) NOT NULL)")
        shared = self._conn.execute("SHOW shared_buffers").fetchone()[0]
        return Setup(f"HNSW m={M}, ef_construction={EF_CONSTRUCTION}, vector_cosine_ops",
                     [f"binary COPY of {COPY_BATCH:,} rows per statement, then CREATE INDEX",
                      f"maintenance_work_mem={MAINTENANCE_WORK_MEM}, max_parallel_maintenance_workers="
                      f"{PARALLEL_WORKERS}, shared_buffers={shared}"])

    def load(self, vectors: np.ndarray, ids: np.ndarray, cats: np.ndarray) -> None:
        with self._conn.cursor() as cur:
            for start in range(0, len(vectors), COPY_BATCH):
                part = slice(start, start + COPY_BATCH)
                with cur.copy("COPY bench (id, cat, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                    copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))  # signature, flags, header extension
                    copy.write(copy_binary(ids[part], cats[part], vectors[part]))
                    copy.write(b"\xff\xff")  # trailer

    def wait_until_queryable(self) -> None:
        """Build the HNSW index; queries use it only once it exists."""
        self._conn.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
        self._conn.execute(f"SET max_parallel_maintenance_workers = {PARALLEL_WORKERS}")
        self._conn.execute(f"CREATE INDEX ON bench USING hnsw (embedding vector_cosine_ops) "
                           f"WITH (m = {M}, ef_construction = {EF_CONSTRUCTION})")
        self._conn.execute("ANALYZE bench")

    def knobs(self) -> list[Knob]:
        return [Knob(f"ef_search={ef}", ef) for ef in EF_SEARCH]

    def use(self, knob: Knob) -> None:
        self._conn.execute(f"SET hnsw.ef_search = {int(knob.value)}")

    def query(self, vector: np.ndarray, k: int, below: int | None) -> list[int]:
        text = "[" + ",".join(map(str, vector.tolist())) + "]"
        if below is None:
            rows = self._conn.execute("SELECT id FROM bench ORDER BY embedding <=> %s::vector LIMIT %s", (text, k))
        else:
            rows = self._conn.execute("SELECT id FROM bench WHERE cat < %s ORDER BY embedding <=> %s::vector LIMIT %s",
                                      (below, text, k))
        return [r[0] for r in rows]

    def layout(self) -> str:
        return ""

    def server_pids(self) -> list[int]:
        return [int((self._datadir / "postmaster.pid").read_text().split()[0])]

    def versions(self) -> dict[str, str]:
        pg = self._conn.execute("SHOW server_version").fetchone()[0]
        vec = self._conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
        return {"PostgreSQL (pgserver)": pg, "pgvector": vec, "pgserver": version("pgserver"), "psycopg": version("psycopg")}

    def close(self) -> None:
        self._conn.close()
        self._server.cleanup()
