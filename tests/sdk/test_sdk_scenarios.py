"""Scenario suite for every SDK generation we serve: this module runs under the official
``pinecone`` 7.x (API 2025-04, the main venv) and under the latest release, 10.x (API
2026-07, ``.venv-sdk-latest``; see the Makefile). Dense, sparse and hybrid indexes, filters,
namespaces; with 10.x also fetch_by_metadata, update by filter and namespace creation. Each
scenario runs against the embedded server and against the AWS host's handlers (offline).
Expected results are computed here with numpy, never read back from the server."""

from __future__ import annotations

import numpy as np
import pinecone
import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.exceptions import ForbiddenException, UnauthorizedException

from tests.e2e.aws_host import Gateway, aws_host
from tests.sdk.server import API_KEY, Server

SDK_MAJOR = int(pinecone.__version__.split(".")[0]) if hasattr(pinecone, "__version__") else 7
LATEST_ONLY = pytest.mark.skipif(SDK_MAJOR < 8, reason="API 2025-10 calls: the SDK 7.x client has no method for them")
SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
DIM = 12


@pytest.fixture(scope="module", params=["embedded", "aws"])
def server(request, tmp_path_factory):
    """``spruce serve``, and the AWS host's Lambda handlers behind an API Gateway stand-in
    (moto for DynamoDB and S3, the log stream feeding the index builder): one suite, both hosts."""
    if request.param == "embedded":
        srv = Server(tmp_path_factory.mktemp("sdk") / "data").start()
        yield srv
        srv.stop()
        return
    with aws_host(request.getfixturevalue("moto_server"), tmp_path_factory.mktemp("aws"), api_key=API_KEY) as host:
        gateway = Gateway(host).start()
        yield gateway
        gateway.stop()


@pytest.fixture(scope="module")
def pc(server) -> Pinecone:
    return Pinecone(api_key=server.api_key, host=server.url)


def status_of(exc: BaseException) -> int | None:
    """HTTP status of an SDK error, whichever generation raised it."""
    return getattr(exc, "status_code", None) or getattr(exc, "status", None)


def sparse_dict(rng: np.random.Generator, vocab: int = 60, nnz: int = 8) -> dict:
    idx = np.sort(rng.choice(vocab, size=nnz, replace=False))
    return {"indices": idx.tolist(), "values": rng.uniform(0.1, 2.0, size=nnz).round(4).tolist()}


def sparse_dot(a: dict, b: dict) -> float:
    lookup = dict(zip(a["indices"], a["values"]))
    return float(sum(np.float64(lookup.get(i, 0.0)) * np.float64(v) for i, v in zip(b["indices"], b["values"])))


def ids_and_scores(res) -> tuple[list[str], list[float]]:
    return [m.id for m in res.matches], [m.score for m in res.matches]


# ----------------------------------------------------------------------------- API key


def test_a_wrong_key_is_the_sdks_unauthorized_error_on_both_planes_auth_1(server):
    """AUTH-1 through the official SDK: 401, so UnauthorizedException, never the
    ForbiddenException an API Gateway authorizer's 403 would raise; from the control plane
    and from an index host alike (on AWS: no authorizer, the planes' apps refuse the key)."""
    bad = Pinecone(api_key="not-the-key", host=server.url)
    index = bad.Index(host=f"{server.url}/data/nowhere")
    calls = {"list_indexes": bad.list_indexes, "describe_index": lambda: bad.describe_index("nowhere"),
             "describe_index_stats": index.describe_index_stats,
             "query": lambda: index.query(vector=[0.0] * DIM, top_k=1)}
    for name, call in calls.items():
        with pytest.raises(UnauthorizedException) as err:
            call()
        assert not isinstance(err.value, ForbiddenException) and status_of(err.value) == 401, name


# ----------------------------------------------------------------------------- dense


def test_dense_index_journey(pc):
    model = pc.create_index(name="dense", dimension=DIM, metric="euclidean", spec=SPEC)
    assert model.dimension == DIM and model.metric == "euclidean"
    assert "dense" in [i.name for i in pc.list_indexes()]
    idx = pc.Index("dense")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, DIM)).astype(np.float32)
    colors = ["red", "green", "blue"]
    vectors = [{"id": f"v{i:03d}", "values": X[i].tolist(), "metadata": {"color": colors[i % 3], "n": i}}
               for i in range(200)]
    assert idx.upsert(vectors=vectors, namespace="ns").upserted_count == 200

    q = rng.normal(size=DIM).astype(np.float32)
    res = idx.query(vector=q.tolist(), top_k=7, namespace="ns", filter={"color": {"$ne": "red"}, "n": {"$lt": 150}},
                    include_metadata=True)
    keep = [i for i in range(200) if colors[i % 3] != "red" and i < 150]
    dist = ((X[keep].astype(np.float64) - q) ** 2).sum(axis=1)
    order = np.argsort(dist)[:7]
    got_ids, got_scores = ids_and_scores(res)
    assert got_ids == [f"v{keep[j]:03d}" for j in order]
    np.testing.assert_allclose(got_scores, dist[order], rtol=1e-4)
    assert all(m.metadata["color"] != "red" for m in res.matches)

    idx.update(id="v001", values=[0.5] * DIM, set_metadata={"color": "red", "extra": True}, namespace="ns")
    fetched = idx.fetch(ids=["v001", "v002", "nope"], namespace="ns")
    assert set(fetched.vectors) == {"v001", "v002"}
    np.testing.assert_allclose(fetched.vectors["v001"].values, [0.5] * DIM)
    assert fetched.vectors["v001"].metadata == {"color": "red", "n": 1, "extra": True}

    idx.delete(ids=["v000", "v001"], namespace="ns")
    stats = idx.describe_index_stats()
    assert stats.namespaces["ns"].vector_count == 198 and stats.total_vector_count == 198
    page = idx.list_paginated(prefix="v00", limit=5, namespace="ns")
    assert [v.id for v in page.vectors] == ["v002", "v003", "v004", "v005", "v006"]
    assert page.pagination is not None and page.pagination.next


# ----------------------------------------------------------------------------- sparse


def test_sparse_index_exact_scores_and_zero_score_rule(pc):
    model = pc.create_index(name="lexical", metric="dotproduct", vector_type="sparse", spec=SPEC)
    assert model.vector_type == "sparse" and model.dimension is None
    idx = pc.Index("lexical")
    rng = np.random.default_rng(2)
    docs = {f"d{i:03d}": sparse_dict(rng) for i in range(300)}
    items = [{"id": rid, "sparse_values": sv, "metadata": {"even": int(rid[1:]) % 2 == 0}} for rid, sv in docs.items()]
    for start in range(0, 300, 100):
        idx.upsert(vectors=items[start:start + 100], namespace="docs")

    for _ in range(5):
        q = sparse_dict(rng, nnz=5)
        scored = sorted(((sparse_dot(sv, q), rid) for rid, sv in docs.items()), key=lambda t: (-t[0], t[1]))
        want = [(rid, s) for s, rid in scored if s != 0][:10]
        res = idx.query(sparse_vector=q, top_k=10, namespace="docs")
        got_ids, got_scores = ids_and_scores(res)
        assert got_ids == [rid for rid, _ in want]
        np.testing.assert_allclose(got_scores, [s for _, s in want], rtol=1e-5)

    # records sharing no term with the query score 0 and are not returned (SP-6)
    assert idx.query(sparse_vector={"indices": [10_000], "values": [1.0]}, top_k=5, namespace="docs").matches == []

    # filters, query by id, include_values, update of the sparse vector
    q = sparse_dict(rng, nnz=5)
    res = idx.query(sparse_vector=q, top_k=300, namespace="docs", filter={"even": True}, include_values=True)
    assert res.matches and all(int(m.id[1:]) % 2 == 0 for m in res.matches)
    top = res.matches[0]
    assert top.sparse_values.indices == docs[top.id]["indices"]
    by_id = idx.query(id="d007", top_k=1, namespace="docs")
    assert by_id.matches[0].id == "d007"
    idx.update(id="d007", sparse_values={"indices": [5000], "values": [3.0]}, namespace="docs")
    hit = idx.query(sparse_vector={"indices": [5000], "values": [2.0]}, top_k=3, namespace="docs")
    assert ids_and_scores(hit) == (["d007"], [6.0])
    fetched = idx.fetch(ids=["d007"], namespace="docs").vectors["d007"]
    assert fetched.sparse_values.indices == [5000] and fetched.sparse_values.values == [3.0]

    with pytest.raises(Exception) as err:  # dense vectors are refused by a sparse index
        idx.query(vector=[0.1] * 4, top_k=1, namespace="docs")
    assert status_of(err.value) == 400


# ----------------------------------------------------------------------------- hybrid


def test_hybrid_queries_score_dense_plus_sparse(pc):
    pc.create_index(name="hybrid", dimension=DIM, metric="dotproduct", spec=SPEC)
    idx = pc.Index("hybrid")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, DIM)).astype(np.float32)
    sparse = [sparse_dict(rng) for _ in range(150)]
    idx.upsert(vectors=[{"id": f"h{i:03d}", "values": X[i].tolist(), "sparse_values": sparse[i]} for i in range(150)])
    alpha = 0.7  # client-side weighting (HY-3)
    q = rng.normal(size=DIM).astype(np.float32)
    qs = sparse_dict(rng, nnz=6)
    qd = (q * alpha).astype(np.float32)
    qsw = {"indices": qs["indices"], "values": [v * (1 - alpha) for v in qs["values"]]}
    res = idx.query(vector=qd.tolist(), sparse_vector=qsw, top_k=10)
    scores = X.astype(np.float64) @ qd.astype(np.float64) + np.array([sparse_dot(s, qsw) for s in sparse])
    order = np.argsort(-scores)[:10]
    got_ids, got_scores = ids_and_scores(res)
    assert got_ids == [f"h{i:03d}" for i in order]
    np.testing.assert_allclose(got_scores, scores[order], rtol=1e-4)

    pc.create_index(name="cosine-sparse", dimension=DIM, metric="cosine", spec=SPEC)
    cos = pc.Index("cosine-sparse")
    cos.upsert(vectors=[{"id": "a", "values": X[0].tolist(), "sparse_values": sparse[0]}])  # writes succeed (DP-REC-7)
    with pytest.raises(Exception) as err:  # sparse-bearing queries need dotproduct (HY-5)
        cos.query(vector=q.tolist(), sparse_vector=qs, top_k=1)
    assert status_of(err.value) == 400


# ----------------------------------------------------------------------------- namespaces


def test_namespaces_list_describe_delete(pc):
    pc.create_index(name="tenants", dimension=4, metric="cosine", spec=SPEC)
    idx = pc.Index("tenants")
    for n, ns in enumerate(["acme", "globex", "initech"]):
        idx.upsert(vectors=[{"id": f"r{i}", "values": [1.0, float(i), 0.0, 1.0]} for i in range(n + 1)], namespace=ns)
    assert int(idx.describe_namespace(namespace="globex").record_count) == 2
    page = idx.list_namespaces_paginated(limit=2)
    assert [n.name for n in page.namespaces] == ["acme", "globex"]
    rest = idx.list_namespaces_paginated(limit=2, pagination_token=page.pagination.next)
    assert [n.name for n in rest.namespaces] == ["initech"]
    idx.delete_namespace(namespace="acme")
    with pytest.raises(Exception) as err:
        idx.describe_namespace(namespace="acme")
    assert status_of(err.value) == 404


# ----------------------------------------------------------------------------- 2025-10 additions


@LATEST_ONLY
def test_fetch_by_metadata_pages_through_matches(pc):
    pc.create_index(name="catalog", dimension=4, metric="cosine", spec=SPEC)
    idx = pc.Index("catalog")
    idx.upsert(vectors=[{"id": f"p{i:02d}", "values": [1.0, 0.0, float(i), 1.0],
                         "metadata": {"kind": "book" if i % 3 == 0 else "film", "year": 1990 + i}}
                        for i in range(40)], namespace="shop")
    want = [f"p{i:02d}" for i in range(40) if i % 3 == 0 and 1990 + i >= 2000]
    got, token = [], None
    while True:
        page = idx.fetch_by_metadata(filter={"kind": "book", "year": {"$gte": 2000}}, namespace="shop", limit=3,
                                     pagination_token=token)
        assert len(page.vectors) <= 3
        for rid, vec in page.vectors.items():
            assert vec.metadata["kind"] == "book"
            np.testing.assert_allclose(vec.values, [1.0, 0.0, float(int(rid[1:])), 1.0])
        got += sorted(page.vectors)
        token = page.pagination.next if page.pagination else None
        if not token:
            break
    assert got == want


@LATEST_ONLY
def test_update_by_filter_with_dry_run(pc):
    pc.create_index(name="bulk", dimension=4, metric="cosine", spec=SPEC)
    idx = pc.Index("bulk")
    idx.upsert(vectors=[{"id": f"u{i}", "values": [1.0, float(i), 0.0, 0.0], "metadata": {"group": i % 4}}
                        for i in range(20)])
    dry = idx.update(filter={"group": {"$in": [1, 2]}}, set_metadata={"flag": "on"}, dry_run=True)
    assert dry.matched_records == 10
    assert idx.fetch(ids=["u1"]).vectors["u1"].metadata == {"group": 1}  # a dry run changes nothing
    done = idx.update(filter={"group": {"$in": [1, 2]}}, set_metadata={"flag": "on"})
    assert done.matched_records == 10
    flagged = idx.fetch_by_metadata(filter={"flag": "on"}, limit=100)
    assert sorted(flagged.vectors) == sorted(f"u{i}" for i in range(20) if i % 4 in (1, 2))
    assert flagged.vectors["u1"].metadata == {"group": 1, "flag": "on"}


@LATEST_ONLY
def test_create_namespace_with_schema(pc):
    pc.create_index(name="schemas", dimension=4, metric="cosine", spec=SPEC)
    idx = pc.Index("schemas")
    created = idx.create_namespace(name="tenant-a", schema={"fields": {"genre": {"filterable": True}}})
    assert created.name == "tenant-a" and int(created.record_count) == 0
    described = idx.describe_namespace(name="tenant-a")
    assert described.schema is not None and "genre" in described.schema.fields
    with pytest.raises(Exception) as err:
        idx.create_namespace(name="tenant-a")
    assert status_of(err.value) == 409
    idx.upsert(vectors=[{"id": "x", "values": [1.0, 0, 0, 0], "metadata": {"genre": "jazz", "year": 1959}}],
               namespace="tenant-a")
    assert sorted(idx.describe_namespace(name="tenant-a").indexed_fields.fields) == ["genre", "year"]


# ----------------------------------------------------------------------------- inference


def test_inference_dense_sparse_and_rerank(pc):
    """The packaged models through ``pc.inference`` (on the AWS host: through the inference
    function). INF-E-5, INF-R-3."""
    texts = ["what is the capital of france", "Paris is the capital and largest city of France.",
             "Bananas are a good source of potassium."]
    dense = pc.inference.embed(model="all-minilm-l6-v2", inputs=texts, parameters={"input_type": "passage"})
    X = np.asarray([d.values for d in dense.data], dtype=np.float32)
    assert X.shape == (3, 384) and np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert float(X[0] @ X[1]) > float(X[0] @ X[2])

    sparse = pc.inference.embed(model="splade-tiny-msmarco", inputs=texts,
                                parameters={"input_type": "passage", "return_tokens": True})
    assert sparse.vector_type == "sparse" and sparse.usage.total_tokens == 6 + 10 + 8
    vecs = [{"indices": d.sparse_indices, "values": d.sparse_values} for d in sparse.data]
    assert {"capital", "france"} <= set(sparse.data[0].sparse_tokens)
    assert sparse_dot(vecs[0], vecs[1]) > 5 * sparse_dot(vecs[0], vecs[2])

    ranked = pc.inference.rerank(model="all-minilm-l6-v2-cosine-rerank", query=texts[0], documents=texts[1:])
    assert [r.index for r in ranked.data] == [0, 1] and ranked.data[0].score > ranked.data[1].score

    with pytest.raises(Exception) as caught:
        pc.inference.embed(model="splade-tiny-msmarco", inputs=["x"],
                           parameters={"input_type": "query", "max_tokens_per_sequence": 2048})
    assert status_of(caught.value) == 400
