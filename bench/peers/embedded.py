"""The index the in-process benchmarks use on an embedded engine (import after the engine's
``shared`` directory is on ``sys.path``: the scripts may point it at another checkout)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from spruce.engine.model import IndexConfig


def create_index(engine, dimension: int) -> IndexConfig:
    """A dense cosine index named ``idx`` of ``dimension``, created on ``engine``."""
    return engine.create_index(IndexConfig(name="idx", id=str(uuid.uuid4()), dimension=dimension, metric="cosine",
                                           vector_type="dense", cloud="aws", region="us-east-1",
                                           created_at=datetime.now(timezone.utc).isoformat()))
