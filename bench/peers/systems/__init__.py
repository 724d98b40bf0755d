"""The systems under test, by the short name ``--systems`` takes. Each module imports only
its own client library, so a run of one system needs only that one installed."""

from __future__ import annotations

from importlib import import_module

from systems.base import System

#: short name → (module, class); the order of the results table.
SYSTEMS = {
    "spruce": ("systems.spruce_sdk", "SpruceSdk"),
    "spruce-import": ("systems.spruce_import", "SpruceImport"),
    "lancedb": ("systems.lancedb_raw", "LanceDbRaw"),
    "faiss": ("systems.faiss_hnsw", "FaissHnsw"),
    "chroma": ("systems.chroma_embedded", "ChromaEmbedded"),
    "pgvector": ("systems.pgvector_pg", "PgVector"),
}


def create(name: str) -> System:
    module, cls = SYSTEMS[name]
    return getattr(import_module(module), cls)()
