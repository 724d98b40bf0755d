"""``PATCH /indexes/{name}`` with ``embed`` (CP-CFG-1..4, CP-CFG-7) and the 2026-07 view of an
integrated index (its embed block as a ``semantic_text`` schema field), through the ASGI app."""

from __future__ import annotations

import json

import pytest

from spruce.inference.models import EMBED_MODEL, RERANK_MODEL
from tests.api.conftest import SERVERLESS, api_client
from tests.integrated.corpus import RECORDS

V = "X-Pinecone-API-Version"
EMBED = {"model": EMBED_MODEL, "field_map": {"text": "chunk_text"}}
DEFAULT_READ = {"input_type": "query", "truncate": "END"}
DEFAULT_WRITE = {"input_type": "passage", "truncate": "END"}


@pytest.fixture
def client(tmp_path):
    with api_client(tmp_path / "data") as c:
        yield c


def _plain(client, name="plain", **fields):
    body = {"name": name, "dimension": 384, "metric": "cosine", "spec": SERVERLESS, **fields}
    r = client.post("/indexes", json=body)
    assert r.status_code == 201, r.text


def _integrated(client, name="docs", embed=EMBED):
    r = client.post("/indexes/create-for-model", json={"name": name, "cloud": "aws", "region": "us-east-1",
                                                      "embed": embed})
    assert r.status_code == 201, r.text


def _upsert(client, index, records):
    body = "\n".join(json.dumps(r) for r in records)
    return client.post(f"/data/{index}/records/namespaces/ns/upsert", content=body,
                       headers={"Content-Type": "application/x-ndjson"})


def _error(r, status=400):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and set(body["error"]) == {"code", "message"}
    return body["error"]["message"]


def test_convert_plain_index_to_integrated_cp_cfg_3(client):
    _plain(client, metric="dotproduct", tags={"env": "dev"})
    r = client.patch("/indexes/plain", json={"embed": EMBED})
    assert r.status_code == 202
    expected = {"model": EMBED_MODEL, "metric": "dotproduct", "dimension": 384, "vector_type": "dense",
                "field_map": {"text": "chunk_text"}, "read_parameters": DEFAULT_READ,
                "write_parameters": DEFAULT_WRITE}
    assert r.json()["embed"] == expected and r.json()["tags"] == {"env": "dev"}
    assert client.get("/indexes/plain").json()["embed"] == expected
    assert client.get("/indexes").json()["indexes"][0]["embed"] == expected
    # the converted index now embeds records and search text (DP-UR-1, DP-S-1)
    assert _upsert(client, "plain", RECORDS).status_code == 201
    hits = client.post("/data/plain/records/namespaces/ns/search",
                       json={"query": {"inputs": {"text": "honeybees pollinating flowers"}, "top_k": 1}}).json()
    assert hits["result"]["hits"][0]["_id"] == "rec11"


@pytest.mark.parametrize("create,embed,needle", [
    ({"dimension": 8}, EMBED, "dimension 8"),
    ({"dimension": None, "vector_type": "sparse", "metric": "dotproduct"}, EMBED, "vector type must match"),
    ({}, {"model": EMBED_MODEL}, "missing: field_map"),
    ({}, {"field_map": {"text": "t"}}, "missing: model"),
    ({}, {**EMBED, "model": "llama-text-embed-v2"}, "not available on Spruce"),
    ({}, {**EMBED, "model": RERANK_MODEL}, "rerank model"),
    ({}, {**EMBED, "field_map": {"body": "t"}}, "field_map"),
    ({}, {**EMBED, "read_parameters": {"input_type": "image"}}, "input_type"),
    ({}, {**EMBED, "write_parameters": {"temperature": 1}}, "Unsupported parameter"),
    ({}, {**EMBED, "dimension": 384}, "Cannot configure `embed.dimension`"),
])
def test_convert_errors_are_400_and_write_nothing(client, create, embed, needle):
    _plain(client, **create)
    before = client.get("/indexes/plain").json()
    msg = _error(client.patch("/indexes/plain", json={"embed": embed, "tags": {"changed": "yes"}}))
    assert needle in msg
    assert client.get("/indexes/plain").json() == before  # no partial write: the tag did not land either


def test_hybrid_index_cannot_be_converted_hy_4(client):
    r = client.post("/indexes", headers={V: "2026-07"}, json={"name": "hybrid", "schema": {"fields": {
        "_values": {"type": "dense_vector", "dimension": 384, "metric": "dotproduct"},
        "_sparse_values": {"type": "sparse_vector"}}}})
    assert r.status_code == 201, r.text
    assert "hybrid" in _error(client.patch("/indexes/hybrid", json={"embed": EMBED}))


@pytest.mark.parametrize("body,status", [
    ({"embed": "all-minilm-l6-v2"}, 422),
    ({"embed": {"model": 384}}, 422),
    ({"embed": {**EMBED, "field_map": "chunk_text"}}, 422),
    ({"embed": {**EMBED, "read_parameters": ["query"]}}, 422),
])
def test_configure_embed_wrong_types_are_422_cp_cfg_7(client, body, status):
    _plain(client)
    assert "Failed to deserialize" in _error(client.patch("/indexes/plain", json=body), status)


def test_configure_embed_on_missing_index_is_404(client):
    _error(client.patch("/indexes/nope", json={"embed": EMBED}), 404)


def test_update_field_map_and_parameters_cp_cfg_4(client):
    _integrated(client)
    r = client.patch("/indexes/docs", json={"embed": {"field_map": {"text": "body"},
                                                      "read_parameters": {"truncate": "NONE"}}})
    assert r.status_code == 202, r.text
    embed = r.json()["embed"]
    assert embed["field_map"] == {"text": "body"} and embed["model"] == EMBED_MODEL
    assert embed["read_parameters"] == {"input_type": "query", "truncate": "NONE"}
    assert embed["write_parameters"] == DEFAULT_WRITE
    # upserts now read the new field, and refuse records without it
    assert _upsert(client, "docs", [{"_id": "a", "body": "Tulips bloom in spring."}]).status_code == 201
    r = _upsert(client, "docs", [{"_id": "b", "chunk_text": "old field"}])
    assert r.status_code == 400 and "`body`" in r.json()["message"]
    # the same model again is accepted (unchanged); another model is refused
    assert client.patch("/indexes/docs", json={"embed": {"model": EMBED_MODEL}}).status_code == 202
    assert "cannot be changed" in _error(client.patch("/indexes/docs", json={"embed": {"model": "other-model"}}))
    assert client.get("/indexes/docs").json()["embed"] == embed


def test_2026_07_shows_embed_as_semantic_text_field(client):
    _integrated(client)
    model = client.get("/indexes/docs", headers={V: "2026-07"}).json()
    fields = model["schema"]["fields"]
    assert fields["_values"] == {"type": "dense_vector", "dimension": 384, "metric": "cosine"}
    assert fields["chunk_text"] == {"type": "semantic_text", "model": EMBED_MODEL, "metric": "cosine",
                                    "read_parameters": DEFAULT_READ, "write_parameters": DEFAULT_WRITE}
    assert "embed" not in model
    listed = client.get("/indexes", headers={V: "2026-07"}).json()["indexes"][0]
    assert listed["schema"] == model["schema"]


def test_2026_07_configure_semantic_text_parameters(client):
    _integrated(client)
    field = {"type": "semantic_text", "write_parameters": {"truncate": "NONE"}}
    r = client.patch("/indexes/docs", headers={V: "2026-07"}, json={"schema": {"fields": {"chunk_text": field}}})
    assert r.status_code == 202, r.text
    assert r.json()["schema"]["fields"]["chunk_text"]["write_parameters"] == {"input_type": "passage",
                                                                              "truncate": "NONE"}
    wrong = {"schema": {"fields": {"title": field}}}
    assert "its text field is `chunk_text`" in _error(client.patch("/indexes/docs", json=wrong))
    typed = {"schema": {"fields": {"genre": {"type": "string", "filterable": True}}}}
    assert "only the `semantic_text` field" in _error(client.patch("/indexes/docs", json=typed))
    metric = {"schema": {"fields": {"chunk_text": {**field, "metric": "euclidean"}}}}
    assert "cannot be changed" in _error(client.patch("/indexes/docs", json=metric))
    _plain(client)
    assert "not created for a model" in _error(client.patch("/indexes/plain", json={"schema": {"fields": {
        "chunk_text": field}}}))
