"""Records API and create-for-model through the ASGI app: shapes, validation and errors."""

from __future__ import annotations

import json

import pytest

from spruce.inference.models import EMBED_MODEL, RERANK_MODEL
from tests.api.conftest import SERVERLESS, api_client
from tests.integrated.corpus import RECORDS

EMBED = {"model": EMBED_MODEL, "field_map": {"text": "chunk_text"}}
CREATE = {"name": "docs", "cloud": "aws", "region": "us-east-1", "embed": EMBED}
SEARCH = "/data/docs/records/namespaces/ns/search"
UPSERT = "/data/docs/records/namespaces/ns/upsert"


@pytest.fixture
def client(tmp_path):
    with api_client(tmp_path / "data") as c:
        yield c


@pytest.fixture
def loaded(client):
    assert client.post("/indexes/create-for-model", json=CREATE).status_code == 201
    assert _upsert(client, UPSERT, RECORDS).status_code == 201
    return client


def _upsert(client, path, records):
    body = "\n".join(json.dumps(r) for r in records)
    return client.post(path, content=body, headers={"Content-Type": "application/x-ndjson"})


def _data_error(r, status=400):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == {400: 3, 404: 5}[status]
    return body["message"]


def _control_error(r, status=400):
    assert r.status_code == status, r.text
    return r.json()["error"]["message"]


def test_create_for_model_echoes_embed_and_describe_list_show_it(client):
    r = client.post("/indexes/create-for-model", json={
        **CREATE, "deletion_protection": "enabled", "tags": {"env": "test"},
        "embed": {**EMBED, "metric": "dotproduct", "read_parameters": {"truncate": "NONE"}},
    })
    assert r.status_code == 201
    model = r.json()
    assert model["dimension"] == 384 and model["metric"] == "dotproduct" and model["vector_type"] == "dense"
    assert model["deletion_protection"] == "enabled" and model["tags"] == {"env": "test"}
    assert model["embed"] == {
        "model": EMBED_MODEL, "metric": "dotproduct", "dimension": 384, "vector_type": "dense",
        "field_map": {"text": "chunk_text"}, "read_parameters": {"input_type": "query", "truncate": "NONE"},
        "write_parameters": {"input_type": "passage", "truncate": "END"},
    }
    assert client.get("/indexes/docs").json()["embed"] == model["embed"]
    assert client.get("/indexes").json()["indexes"][0]["embed"] == model["embed"]
    assert _control_error(client.post("/indexes/create-for-model", json=CREATE), 409)


@pytest.mark.parametrize("embed,needle", [
    ({**EMBED, "model": "multilingual-e5-large"}, "not available on Spruce"),
    ({**EMBED, "model": RERANK_MODEL}, "rerank model"),
    ({**EMBED, "field_map": {"body": "chunk_text"}}, "field_map"),
    ({**EMBED, "field_map": {"text": "a", "title": "b"}}, "field_map"),
    ({**EMBED, "field_map": {"text": ""}}, "field_map"),
    ({**EMBED, "metric": "manhattan"}, "not supported by model"),
    ({**EMBED, "dimension": 1024}, "Dimension 1024"),
    ({**EMBED, "write_parameters": {"input_type": "image"}}, "input_type"),
    ({**EMBED, "read_parameters": {"temperature": 1}}, "Unsupported parameter"),
])
def test_create_for_model_invalid_values_are_400(client, embed, needle):
    assert needle in _control_error(client.post("/indexes/create-for-model", json={**CREATE, "embed": embed}))
    assert client.get("/indexes").json()["indexes"] == []


@pytest.mark.parametrize("body,status", [
    ({k: v for k, v in CREATE.items() if k != "embed"}, 422),
    ({**CREATE, "embed": {"model": EMBED_MODEL}}, 422),
    ({**CREATE, "embed": {**EMBED, "field_map": "chunk_text"}}, 422),
    ({**CREATE, "region": "mars-1"}, 404),
    ({**CREATE, "name": "Bad_Name"}, 400),
])
def test_create_for_model_shape_errors(client, body, status):
    _control_error(client.post("/indexes/create-for-model", json=body), status)


def test_upsert_records_on_plain_index_is_400(client):
    client.post("/indexes", json={"name": "plain", "dimension": 384, "spec": SERVERLESS})
    msg = _data_error(_upsert(client, "/data/plain/records/namespaces/ns/upsert", RECORDS[:2]))
    assert "create-for-model" in msg
    assert _data_error(_upsert(client, "/data/missing/records/namespaces/ns/upsert", RECORDS[:1]), 404)


def test_upsert_records_validation(loaded):
    too_many = [{"_id": f"r{i}", "chunk_text": "text"} for i in range(97)]
    assert "at most 96" in _data_error(_upsert(loaded, UPSERT, too_many))
    assert "_id" in _data_error(_upsert(loaded, UPSERT, [{"chunk_text": "no id"}]))
    assert "chunk_text" in _data_error(_upsert(loaded, UPSERT, [{"_id": "x", "text": "wrong field"}]))
    assert "NDJSON" in _data_error(loaded.post(UPSERT, content=b"", headers={"Content-Type": "application/x-ndjson"}))
    assert "not valid JSON" in _data_error(loaded.post(UPSERT, content=b'{"_id": "x"\n',
                                                       headers={"Content-Type": "application/x-ndjson"}))
    assert _data_error(_upsert(loaded, UPSERT, [{"_id": "x", "chunk_text": "t", "bad": {"nested": 1}}]))


def test_upsert_records_id_alias_and_fields_stored_as_metadata(loaded):
    r = _upsert(loaded, UPSERT, [{"id": "alias", "chunk_text": "Tulips bloom in spring.", "year": 2024}])
    assert r.status_code == 201 and r.content == b"" and "x-pinecone-request-lsn" in r.headers
    fetched = loaded.get("/data/docs/vectors/fetch", params={"ids": "alias", "namespace": "ns"}).json()
    rec = fetched["vectors"]["alias"]
    assert len(rec["values"]) == 384 and rec["metadata"] == {"chunk_text": "Tulips bloom in spring.", "year": 2024}


def test_search_shapes_fields_and_usage(loaded):
    r = loaded.post(SEARCH, json={"query": {"inputs": {"text": "ancient monuments"}, "top_k": 3}})
    assert r.status_code == 200
    assert int(r.headers["x-pinecone-max-indexed-lsn"]) >= 1  # a read like any other (DP-LSN-2)
    body = r.json()
    assert set(body) == {"result", "usage"} and set(body["usage"]) == {"read_units", "embed_total_tokens"}
    hits = body["result"]["hits"]
    assert len(hits) == 3 and all(set(h) == {"_id", "_score", "fields"} for h in hits)
    assert set(hits[0]["fields"]) == {"chunk_text", "category"}
    only = loaded.post(SEARCH, json={"query": {"inputs": {"text": "x"}, "top_k": 2}, "fields": ["category"]}).json()
    assert all(set(h["fields"]) == {"category"} for h in only["result"]["hits"])
    star = loaded.post(SEARCH, json={"query": {"inputs": {"text": "x"}, "top_k": 1}, "fields": ["*"]}).json()
    assert set(star["result"]["hits"][0]["fields"]) == {"chunk_text", "category"}
    none = loaded.post(SEARCH, json={"query": {"inputs": {"text": "x"}, "top_k": 1}, "fields": ["absent"]}).json()
    assert none["result"]["hits"][0]["fields"] == {}


def test_search_by_vector_and_id_and_rerank_usage(loaded):
    vec = loaded.post("/embed", json={"model": EMBED_MODEL, "parameters": {"input_type": "query"},
                                      "inputs": [{"text": "honeybees and flowers"}]}).json()["data"][0]["values"]
    r = loaded.post(SEARCH, json={"query": {"vector": {"values": vec}, "top_k": 1}})
    assert r.json()["result"]["hits"][0]["_id"] == "rec11" and r.json()["usage"] == {"read_units": 1}
    r = loaded.post(SEARCH, json={"query": {"id": "rec11", "top_k": 2},
                                  "rerank": {"model": RERANK_MODEL, "rank_fields": ["chunk_text"],
                                             "query": "insects that make honey", "top_n": 1}})
    body = r.json()
    assert body["result"]["hits"][0]["_id"] == "rec11" and len(body["result"]["hits"]) == 1
    assert body["usage"] == {"read_units": 1, "rerank_units": 1}


@pytest.mark.parametrize("body,needle", [
    ({"query": {"inputs": {"text": "x"}}}, "top_k"),
    ({"query": {"inputs": {"text": "x"}, "top_k": 0}}, "top_k"),
    ({"query": {"top_k": 3}}, "exactly one"),
    ({"query": {"inputs": {"text": "x"}, "id": "rec1", "top_k": 3}}, "exactly one"),
    ({"query": {"inputs": {"text": ""}, "top_k": 3}}, "inputs"),
    ({"query": {"vector": {"values": [0.1, 0.2]}, "top_k": 3}}, "dimension"),
    ({"query": {"inputs": {"text": "x"}, "top_k": 3, "match_terms": {"terms": ["x"]}}}, "match_terms"),
    ({"query": {"inputs": {"text": "x"}, "top_k": 3}, "fields": "chunk_text"}, "fields"),
    ({"query": {"inputs": {"text": "x"}, "top_k": 3}, "rerank": {"model": RERANK_MODEL}}, "rank_fields"),
    ({"query": {"inputs": {"text": "x"}, "top_k": 3},
      "rerank": {"model": "cohere-rerank-3.5", "rank_fields": ["chunk_text"]}}, "not available"),
    ({"query": {"inputs": {"text": "x"}, "top_k": 3},
      "rerank": {"model": RERANK_MODEL, "rank_fields": ["missing"]}}, "missing"),
    ({"query": {"id": "rec1", "top_k": 3}, "rerank": {"model": RERANK_MODEL, "rank_fields": ["chunk_text"]}},
     "rerank.query"),
    ({"query": {"inputs": {"text": "x"}, "top_k": 3, "filter": {"category": {"$bad": 1}}}}, "$bad"),
])
def test_search_validation_errors(loaded, body, needle):
    assert needle in _data_error(loaded.post(SEARCH, json=body))


def test_search_text_on_plain_index_is_400_but_vector_works(client):
    client.post("/indexes", json={"name": "plain", "dimension": 2, "spec": SERVERLESS})
    client.post("/data/plain/vectors/upsert", json={"namespace": "ns", "vectors": [
        {"id": "a", "values": [1, 0], "metadata": {"k": "v"}}]})
    path = "/data/plain/records/namespaces/ns/search"
    assert "integrated embedding" in _data_error(client.post(path, json={"query": {"inputs": {"text": "x"},
                                                                                      "top_k": 1}}))
    r = client.post(path, json={"query": {"vector": {"values": [1, 0]}, "top_k": 1}})
    assert r.json()["result"]["hits"] == [{"_id": "a", "_score": pytest.approx(1.0), "fields": {"k": "v"}}]
