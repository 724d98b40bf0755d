"""Data plane over HTTP: error bodies (ERR-3, ERR-5), limits (DP-UP-1/6, DP-Q-1, DP-F-1, MD-5),
no partial writes (design invariant 7), and the success shapes and LSN headers (DP-LSN-1..3)."""

from __future__ import annotations

import pytest

from tests.api.conftest import SERVERLESS, api_client

DATA = "/data/movies"


@pytest.fixture
def client(tmp_path):
    with api_client(tmp_path) as c:
        assert c.post("/indexes", json={"name": "movies", "dimension": 4, "spec": SERVERLESS}).status_code == 201
        assert c.post("/indexes", json={"name": "kw", "vector_type": "sparse", "spec": SERVERLESS}).status_code == 201
        yield c


def vec(i, dim: int = 4, **extra):
    return {"id": str(i), "values": [0.1 * (n + 1) for n in range(dim)], **extra}


def bad_request(resp, fragment: str = "") -> str:
    """Assert an rpcStatus INVALID_ARGUMENT body (ERR-3/5) and return its message."""
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == 3 and body["details"] == []
    assert fragment in body["message"]
    return body["message"]


def stats(client) -> dict:
    return client.post(f"{DATA}/describe_index_stats", json={}).json()


def assert_nothing_written(client) -> None:
    s = stats(client)
    assert s["totalVectorCount"] == 0 and s["namespaces"] == {}


# ----------------------------------------------------------------------------- upsert limits (no partial writes)


@pytest.mark.parametrize("body,fragment", [
    ({"vectors": [vec(i) for i in range(1001)]}, "at most 1000 vectors per request; got 1001"),
    ({"vectors": [vec(0), vec("x" * 513)]}, "`vectors[1].id` must be 1 to 512 ASCII characters"),
    ({"vectors": [vec(0), vec(1, metadata={"text": "x" * 41_000})]}, "vectors[1].metadata"),
    ({"vectors": [vec(0), vec(1, dim=3)]}, "Vector dimension 3 does not match the dimension of the index 4"),
    ({"vectors": [vec(0), {"id": "1", "values": ["a", "b", "c", "d"]}]}, "must contain only numbers"),
    ({"vectors": [vec(0), vec(1, metadata={"a": None})]}, "vectors[1].metadata"),
    ({"vectors": [vec(0), vec(1, sparseValues={"indices": [1, 1], "values": [1, 2]})]}, "duplicates"),
    ({"vectors": "nope"}, "`vectors` is required"),
    ({}, "`vectors` is required"),
])
def test_rejected_upsert_writes_nothing_dp_up_6(client, body, fragment):
    bad_request(client.post(f"{DATA}/vectors/upsert", json=body), fragment)
    assert_nothing_written(client)


def test_upsert_over_2mb_is_rejected_dp_up_1(client):
    client.post("/indexes", json={"name": "wide", "dimension": 1536, "spec": SERVERLESS})
    # Documented batch table: 1536 dims + 2000 B of metadata → at most 245 records per 2 MB request.
    body = {"vectors": [vec(i, dim=1536, metadata={"t": "x" * 1990}) for i in range(300)]}
    bad_request(client.post("/data/wide/vectors/upsert", json=body), "over the 2 MB limit")
    assert client.post("/data/wide/describe_index_stats", json={}).json()["totalVectorCount"] == 0
    body["vectors"] = body["vectors"][:240]
    assert client.post("/data/wide/vectors/upsert", json=body).json() == {"upsertedCount": 240}


def test_malformed_json_is_400(client):
    resp = client.post(f"{DATA}/vectors/upsert", content=b'{"vectors": [', headers={"Content-Type": "application/json"})
    bad_request(resp, "not valid JSON")
    assert_nothing_written(client)


def test_non_object_body_is_400(client):
    bad_request(client.post(f"{DATA}/query", json=[1, 2]), "must be a JSON object")


def test_sparse_index_upsert_rules_dp_rec_5(client):
    bad_request(client.post("/data/kw/vectors/upsert", json={"vectors": [vec(0)]}), "sparse index")
    ok = client.post("/data/kw/vectors/upsert",
                     json={"vectors": [{"id": "a", "values": [], "sparseValues": {"indices": [3], "values": [1.0]}}]})
    assert ok.json() == {"upsertedCount": 1}


def test_unknown_index_is_404_in_rpc_shape(client):
    resp = client.post("/data/nope/vectors/upsert", json={"vectors": [vec(0)]})
    assert resp.status_code == 404
    assert resp.json() == {"code": 5, "message": "Index nope not found.", "details": []}
    assert client.get("/data/nope/vectors/fetch", params={"ids": "a"}).json()["code"] == 5
    assert client.post("/data/nope/describe_index_stats", json={}).status_code == 404


# ----------------------------------------------------------------------------- read-side limits


def test_query_top_k_over_10000_dp_q_1(client):
    bad_request(client.post(f"{DATA}/query", json={"topK": 10_001, "vector": [1, 2, 3, 4]}),
                "`topK` must be an integer between 1 and 10000; got 10001")


def test_query_dimension_mismatch_dp_rec_3(client):
    bad_request(client.post(f"{DATA}/query", json={"topK": 1, "vector": [1, 2]}),
                "Vector dimension 2 does not match the dimension of the index 4")


def test_query_sparse_on_cosine_index_dp_rec_7(client):
    body = {"topK": 1, "vector": [1, 2, 3, 4], "sparseVector": {"indices": [1], "values": [1.0]}}
    bad_request(client.post(f"{DATA}/query", json=body), "`dotproduct` metric")


def test_query_needs_a_source_and_rejects_queries_dp_q_2_9(client):
    bad_request(client.post(f"{DATA}/query", json={"topK": 1}), "A query needs `vector` or `id`")
    bad_request(client.post(f"{DATA}/query", json={"topK": 1, "queries": [{"values": [1, 2, 3, 4]}]}), "queries")


def test_fetch_limits_dp_f_1(client):
    bad_request(client.get(f"{DATA}/vectors/fetch", params=[("ids", str(i)) for i in range(1001)]),
                "at most 1000 ids per request; got 1001")
    bad_request(client.get(f"{DATA}/vectors/fetch"), "`ids` is required")


def test_list_limit_d4(client):
    bad_request(client.get(f"{DATA}/vectors/list", params={"limit": 101}), "`limit` must be an integer")
    bad_request(client.get(f"{DATA}/namespaces", params={"limit": 0}), "`limit` must be an integer")


def test_bad_pagination_token(client):
    bad_request(client.get(f"{DATA}/vectors/list", params={"paginationToken": "garbage!"}), "paginationToken")


def test_stats_with_filter_dp_st_3(client):
    bad_request(client.post(f"{DATA}/describe_index_stats", json={"filter": {"genre": "drama"}}), "filter")


def test_update_and_delete_errors_dp_u_1_dp_d_1(client):
    bad_request(client.post(f"{DATA}/vectors/update", json={"values": [1, 2, 3, 4]}), "`id` is required")
    bad_request(client.post(f"{DATA}/vectors/update", json={"id": "a"}), "at least one of")
    bad_request(client.post(f"{DATA}/vectors/delete", json={}), "exactly one of `ids`")
    bad_request(client.post(f"{DATA}/vectors/delete", json={"ids": ["a"], "deleteAll": True}), "cannot be combined")
    bad_request(client.post(f"{DATA}/vectors/delete", json={"ids": [str(i) for i in range(1001)]}), "at most 1000")


def test_unknown_namespace_is_404_d2(client):
    for method in ("GET", "DELETE"):
        resp = client.request(method, f"{DATA}/namespaces/ghost")
        assert resp.status_code == 404 and resp.json()["code"] == 5


def test_bad_namespace_is_400_dp_ns(client):
    bad_request(client.post(f"{DATA}/vectors/upsert", json={"vectors": [vec(0)], "namespace": "n" * 513}), "512")
    assert_nothing_written(client)


# ----------------------------------------------------------------------------- success shapes and headers


def test_write_and_read_shapes_with_lsn_headers_dp_lsn_1_2_3(client):
    up = client.post(f"{DATA}/vectors/upsert", json={
        "namespace": "ns", "vectors": [vec("a", metadata={"genre": "drama", "year": 2020}), vec("b")]})
    assert up.status_code == 200 and up.json() == {"upsertedCount": 2}
    assert up.headers["x-pinecone-request-lsn"] == "1" and int(up.headers["x-pinecone-lsn-committed"]) >= 1

    q = client.post(f"{DATA}/query", json={"namespace": "ns", "topK": 2, "vector": [0.1, 0.2, 0.3, 0.4],
                                            "includeMetadata": True})
    assert q.status_code == 200 and int(q.headers["x-pinecone-max-indexed-lsn"]) >= 1
    assert "x-pinecone-lsn-reconciled" in q.headers
    body = q.json()
    assert body["namespace"] == "ns" and body["usage"] == {"readUnits": 1}
    assert [m["id"] for m in body["matches"]] == ["a", "b"]
    assert body["matches"][0]["values"] == [] and body["matches"][0]["metadata"] == {"genre": "drama", "year": 2020}
    assert "metadata" not in body["matches"][1]

    f = client.get(f"{DATA}/vectors/fetch", params=[("ids", "a"), ("ids", "zz"), ("namespace", "ns")])
    assert f.status_code == 200 and "x-pinecone-max-indexed-lsn" in f.headers
    fetched = f.json()
    assert list(fetched["vectors"]) == ["a"] and fetched["usage"] == {"readUnits": 1}
    assert fetched["vectors"]["a"]["values"] == pytest.approx([0.1, 0.2, 0.3, 0.4])

    lst = client.get(f"{DATA}/vectors/list", params={"namespace": "ns", "limit": 1})
    assert lst.json()["vectors"] == [{"id": "a"}] and "next" in lst.json()["pagination"]
    rest = client.get(f"{DATA}/vectors/list",
                      params={"namespace": "ns", "paginationToken": lst.json()["pagination"]["next"]}).json()
    assert rest["vectors"] == [{"id": "b"}] and "pagination" not in rest

    s = client.get(f"{DATA}/describe_index_stats")
    assert s.json() == {"namespaces": {"ns": {"vectorCount": 2}}, "dimension": 4, "indexFullness": 0.0,
                        "totalVectorCount": 2, "metric": "cosine", "vectorType": "dense"}
    assert "x-pinecone-max-indexed-lsn" in s.headers

    assert client.get(f"{DATA}/namespaces").json() == {"namespaces": [{"name": "ns", "record_count": 2}]}
    assert client.get(f"{DATA}/namespaces/ns").json() == {"name": "ns", "record_count": 2}

    upd = client.post(f"{DATA}/vectors/update", json={"namespace": "ns", "id": "b", "setMetadata": {"k": "v"}})
    assert upd.json() == {} and upd.headers["x-pinecone-request-lsn"] == "2"
    dele = client.post(f"{DATA}/vectors/delete", json={"namespace": "ns", "ids": ["a"]})
    assert dele.json() == {} and dele.headers["x-pinecone-request-lsn"] == "3"
    drop = client.delete(f"{DATA}/namespaces/ns")
    assert drop.status_code == 200 and drop.headers["x-pinecone-request-lsn"] == "4"
    assert stats(client)["namespaces"] == {}


def test_default_namespace_dp_ns_3(client):
    client.post(f"{DATA}/vectors/upsert", json={"vectors": [vec("a")]})
    assert stats(client)["namespaces"] == {"__default__": {"vectorCount": 1}}
    q = client.post(f"{DATA}/query", json={"topK": 1, "id": "a", "includeValues": True, "namespace": ""}).json()
    assert q["namespace"] == "__default__" and len(q["matches"][0]["values"]) == 4
    assert client.get(f"{DATA}/namespaces/__default__").json()["record_count"] == 1


def test_sparse_index_stats_have_no_dimension_dp_st_1(client):
    s = client.post("/data/kw/describe_index_stats", json={}).json()
    assert "dimension" not in s and s["vectorType"] == "sparse" and s["metric"] == "dotproduct"


def test_fetch_read_units_dp_f_4(client):
    client.post(f"{DATA}/vectors/upsert", json={"vectors": [vec(i) for i in range(25)]})
    f = client.get(f"{DATA}/vectors/fetch", params=[("ids", str(i)) for i in range(25)] + [("ids", "missing")])
    assert len(f.json()["vectors"]) == 25 and f.json()["usage"] == {"readUnits": 3}
