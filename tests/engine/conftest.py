from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from spruce.engine.builder import BuilderSettings
from spruce.engine.local import open_local
from spruce.engine.model import IndexConfig


def make_index(engine, *, dimension: int | None = 8, metric: str = "cosine", name: str = "idx") -> IndexConfig:
    cfg = IndexConfig(name=name, id=str(uuid.uuid4()), dimension=dimension, metric=metric,
                      vector_type="dense" if dimension else "sparse", cloud="aws", region="us-east-1",
                      created_at=datetime.now(timezone.utc).isoformat())
    return engine.create_index(cfg)


@pytest.fixture
def engine(tmp_path):
    """An embedded engine whose builder only runs when a test asks (flush/compact)."""
    eng = open_local(tmp_path / "data", settings=BuilderSettings(gc_grace_s=0.0, l0_merge_count=3,
                                                                 ann_min_rows=10**9), start=False)
    yield eng
    eng.close()


def executor_engine(data_dir, settings: BuilderSettings):
    """The AWS host's read path on local storage: reads fan out (JSON round trip) to
    in-process executors, one per slab; the builder reads slabs itself, as the index-builder
    function does. Compared with the embedded engine by the same tests."""
    import orjson

    from spruce.engine.builder import Builder
    from spruce.engine.executor import serve
    from spruce.engine.namespaces import NamespaceCache
    from spruce.engine.remote import RemoteSlabs
    from spruce.engine.service import Spruce
    from spruce.engine.slabset import LocalSlabs
    from spruce.storage.lance_slabs import LanceSlabStore
    from spruce.storage.sqlite_store import SqliteStore

    data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(data_dir / "spruce.db")
    slabs = LanceSlabStore(str(data_dir / "slabs"))
    executor_slabs = LocalSlabs(slabs)
    readers = NamespaceCache(store, store, RemoteSlabs(
        lambda req: orjson.dumps(serve(executor_slabs, orjson.loads(req))), group_rows=1))
    builder_slabs = LocalSlabs(slabs)
    builder = Builder(store, store, slabs, builder_slabs, NamespaceCache(store, store, builder_slabs), settings)
    return Spruce(catalog=store, log_store=store, cache=readers, drop_slabs=slabs.drop_index, builder=builder)


@pytest.fixture(params=["embedded", "executors"])
def any_engine(request, tmp_path):
    """The embedded engine and the executor read path, for tests both must pass."""
    settings = BuilderSettings(gc_grace_s=0.0, l0_merge_count=3, ann_min_rows=10**9)
    if request.param == "embedded":
        eng = open_local(tmp_path / "data", settings=settings, start=False)
    else:
        eng = executor_engine(tmp_path / "data", settings)
    yield eng
    eng.close()
