"""Wiring for the embedded host: SQLite log and catalog, LanceDB slabs on the local disk."""

from __future__ import annotations

from pathlib import Path

from spruce.engine.builder import BuilderSettings
from spruce.engine.service import Spruce
from spruce.storage.lance_slabs import LanceSlabStore
from spruce.storage.sqlite_store import SqliteStore


def open_local(data_dir: Path, *, settings: BuilderSettings | None = None, start: bool = True) -> Spruce:
    """Open (creating if needed) an embedded Spruce in ``data_dir`` and start its builder."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(data_dir / "spruce.db")
    engine = Spruce(catalog=store, log_store=store, manifests=store,
                    slabs=LanceSlabStore(str(data_dir / "slabs")), settings=settings)
    if start:
        engine.start()
    return engine
