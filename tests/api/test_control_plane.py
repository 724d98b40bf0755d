"""Control plane over HTTP: BEHAVIOR §2.1 (AUTH-1), §2.4 (ERR-1..6), §3.1–3.6, §3.8, §3.9."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from spruce.api.app import create_app
from spruce.engine.local import open_local

KEY = "test-key"
NAME_MESSAGE = (
    "Index name must contain only lowercase alphanumeric characters or hyphens, "
    "and must not begin or end with a hyphen."
)
SERVERLESS = {"serverless": {"cloud": "aws", "region": "us-east-1"}}
DENSE = {"name": "movies", "dimension": 4, "metric": "euclidean", "spec": SERVERLESS}


@pytest.fixture
def engine(tmp_path):
    engine = open_local(tmp_path)
    engine.register_api_key(KEY)
    yield engine
    engine.close()


@pytest.fixture
def client(engine):
    with TestClient(create_app(engine, public_url="http://testserver"), headers={"Api-Key": KEY}) as c:
        yield c


def error(resp, status: int, code: str, message: str | None = None) -> str:
    """Assert an ErrorResponse body (ERR-1) and return its message."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "status"} and body["status"] == status
    assert body["error"]["code"] == code
    if message is not None:
        assert body["error"]["message"] == message
    return body["error"]["message"]


# ----------------------------------------------------------------------------- create / describe / list


def test_create_returns_201_and_an_index_model_cp_state_4(client):
    resp = client.post("/indexes", json=DENSE)
    assert resp.status_code == 201
    model = resp.json()
    assert model["name"] == "movies" and model["dimension"] == 4 and model["metric"] == "euclidean"
    assert model["host"] == "http://testserver/data/movies"
    assert model["spec"] == SERVERLESS
    assert model["status"] == {"ready": True, "state": "Ready"}
    assert model["vector_type"] == "dense" and model["deletion_protection"] == "disabled"
    assert "tags" not in model  # omitted, not null: SDK 7.x rejects a null IndexTags
    assert len(model["id"]) == 36


def test_describe_and_list_return_the_same_model_cp_state_5(client):
    assert client.get("/indexes").json() == {"indexes": []}
    created = client.post("/indexes", json=DENSE).json()
    assert client.get("/indexes/movies").json() == created
    client.post("/indexes", json={"name": "kw", "vector_type": "sparse", "spec": SERVERLESS})
    names = sorted(m["name"] for m in client.get("/indexes").json()["indexes"])
    assert names == ["kw", "movies"]


def test_sparse_index_has_no_dimension_cp_type_3(client):
    model = client.post("/indexes", json={"name": "kw", "vector_type": "sparse", "metric": "dotproduct",
                                          "spec": SERVERLESS}).json()
    assert "dimension" not in model and model["vector_type"] == "sparse" and model["metric"] == "dotproduct"


def test_tags_are_returned_cp_tag_4(client):
    model = client.post("/indexes", json={**DENSE, "tags": {"env": "prod"}}).json()
    assert model["tags"] == {"env": "prod"}


def test_duplicate_name_is_409_cp_name_3(client):
    client.post("/indexes", json=DENSE)
    error(client.post("/indexes", json=DENSE), 409, "ALREADY_EXISTS", "Resource already exists.")


def test_bad_name_is_400_with_the_oas_message_cp_name_1(client):
    error(client.post("/indexes", json={**DENSE, "name": "Movies"}), 400, "INVALID_ARGUMENT", NAME_MESSAGE)


def test_missing_field_is_422_err_4(client):
    message = error(client.post("/indexes", json={"dimension": 4, "spec": SERVERLESS}), 422, "UNPROCESSABLE_ENTITY")
    assert "missing field `name`" in message


def test_wrong_type_is_422_err_4(client):
    message = error(client.post("/indexes", json={**DENSE, "dimension": "4"}), 422, "UNPROCESSABLE_ENTITY")
    assert 'dimension: invalid type: string "4"' in message


def test_dimension_out_of_range_is_400_cp_type_2(client):
    error(client.post("/indexes", json={**DENSE, "dimension": 20_001}), 400, "INVALID_ARGUMENT")


def test_sparse_with_cosine_is_400_cp_type_4(client):
    body = {"name": "kw", "vector_type": "sparse", "metric": "cosine", "spec": SERVERLESS}
    assert "dotproduct" in error(client.post("/indexes", json=body), 400, "INVALID_ARGUMENT")


def test_unknown_region_is_404_cp_spec_2(client):
    body = {**DENSE, "spec": {"serverless": {"cloud": "aws", "region": "us-west1"}}}
    error(client.post("/indexes", json=body), 404, "NOT_FOUND", "Resource cloud: aws region: us-west1 not found.")


def test_pod_spec_is_400_cp_spec_1(client):
    body = {**DENSE, "spec": {"pod": {"environment": "us-east1-gcp", "pod_type": "p1.x1"}}}
    assert "only runs serverless" in error(client.post("/indexes", json=body), 400, "INVALID_ARGUMENT")


def test_malformed_json_is_400(client):
    resp = client.post("/indexes", content=b'{"name": "movies",', headers={"Content-Type": "application/json"})
    assert "not valid JSON" in error(resp, 400, "INVALID_ARGUMENT")


def test_rejected_create_creates_nothing(client):
    client.post("/indexes", json={**DENSE, "dimension": 0})
    assert client.get("/indexes").json() == {"indexes": []}


def test_unknown_index_is_404_err_6(client):
    error(client.get("/indexes/nope"), 404, "NOT_FOUND", "Index nope not found.")
    error(client.patch("/indexes/nope", json={"tags": {"a": "b"}}), 404, "NOT_FOUND", "Index nope not found.")
    error(client.delete("/indexes/nope"), 404, "NOT_FOUND", "Index nope not found.")


# ----------------------------------------------------------------------------- configure / delete


def test_configure_merges_and_removes_tags_cp_tag_2_3_cp_cfg_1(client):
    client.post("/indexes", json={**DENSE, "tags": {"env": "prod", "team": "ml"}})
    resp = client.patch("/indexes/movies", json={"tags": {"env": "", "owner": "ana"}})
    assert resp.status_code == 202
    assert resp.json()["tags"] == {"team": "ml", "owner": "ana"}
    assert client.get("/indexes/movies").json()["tags"] == {"team": "ml", "owner": "ana"}
    resp = client.patch("/indexes/movies", json={"tags": {"team": "", "owner": ""}})
    assert "tags" not in resp.json()


def test_deletion_protection_blocks_delete_cp_dp_2_3(client):
    client.post("/indexes", json=DENSE)
    resp = client.patch("/indexes/movies", json={"deletion_protection": "enabled"})
    assert resp.status_code == 202 and resp.json()["deletion_protection"] == "enabled"
    error(client.delete("/indexes/movies"), 403, "FORBIDDEN",
          "Deletion protection is enabled for this index. Disable deletion protection before retrying.")
    assert client.get("/indexes/movies").status_code == 200
    client.patch("/indexes/movies", json={"deletion_protection": "disabled"})
    resp = client.delete("/indexes/movies")
    assert resp.status_code == 202 and resp.content == b""
    error(client.get("/indexes/movies"), 404, "NOT_FOUND")


def test_configure_rejects_spec_on_serverless_cp_cfg_2(client):
    client.post("/indexes", json=DENSE)
    message = error(client.patch("/indexes/movies", json={"spec": {"pod": {"replicas": 2}}}), 400, "INVALID_ARGUMENT")
    assert "Only `spec.serverless.read_capacity` can be configured" in message


def test_configure_bad_values_and_types_cp_cfg_7(client):
    client.post("/indexes", json=DENSE)
    error(client.patch("/indexes/movies", json={"deletion_protection": "on"}), 400, "INVALID_ARGUMENT")
    error(client.patch("/indexes/movies", json={"deletion_protection": 1}), 422, "UNPROCESSABLE_ENTITY")


def test_configure_what_the_sdk_sends(client):
    """SDK 7.x always sends the current deletion_protection and the merged tags."""
    client.post("/indexes", json=DENSE)
    resp = client.patch("/indexes/movies", json={"deletion_protection": "disabled", "tags": {}})
    assert resp.status_code == 202 and "tags" not in resp.json()


# ----------------------------------------------------------------------------- auth and routing


ROUTES = [
    ("GET", "/indexes"), ("POST", "/indexes"), ("GET", "/indexes/movies"), ("PATCH", "/indexes/movies"),
    ("DELETE", "/indexes/movies"), ("GET", "/no/such/route"),
    ("POST", "/data/movies/vectors/upsert"), ("POST", "/data/movies/query"), ("GET", "/data/movies/vectors/fetch"),
    ("GET", "/data/movies/vectors/list"), ("POST", "/data/movies/vectors/update"),
    ("POST", "/data/movies/vectors/delete"), ("POST", "/data/movies/describe_index_stats"),
    ("GET", "/data/movies/describe_index_stats"), ("GET", "/data/movies/namespaces"),
    ("GET", "/data/movies/namespaces/ns"), ("DELETE", "/data/movies/namespaces/ns"),
]


@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize("headers", [{}, {"Api-Key": "wrong"}, {"Api-Key": ""}])
def test_every_route_needs_a_valid_api_key_auth_1(engine, method, path, headers):
    with TestClient(create_app(engine, public_url="http://testserver"), headers=headers) as anonymous:
        resp = anonymous.request(method, path, json={})
    assert resp.status_code == 401
    if path.startswith("/data/"):
        assert resp.json() == {"code": 16, "message": "Invalid API key.", "details": []}
    else:
        assert resp.json() == {"error": {"code": "UNAUTHENTICATED", "message": "Invalid API key."}, "status": 401}


def test_api_key_header_name_is_case_insensitive_auth_1(engine, client):
    with TestClient(create_app(engine, public_url="http://testserver"), headers={"API-KEY": KEY}) as c:
        assert c.get("/indexes").status_code == 200


def test_unknown_route_is_404_in_the_plane_shape(client):
    assert "Unknown route GET /nope" in error(client.get("/nope"), 404, "NOT_FOUND")
    resp = client.get("/data/movies/nope")
    assert resp.status_code == 404 and resp.json()["code"] == 5 and resp.json()["details"] == []


def test_wrong_method_is_405(client):
    error(client.put("/indexes"), 405, "UNIMPLEMENTED")


def test_unexpected_errors_are_500_without_internals(engine, client, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail /var/lib/db")

    monkeypatch.setattr(engine, "list_indexes", boom)
    resp = client.get("/indexes")
    assert resp.status_code == 500
    assert resp.json() == {"error": {"code": "UNKNOWN", "message": "Internal server error"}, "status": 500}
    assert "secret" not in resp.text
    assert "secret internal detail" in caplog.text  # logged for the operator

    monkeypatch.setattr(engine, "describe_index", boom)
    resp = client.post("/data/movies/query", json={"topK": 1, "vector": [1, 2, 3, 4]})
    assert resp.status_code == 500
    assert resp.json() == {"code": 2, "message": "Internal server error", "details": []}
