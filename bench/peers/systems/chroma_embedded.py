"""Chroma, embedded (``chromadb.PersistentClient``, data on disk), in process.

Cosine HNSW with Chroma's default graph parameters (max_neighbors 16, ef_construction 100);
the knob is ``ef_search``. Embedded Chroma 1.5 stores a ``collection.modify`` of ``ef_search``
but keeps searching the loaded index with the old value (checked: recall unchanged), so each
knob change also drops the client's cache and reopens the collection, which reloads the index
with the new value. Records are added in the client's maximum batch size. Filters are Chroma
``where`` clauses on the ``cat`` field.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import chromadb
import numpy as np

from systems.base import Knob, Setup

EF_SEARCH = (10, 20, 40, 80, 160, 320)
SETTINGS = chromadb.Settings(anonymized_telemetry=False)


class ChromaEmbedded:
    name = "Chroma (embedded)"

    def _open(self) -> None:
        self._client = chromadb.PersistentClient(path=str(self._path), settings=SETTINGS)

    def start(self, workdir: Path) -> Setup:
        self._path = workdir / "chroma"
        self._open()
        self._coll = self._client.create_collection(
            "bench", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
        hnsw = self._coll.configuration.get("hnsw") or {}
        return Setup(f"HNSW, cosine, max_neighbors={hnsw.get('max_neighbors')}, "
                     f"ef_construction={hnsw.get('ef_construction')} (Chroma's defaults)",
                     [f"add batch = client max batch size ({self._client.get_max_batch_size()})"])

    def load(self, vectors: np.ndarray, ids: np.ndarray, cats: np.ndarray) -> None:
        batch = self._client.get_max_batch_size()
        for start in range(0, len(vectors), batch):
            part = slice(start, start + batch)
            self._coll.add(ids=[str(i) for i in ids[part]], embeddings=vectors[part],
                           metadatas=[{"cat": int(c)} for c in cats[part]])

    def wait_until_queryable(self) -> None:
        """Embedded Chroma indexes during ``add``: a record is searchable once ``add`` returns."""

    def knobs(self) -> list[Knob]:
        return [Knob(f"ef_search={ef}", ef) for ef in EF_SEARCH]

    def use(self, knob: Knob) -> None:
        self._coll.modify(configuration={"hnsw": {"ef_search": knob.value}})
        self._client.clear_system_cache()
        self._open()
        self._coll = self._client.get_collection("bench")
        applied = (self._coll.configuration.get("hnsw") or {}).get("ef_search")
        if applied != knob.value:
            raise RuntimeError(f"ef_search is {applied} after setting {knob.value}")

    def query(self, vector: np.ndarray, k: int, below: int | None) -> list[int]:
        where = None if below is None else {"cat": {"$lt": below}}
        found = self._coll.query(query_embeddings=vector[None, :], n_results=k, where=where, include=[])
        return [int(i) for i in found["ids"][0]]

    def layout(self) -> str:
        return ""

    def server_pids(self) -> list[int]:
        return []

    def versions(self) -> dict[str, str]:
        return {"chromadb": version("chromadb")}

    def close(self) -> None:
        self._coll = None
        self._client = None
