"""The official pinecone SDK 7.x (API 2025-04) against a real ``spruce serve``: the whole
user journey of issue 2, with expected scores computed here with numpy, then a restart."""

from __future__ import annotations

import numpy as np
import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.exceptions import PineconeApiException

from tests.sdk.server import Server

DIM = 16


def _numpy_cosine(X: np.ndarray, q: np.ndarray) -> np.ndarray:
    X = X.astype(np.float64)
    q = q.astype(np.float64)
    return X @ q / (np.linalg.norm(X, axis=1) * np.linalg.norm(q))


def test_full_journey_then_restart(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        pc = Pinecone(api_key=server.api_key, host=server.url)
        # Given an index created through the SDK (it polls describe_index until ready)
        model = pc.create_index(name="docs", dimension=DIM, metric="cosine",
                                spec=ServerlessSpec(cloud="aws", region="us-east-1"), tags={"team": "search"})
        assert model.status.ready and model.dimension == DIM and model.host.startswith(server.url)
        assert [i.name for i in pc.list_indexes()] == ["docs"]
        idx = pc.Index("docs")

        # When records with metadata are upserted
        rng = np.random.default_rng(7)
        X = rng.normal(size=(300, DIM)).astype(np.float32)
        genres = ["drama", "comedy", "documentary"]
        vectors = [{"id": f"doc-{i:03d}", "values": X[i].tolist(),
                    "metadata": {"genre": genres[i % 3], "year": 2000 + i % 25, "tags": [f"t{i % 4}", "all"]}}
                   for i in range(300)]
        for start in range(0, 300, 100):
            assert idx.upsert(vectors=vectors[start:start + 100], namespace="movies").upserted_count == 100

        # Then a filtered query returns numpy's top-k with numpy's scores (read-your-writes: no sleep)
        q = rng.normal(size=DIM).astype(np.float32)
        flt = {"genre": {"$in": ["drama", "comedy"]}, "year": {"$gte": 2010}}
        res = idx.query(vector=q.tolist(), top_k=10, filter=flt, include_metadata=True, namespace="movies")
        keep = [i for i in range(300) if genres[i % 3] in ("drama", "comedy") and 2000 + i % 25 >= 2010]
        scores = _numpy_cosine(X[keep], q)
        order = np.argsort(-scores)[:10]
        assert [m.id for m in res.matches] == [f"doc-{keep[j]:03d}" for j in order]
        np.testing.assert_allclose([m.score for m in res.matches], scores[order], rtol=1e-5, atol=1e-6)
        assert res.matches[0].metadata["genre"] in ("drama", "comedy")
        assert res.namespace == "movies"

        # Query by id returns the record itself first
        by_id = idx.query(id="doc-005", top_k=3, namespace="movies", include_values=True)
        assert by_id.matches[0].id == "doc-005"
        np.testing.assert_allclose(by_id.matches[0].values, X[5], rtol=1e-6)

        # Fetch
        fetched = idx.fetch(ids=["doc-001", "doc-002", "nope"], namespace="movies")
        assert set(fetched.vectors) == {"doc-001", "doc-002"}
        np.testing.assert_allclose(fetched.vectors["doc-001"].values, X[1], rtol=1e-6)
        assert fetched.vectors["doc-001"].metadata == {"genre": "comedy", "year": 2001.0, "tags": ["t1", "all"]}

        # List with pagination, sorted
        page = idx.list_paginated(prefix="doc-0", limit=40, namespace="movies")
        assert [v.id for v in page.vectors] == [f"doc-{i:03d}" for i in range(40)]
        assert page.pagination and page.pagination.next
        listed = [rid for chunk in idx.list(prefix="doc-", namespace="movies") for rid in chunk]
        assert listed == [f"doc-{i:03d}" for i in range(300)]

        # Update: values and a metadata merge
        idx.update(id="doc-001", set_metadata={"genre": "thriller", "rating": 4.5}, namespace="movies")
        idx.update(id="doc-002", values=[1.0] * DIM, namespace="movies")
        got = idx.fetch(ids=["doc-001", "doc-002"], namespace="movies").vectors
        assert got["doc-001"].metadata == {"genre": "thriller", "year": 2001.0, "tags": ["t1", "all"], "rating": 4.5}
        assert got["doc-002"].values == [1.0] * DIM

        # Delete by id and by filter
        idx.delete(ids=["doc-000", "doc-003"], namespace="movies")
        idx.delete(filter={"genre": "documentary"}, namespace="movies")
        left = {rid for chunk in idx.list(namespace="movies") for rid in chunk}
        expected_left = {f"doc-{i:03d}" for i in range(300) if i % 3 != 2 and i not in (0, 3)}
        assert left == expected_left

        # Stats and namespaces
        idx.upsert(vectors=[{"id": "x", "values": [0.5] * DIM}], namespace="other")
        stats = idx.describe_index_stats()
        assert stats.dimension == DIM and stats.total_vector_count == len(expected_left) + 1
        assert stats.namespaces["movies"].vector_count == len(expected_left)
        names = [ns.name for ns in idx.list_namespaces_paginated(limit=10).namespaces]
        assert names == ["movies", "other"]
        assert int(idx.describe_namespace(namespace="movies").record_count) == len(expected_left)
        idx.delete_namespace(namespace="other")
        assert "other" not in idx.describe_index_stats().namespaces

        # Configure, then a restart: data and config are still there
        pc.configure_index(name="docs", deletion_protection="enabled")
        server.stop()
        server = Server(tmp_path / "data", port=server.port).start()
        pc = Pinecone(api_key=server.api_key, host=server.url)
        idx = pc.Index("docs")
        assert idx.describe_index_stats().namespaces["movies"].vector_count == len(expected_left)
        again = idx.query(vector=q.tolist(), top_k=10, filter=flt, namespace="movies")
        assert [m.id for m in again.matches] == [m.id for m in idx.query(
            vector=q.tolist(), top_k=10, filter=flt, namespace="movies").matches]
        assert idx.fetch(ids=["doc-001"], namespace="movies").vectors["doc-001"].metadata["genre"] == "thriller"

        # Deletion protection blocks deletion until disabled
        with pytest.raises(PineconeApiException) as err:
            pc.delete_index(name="docs")
        assert err.value.status == 403
        pc.configure_index(name="docs", deletion_protection="disabled")
        pc.delete_index(name="docs")
        assert pc.list_indexes().names() == []
    finally:
        server.stop()


def test_wrong_api_key_is_rejected(server):
    bad = Pinecone(api_key="not-the-key", host=server.url)
    with pytest.raises(PineconeApiException) as err:
        bad.list_indexes()
    assert err.value.status == 401
