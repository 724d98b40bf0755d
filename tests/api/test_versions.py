"""API-version negotiation (VER-1..5, §12 D1) and the shapes each version answers in: 2025-04,
2025-10 (read_capacity, schema, namespace fields, fetch_by_metadata, update by filter) and
2026-07 (schema + deployment control plane). SDK-driven coverage is in tests/sdk."""

from __future__ import annotations

import pytest

from spruce.api.versions import ApiVersion, negotiate
from spruce.errors import InvalidArgumentError
from tests.api.conftest import SERVERLESS, api_client

V = "X-Pinecone-API-Version"


@pytest.fixture
def client(tmp_path):
    with api_client(tmp_path) as c:
        yield c


@pytest.mark.parametrize("header,served", [
    (None, "2025-04"), ("", "2025-04"), ("2025-04", "2025-04"), ("2025-07", "2025-04"), ("2025-10", "2025-10"),
    ("2026-01", "2025-10"), ("2026-07", "2026-07"), ("2027-04", "2026-07"), ("unstable", "2026-07"),
])
def test_negotiation_serves_the_newest_known_version_not_newer_than_asked(header, served):
    assert negotiate(header) is ApiVersion(served)


@pytest.mark.parametrize("header,fragment", [("2024-10", "no longer supported"), ("2025-1", "YYYY-MM"),
                                             ("latest", "YYYY-MM")])
def test_old_or_malformed_versions_are_rejected(header, fragment):
    with pytest.raises(InvalidArgumentError, match=fragment):
        negotiate(header)


def test_rejected_version_is_a_400_in_each_planes_shape_and_the_served_version_is_echoed(client):
    control = client.get("/indexes", headers={V: "2024-07"})
    assert control.status_code == 400 and control.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert "2025-04, 2025-10, 2026-07" in control.json()["error"]["message"]
    data = client.post("/data/x/query", headers={V: "2024-07"}, json={})
    assert data.status_code == 400 and data.json()["code"] == 3
    assert client.get("/indexes", headers={V: "2026-03"}).headers["x-pinecone-api-version"] == "2025-10"


def test_index_model_per_version(client):
    create = {"name": "docs", "dimension": 8, "metric": "dotproduct",
              "spec": {"serverless": {"cloud": "aws", "region": "us-east-1",
                                      "schema": {"fields": {"genre": {"filterable": True}}}}}}
    assert client.post("/indexes", json=create).status_code == 201
    v04 = client.get("/indexes/docs").json()
    assert v04["spec"] == {"serverless": {"cloud": "aws", "region": "us-east-1"}} and v04["dimension"] == 8
    v10 = client.get("/indexes/docs", headers={V: "2025-10"}).json()
    assert v10["spec"]["serverless"]["read_capacity"] == {"mode": "OnDemand", "status": {"state": "Ready"}}
    assert v10["spec"]["serverless"]["schema"] == {"fields": {"genre": {"filterable": True}}}
    v26 = client.get("/indexes/docs", headers={V: "2026-07"}).json()
    assert v26["schema"] == {"fields": {"_values": {"type": "dense_vector", "dimension": 8, "metric": "dotproduct"},
                                        "genre": {"filterable": True}}}
    assert v26["deployment"] == {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}
    assert "spec" not in v26 and "dimension" not in v26


def test_2026_create_request_shapes(client):
    hybrid = {"name": "hyb", "schema": {"fields": {
        "_values": {"type": "dense_vector", "dimension": 4, "metric": "dotproduct"},
        "_sparse_values": {"type": "sparse_vector"}, "year": {"type": "integer", "filterable": True}}},
        "deployment": {"deployment_type": "managed", "cloud": "aws", "region": "us-west-2"}}
    made = client.post("/indexes", json=hybrid, headers={V: "2026-07"})
    assert made.status_code == 201 and made.json()["schema"] == hybrid["schema"]
    legacy_view = client.get("/indexes/hyb").json()
    assert (legacy_view["dimension"], legacy_view["metric"], legacy_view["vector_type"]) == (4, "dotproduct", "dense")
    sparse = client.post("/indexes", headers={V: "2026-07"},
                         json={"name": "kw", "schema": {"fields": {"_sparse_values": {"type": "sparse_vector"}}}})
    assert sparse.json()["deployment"]["region"] == "us-east-1"  # absent deployment = aws us-east-1
    assert client.get("/indexes/kw").json()["vector_type"] == "sparse"


@pytest.mark.parametrize("body,status,fragment", [
    ({"name": "a", "schema": {"fields": {"emb": {"type": "dense_vector", "dimension": 4, "metric": "cosine"}}}},
     400, "must be named `_values`"),
    ({"name": "a", "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 4, "metric": "cosine"},
                                         "_sparse_values": {"type": "sparse_vector"}}}}, 400, "dotproduct"),
    ({"name": "a", "schema": {"fields": {"t": {"type": "string", "filterable": True}}}}, 400, "vector field"),
    ({"name": "a", "schema": {"fields": {"t": {"type": "semantic_text", "model": "m"}}}}, 400, "semantic_text"),
    ({"name": "a", "schema": {"fields": {"t": {"type": "string", "full_text_search": {}}}}}, 400, "full_text"),
    ({"name": "a", "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 4, "metric": "cosine"}}},
      "deployment": {"deployment_type": "pod", "environment": "x"}}, 400, "managed"),
    ({"name": "a", "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 4, "metric": "cosine"}}},
      "read_capacity": {"mode": "Dedicated"}}, 400, "OnDemand"),
    ({"name": "a", "schema": {"fields": {"_values": {"type": "dense_vector", "metric": "cosine"}}}},
     422, "missing field `dimension`"),
    ({"name": "a", "dimension": 4, "spec": {"serverless": {"cloud": "aws", "region": "us-east-1",
                                                          "schema": {"fields": {"g": {"filterable": False}}}}}},
     400, "filterable"),
])
def test_create_rejections_say_what_to_fix(client, body, status, fragment):
    resp = client.post("/indexes", json=body, headers={V: "2026-07"})
    assert resp.status_code == status, resp.text
    assert fragment in resp.json()["error"]["message"]


def test_configure_read_capacity(client):
    client.post("/indexes", json={"name": "docs", "dimension": 4, "spec": SERVERLESS})
    ok = client.patch("/indexes/docs", json={"spec": {"serverless": {"read_capacity": {"mode": "OnDemand"}}}})
    assert ok.status_code == 202
    assert client.patch("/indexes/docs", json={"read_capacity": {"mode": "Dedicated"}}).status_code == 400
    assert client.patch("/indexes/docs", json={"schema": {"fields": {}}}).status_code == 400


def test_namespace_shapes_per_version(client):
    client.post("/indexes", json={"name": "docs", "dimension": 2, "spec": SERVERLESS})
    made = client.post("/data/docs/namespaces", json={"name": "a", "schema": {"fields": {"g": {"filterable": True}}}},
                       headers={V: "2025-10"})
    assert made.json() == {"name": "a", "record_count": 0, "schema": {"fields": {"g": {"filterable": True}}},
                           "indexed_fields": {"fields": []}}
    assert client.post("/data/docs/namespaces", json={"name": "a"}).status_code == 409
    client.post("/data/docs/vectors/upsert", json={"namespace": "a", "vectors": [
        {"id": "1", "values": [1, 0], "metadata": {"g": "x", "h": 1}}]})
    assert client.get("/data/docs/namespaces/a").json() == {"name": "a", "record_count": 1}
    assert client.get("/data/docs/namespaces/a", headers={V: "2025-10"}).json()["indexed_fields"] == {
        "fields": ["g", "h"]}
    listed = client.get("/data/docs/namespaces", headers={V: "2025-10"}, params={"prefix": "a"}).json()
    assert listed["total_count"] == 1 and "total_count" not in client.get("/data/docs/namespaces").json()
    # a dropped namespace loses its schema; re-created implicitly it has none
    client.delete("/data/docs/namespaces/a")
    client.post("/data/docs/vectors/upsert", json={"namespace": "a", "vectors": [{"id": "2", "values": [0, 1]}]})
    assert "schema" not in client.get("/data/docs/namespaces/a", headers={V: "2025-10"}).json()


def test_update_by_filter_and_fetch_by_metadata_validation(client):
    client.post("/indexes", json={"name": "docs", "dimension": 2, "spec": SERVERLESS})
    client.post("/data/docs/vectors/upsert", json={"vectors": [
        {"id": str(i), "values": [1, i], "metadata": {"g": i % 2}} for i in range(6)]})
    dry = client.post("/data/docs/vectors/update", json={"filter": {"g": 1}, "setMetadata": {"x": 1},
                                                          "dry_run": True})
    assert dry.json() == {"matchedRecords": 3} and "x-pinecone-request-lsn" not in dry.headers
    real = client.post("/data/docs/vectors/update", json={"filter": {"g": 1}, "setMetadata": {"x": 1}})
    assert real.json() == {"matchedRecords": 3} and real.headers["x-pinecone-request-lsn"] == "2"
    got = client.post("/data/docs/vectors/fetch_by_metadata", json={"filter": {"x": 1}}).json()
    assert sorted(got["vectors"]) == ["1", "3", "5"] and "pagination" not in got
    for body, fragment in [
        ({"filter": {"g": 1}}, "setMetadata"),
        ({"filter": {"g": 1}, "setMetadata": {"x": 2}, "values": [1, 2]}, "only set metadata"),
        ({"filter": {}, "setMetadata": {"x": 2}}, "must not be empty"),
        ({"id": "1", "filter": {"g": 1}, "setMetadata": {"x": 2}}, "cannot be combined"),
        ({"id": "1", "setMetadata": {"x": 2}, "dryRun": True}, "only applies to updates by `filter`"),
    ]:
        resp = client.post("/data/docs/vectors/update", json=body)
        assert resp.status_code == 400 and fragment in resp.json()["message"], (body, resp.text)
    for body, fragment in [({}, "`filter` is required"), ({"filter": {"g": 1}, "limit": 0}, "`limit`"),
                           ({"filter": {"g": 1}, "paginationToken": "%%%"}, "paginationToken")]:
        resp = client.post("/data/docs/vectors/fetch_by_metadata", json=body)
        assert resp.status_code == 400 and fragment in resp.json()["message"], (body, resp.text)


def test_scan_factor_and_max_candidates_are_validated(client):
    client.post("/indexes", json={"name": "docs", "dimension": 2, "spec": SERVERLESS})
    client.post("/indexes", json={"name": "kw", "vector_type": "sparse", "spec": SERVERLESS})
    client.post("/data/docs/vectors/upsert", json={"vectors": [{"id": "a", "values": [1, 0]}]})
    ok = client.post("/data/docs/query", json={"vector": [1, 0], "topK": 1, "scanFactor": 0.5, "maxCandidates": 10})
    assert ok.status_code == 200 and ok.json()["matches"][0]["id"] == "a"
    for body, fragment in [({"scanFactor": 5}, "scanFactor"), ({"maxCandidates": 0}, "maxCandidates"),
                           ({"scanFactor": True}, "scanFactor")]:
        resp = client.post("/data/docs/query", json={"vector": [1, 0], "topK": 1, **body})
        assert resp.status_code == 400 and fragment in resp.json()["message"]
    resp = client.post("/data/kw/query", json={"sparseVector": {"indices": [1], "values": [1]}, "topK": 1,
                                                "scanFactor": 1.0})
    assert resp.status_code == 400 and "sparse indexes" in resp.json()["message"]
