"""SQLite adapter for the request log, the manifests and the catalog (embedded mode).

One database file in WAL mode with ``synchronous=FULL``: a commit is on disk before
``append`` returns, so an acknowledged write survives SIGKILL and power loss. LSNs come
from a per-namespace counter row updated in the same ``BEGIN IMMEDIATE`` transaction as
the log insert, which serialises writers across threads *and* processes: gap-free by
construction. Each thread gets its own connection (sqlite3 connections are not shared).

Appends that arrive while another commits are committed together (group commit: one
transaction and one fsync for all of them). Deleted rows' pages are not zeroed
(``secure_delete=FAST``; this SQLite build defaults to zeroing, which made truncating the log
after a flush rewrite every freed payload page into the WAL while holding the writer lock).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from spruce.storage.ports import CREATING_KINDS, NamespaceRow, RawLogEntry, TailRead

_SCHEMA = """
CREATE TABLE IF NOT EXISTS indexes (
    name TEXT PRIMARY KEY, index_id TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (key_hash TEXT PRIMARY KEY, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (
    index_id TEXT NOT NULL, name TEXT NOT NULL, last_lsn INTEGER NOT NULL, present INTEGER NOT NULL,
    schema BLOB, PRIMARY KEY (index_id, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
    index_id TEXT NOT NULL, namespace TEXT NOT NULL, lsn INTEGER NOT NULL, kind TEXT NOT NULL,
    payload BLOB NOT NULL, PRIMARY KEY (index_id, namespace, lsn)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS manifests (
    index_id TEXT NOT NULL, namespace TEXT NOT NULL, version INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (index_id, namespace)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
    kind TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (kind, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""

_PRESENCE = {**dict.fromkeys(CREATING_KINDS, 1), "drop_namespace": 0}


class _Append:
    """One ``append`` waiting for its group commit: the LSN it got, or why it failed."""

    __slots__ = ("index_id", "namespace", "kind", "payload", "lsn", "error")

    def __init__(self, index_id: str, namespace: str, kind: str, payload: bytes) -> None:
        self.index_id, self.namespace, self.kind, self.payload = index_id, namespace, kind, payload
        self.lsn: int | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        """A group commit (this caller's or another's) has settled this append."""
        return self.lsn is not None or self.error is not None

    def finish(self, lsn: int | None, error: BaseException | None) -> None:
        self.lsn, self.error = lsn, error

    def result(self) -> int:
        if self.error is not None:
            raise self.error
        assert self.lsn is not None
        return self.lsn


class SqliteStore:
    """RequestLog + ManifestStore + Catalog + JobStore on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._path = str(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()  # this process's write transactions, one at a time
        self._queue_lock = threading.Lock()
        self._queue: list[_Append] = []  # appends waiting for the next group commit
        conn = self._conn()
        conn.executescript(_SCHEMA)  # idempotent; executescript manages its own transaction
        if "schema" not in {r[1] for r in conn.execute("PRAGMA table_info(namespaces)")}:
            conn.execute("ALTER TABLE namespaces ADD COLUMN schema BLOB")  # data dirs from before 2025-10 support

    # ------------------------------------------------------------------ connections

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, timeout=60.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA secure_delete=FAST")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """A transaction on this thread's connection. Write transactions of this process take
        ``_write_lock`` first: a thread waiting for it wakes when the lock is released, where
        SQLite's busy handler would sleep in steps of up to 100 ms (a convoy of upserts)."""
        if mode == "DEFERRED":
            with self._begin(mode) as conn:
                yield conn
            return
        with self._write_lock, self._begin(mode) as conn:
            yield conn

    @contextmanager
    def _begin(self, mode: str) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute(f"BEGIN {mode}")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # ------------------------------------------------------------------ request log

    def append(self, index_id: str, namespace: str, kind: str, payload: bytes) -> int:
        """Commit one log entry and return its LSN. Group commit: appends that arrive while
        another commits wait for the writer lock, and the first of them to get it commits all
        that are waiting in one transaction, so they share one fsync."""
        entry = _Append(index_id, namespace, kind, payload)
        with self._queue_lock:
            self._queue.append(entry)
        with self._write_lock:
            if not entry.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    with self._begin("IMMEDIATE") as db:
                        lsns = [self._insert(db, e) for e in batch]
                except BaseException as exc:
                    for e in batch:
                        e.finish(None, exc)
                else:
                    for e, lsn in zip(batch, lsns):
                        e.finish(lsn, None)
        return entry.result()

    @staticmethod
    def _insert(db: sqlite3.Connection, e: _Append) -> int:
        presence = _PRESENCE.get(e.kind)
        row = db.execute(
            "INSERT INTO namespaces (index_id, name, last_lsn, present) VALUES (?, ?, 1, ?) "
            "ON CONFLICT (index_id, name) DO UPDATE SET last_lsn = last_lsn + 1, "
            "present = COALESCE(?, present), schema = CASE WHEN ? = 0 THEN NULL ELSE schema END "
            "RETURNING last_lsn",
            (e.index_id, e.namespace, presence or 0, presence, presence),
        ).fetchone()
        lsn = int(row[0])
        db.execute(
            "INSERT INTO log (index_id, namespace, lsn, kind, payload) VALUES (?, ?, ?, ?, ?)",
            (e.index_id, e.namespace, lsn, e.kind, e.payload),
        )
        return lsn

    def create_namespace(self, index_id: str, namespace: str, schema: bytes | None) -> bool:
        with self._tx() as db:
            row = db.execute("SELECT present FROM namespaces WHERE index_id = ? AND name = ?",
                             (index_id, namespace)).fetchone()
            if row is not None and row[0]:
                return False
            db.execute(
                "INSERT INTO namespaces (index_id, name, last_lsn, present, schema) VALUES (?, ?, 0, 1, ?) "
                "ON CONFLICT (index_id, name) DO UPDATE SET present = 1, schema = excluded.schema",
                (index_id, namespace, schema),
            )
        return True

    def restore_namespace(self, index_id: str, namespace: str, last_lsn: int, schema: bytes | None) -> bool:
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO namespaces (index_id, name, last_lsn, present, schema) "
                             "VALUES (?, ?, ?, 1, ?)", (index_id, namespace, last_lsn, schema))
            return cur.rowcount == 1

    def read_tail(self, index_id: str, namespace: str, after_lsn: int) -> TailRead:
        with self._tx("DEFERRED") as db:
            rows = db.execute(
                "SELECT lsn, kind, payload FROM log WHERE index_id = ? AND namespace = ? AND lsn > ? ORDER BY lsn",
                (index_id, namespace, after_lsn),
            ).fetchall()
            last = db.execute(
                "SELECT last_lsn FROM namespaces WHERE index_id = ? AND name = ?", (index_id, namespace)
            ).fetchone()
        return TailRead([RawLogEntry(r[0], r[1], r[2]) for r in rows], int(last[0]) if last else 0)

    def truncate(self, index_id: str, namespace: str, upto_lsn: int) -> None:
        with self._tx() as db:
            db.execute(
                "DELETE FROM log WHERE index_id = ? AND namespace = ? AND lsn <= ?", (index_id, namespace, upto_lsn)
            )

    def namespaces(self, index_id: str) -> list[NamespaceRow]:
        rows = self._conn().execute(
            "SELECT name, last_lsn, present, schema FROM namespaces WHERE index_id = ? ORDER BY name", (index_id,)
        ).fetchall()
        return [NamespaceRow(r[0], int(r[1]), bool(r[2]), None if r[3] is None else bytes(r[3])) for r in rows]

    def namespace(self, index_id: str, namespace: str) -> NamespaceRow | None:
        r = self._conn().execute(
            "SELECT name, last_lsn, present, schema FROM namespaces WHERE index_id = ? AND name = ?",
            (index_id, namespace),
        ).fetchone()
        return None if r is None else NamespaceRow(r[0], int(r[1]), bool(r[2]), None if r[3] is None else bytes(r[3]))

    def pending_namespaces(self) -> list[tuple[str, str]]:
        """(index id, namespace) pairs whose log holds entries past the manifest (builder work)."""
        rows = self._conn().execute("SELECT DISTINCT index_id, namespace FROM log").fetchall()
        return [(r[0], r[1]) for r in rows]

    # ------------------------------------------------------------------ manifests

    def load_manifest(self, index_id: str, namespace: str) -> tuple[int, bytes] | None:
        r = self._conn().execute(
            "SELECT version, body FROM manifests WHERE index_id = ? AND namespace = ?", (index_id, namespace)
        ).fetchone()
        return None if r is None else (int(r[0]), bytes(r[1]))

    def commit_manifest(self, index_id: str, namespace: str, expected_version: int, body: bytes) -> bool:
        with self._tx() as db:
            if expected_version == 0:
                cur = db.execute(
                    "INSERT OR IGNORE INTO manifests (index_id, namespace, version, body) VALUES (?, ?, 1, ?)",
                    (index_id, namespace, body),
                )
            else:
                cur = db.execute(
                    "UPDATE manifests SET version = version + 1, body = ? "
                    "WHERE index_id = ? AND namespace = ? AND version = ?",
                    (body, index_id, namespace, expected_version),
                )
            return cur.rowcount == 1

    # ------------------------------------------------------------------ catalog

    def put_index(self, name: str, index_id: str, body: bytes, *, create: bool) -> bool:
        with self._tx() as db:
            if create:
                cur = db.execute(
                    "INSERT OR IGNORE INTO indexes (name, index_id, body) VALUES (?, ?, ?)", (name, index_id, body)
                )
            else:
                cur = db.execute(
                    "UPDATE indexes SET body = ? WHERE name = ? AND index_id = ?", (body, name, index_id)
                )
            return cur.rowcount == 1

    def get_index(self, name: str) -> bytes | None:
        r = self._conn().execute("SELECT body FROM indexes WHERE name = ?", (name,)).fetchone()
        return None if r is None else bytes(r[0])

    def list_indexes(self) -> list[bytes]:
        return [bytes(r[0]) for r in self._conn().execute("SELECT body FROM indexes ORDER BY name").fetchall()]

    def delete_index(self, name: str, index_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM indexes WHERE name = ? AND index_id = ?", (name, index_id))
            for table in ("namespaces", "log", "manifests"):
                db.execute(f"DELETE FROM {table} WHERE index_id = ?", (index_id,))

    def add_api_key_hash(self, key_hash: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO api_keys (key_hash, created_at) VALUES (?, ?)", (key_hash, time.time()))

    def has_api_key_hash(self, key_hash: str) -> bool:
        r = self._conn().execute("SELECT 1 FROM api_keys WHERE key_hash = ?", (key_hash,)).fetchone()
        return r is not None

    # ------------------------------------------------------------------ jobs

    def next_job_number(self, kind: str) -> int:
        with self._tx() as db:
            db.execute("INSERT INTO counters (name, value) VALUES (?, 1) "
                       "ON CONFLICT (name) DO UPDATE SET value = value + 1", (f"job#{kind}",))
            return int(db.execute("SELECT value FROM counters WHERE name = ?", (f"job#{kind}",)).fetchone()[0])

    def create_job(self, kind: str, job_id: str, body: bytes) -> bool:
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO jobs (kind, id, version, body) VALUES (?, ?, 1, ?)",
                             (kind, job_id, body))
            return cur.rowcount == 1

    def load_job(self, kind: str, job_id: str) -> tuple[int, bytes] | None:
        r = self._conn().execute("SELECT version, body FROM jobs WHERE kind = ? AND id = ?", (kind, job_id)).fetchone()
        return None if r is None else (int(r[0]), bytes(r[1]))

    def update_job(self, kind: str, job_id: str, expected_version: int, body: bytes) -> bool:
        with self._tx() as db:
            cur = db.execute("UPDATE jobs SET version = version + 1, body = ? WHERE kind = ? AND id = ? AND version = ?",
                             (body, kind, job_id, expected_version))
            return cur.rowcount == 1

    def list_jobs(self, kind: str, *, after: str | None = None, limit: int | None = None) -> list[tuple[str, bytes]]:
        # SQLite compares TEXT with memcmp (BINARY collation): bitwise order, as DynamoDB sorts keys.
        rows = self._conn().execute(
            "SELECT id, body FROM jobs WHERE kind = ? AND id > ? ORDER BY id LIMIT ?",
            (kind, after if after is not None else "", -1 if limit is None else limit)).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    def delete_job(self, kind: str, job_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM jobs WHERE kind = ? AND id = ?", (kind, job_id))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
