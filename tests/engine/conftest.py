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
