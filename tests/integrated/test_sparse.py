"""Sparse integrated indexes through the ASGI app, with the packaged sparse encoder:
create-for-model (CP-EMB-2/3), records upsert storing sparse vectors (DP-UR-3), search by
text, by sparse ``query.vector`` and hybrid (DP-S-1, HY-1), and ``query.match_terms``
(DP-S-8) as a pre-filter on the words of the text field."""

from __future__ import annotations

import json

import pytest

from spruce.inference.models import EMBED_MODEL, SPARSE_MODEL
from tests.api.conftest import SERVERLESS, api_client

V = "X-Pinecone-API-Version"
CREATE = {"name": "lexical", "cloud": "aws", "region": "us-east-1",
          "embed": {"model": SPARSE_MODEL, "field_map": {"text": "chunk_text"}}}
SEARCH = "/data/lexical/records/namespaces/ns/search"

# Scored by "Tesla cars", the records without "stock" outrank those with both words.
NEWS = [
    {"_id": "cars", "chunk_text": "Tesla Tesla Tesla: Tesla electric cars, Tesla Model 3 and Tesla Model Y.",
     "kind": "cars"},
    {"_id": "roadster", "chunk_text": "Tesla unveiled the Tesla Roadster; Tesla fans queued for Tesla cars.",
     "kind": "cars"},
    {"_id": "q4", "chunk_text": "Tesla stock surged 8% after strong Q4 earnings.", "kind": "stock"},
    {"_id": "rival", "chunk_text": "Competition weighs on the stock of Tesla as rivals launch EVs.", "kind": "stock"},
    {"_id": "giga", "chunk_text": "Gigafactory output lifts Tesla stock price.", "kind": "stock"},
    {"_id": "market", "chunk_text": "Stock market volatility hits technology shares.", "kind": "market"},
    {"_id": "donald", "chunk_text": "Donald F. Duck is a funny animal character", "kind": "cartoon"},
    {"_id": "duck", "chunk_text": "A duck is a funny animal", "kind": "cartoon"},
]
BOTH = {"q4", "rival", "giga"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with api_client(tmp_path_factory.mktemp("sparse") / "data") as c:
        r = c.post("/indexes/create-for-model", json=CREATE)
        assert r.status_code == 201, r.text
        body = "\n".join(json.dumps(r) for r in NEWS)
        r = c.post("/data/lexical/records/namespaces/ns/upsert", content=body,
                   headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 201, r.text
        yield c


def _search(client, query, **extra):
    r = client.post(SEARCH, json={"query": query, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def _ids(body):
    return [h["_id"] for h in body["result"]["hits"]]


def _error(r):
    assert r.status_code == 400, r.text
    return r.json().get("message") or r.json()["error"]["message"]


def test_create_for_sparse_model_makes_a_sparse_dotproduct_index(client):
    model = client.get("/indexes/lexical").json()
    assert model["vector_type"] == "sparse" and model["metric"] == "dotproduct" and "dimension" not in model
    assert model["embed"] == {
        "model": SPARSE_MODEL, "metric": "dotproduct", "vector_type": "sparse",
        "field_map": {"text": "chunk_text"}, "read_parameters": {"input_type": "query", "truncate": "END"},
        "write_parameters": {"input_type": "passage", "truncate": "END"},
    }
    fields = client.get("/indexes/lexical", headers={V: "2026-07"}).json()["schema"]["fields"]
    assert fields["_sparse_values"] == {"type": "sparse_vector"} and "_values" not in fields
    assert fields["chunk_text"]["type"] == "semantic_text" and fields["chunk_text"]["model"] == SPARSE_MODEL


@pytest.mark.parametrize("embed,needle", [
    ({"dimension": 384}, "remove `embed.dimension`"),
    ({"metric": "cosine"}, "not supported by model"),
    ({"read_parameters": {"max_tokens_per_sequence": 2048}}, "max_tokens_per_sequence"),
])
def test_create_for_sparse_model_errors(client, embed, needle):
    body = {**CREATE, "name": "bad", "embed": {**CREATE["embed"], **embed}}
    assert needle in _error(client.post("/indexes/create-for-model", json=body))


def test_upsert_stores_sparse_vectors_and_no_hidden_field(client):
    got = client.get("/data/lexical/vectors/fetch", params={"ids": "q4", "namespace": "ns"}).json()["vectors"]["q4"]
    assert got["values"] == [] and len(got["sparseValues"]["indices"]) > 3
    assert got["metadata"] == {"chunk_text": NEWS[2]["chunk_text"], "kind": "stock"}
    hit = _search(client, {"inputs": {"text": "earnings"}, "top_k": 1})["result"]["hits"][0]
    assert set(hit["fields"]) == {"chunk_text", "kind"}
    stats = client.get("/data/lexical/namespaces/ns", headers={V: "2025-10"}).json()
    assert stats["indexed_fields"]["fields"] == ["chunk_text", "kind"]


def test_search_by_text_and_by_sparse_vector_agree(client):
    by_text = _search(client, {"inputs": {"text": "funny cartoon duck"}, "top_k": 2})
    assert set(_ids(by_text)) == {"donald", "duck"} and by_text["usage"]["embed_total_tokens"] > 0
    emb = client.post("/embed", json={"model": SPARSE_MODEL, "parameters": {"input_type": "query"},
                                      "inputs": [{"text": "funny cartoon duck"}]}).json()["data"][0]
    by_vector = _search(client, {"vector": {"sparse_values": emb["sparse_values"],
                                            "sparse_indices": emb["sparse_indices"]}, "top_k": 2})
    assert _ids(by_vector) == _ids(by_text)
    assert [h["_score"] for h in by_vector["result"]["hits"]] == pytest.approx(
        [h["_score"] for h in by_text["result"]["hits"]], rel=1e-5)
    assert by_vector["usage"] == {"read_units": 1}


def test_match_terms_is_a_pre_filter_dp_s_8(client):
    query = {"inputs": {"text": "Tesla cars"}, "top_k": 2}
    unfiltered = _ids(_search(client, query))
    assert not BOTH & set(unfiltered)  # the two best hits lack "stock": a post-filter would return nothing
    body = _search(client, {**query, "match_terms": {"strategy": "all", "terms": ["TESLA", "stock"]}})
    assert len(body["result"]["hits"]) == 2 and set(_ids(body)) <= BOTH
    everything = _search(client, {**query, "top_k": 10, "match_terms": {"terms": ["Tesla", "stock"]}})
    assert set(_ids(everything)) == BOTH  # strategy defaults to all
    filtered = _search(client, {**query, "top_k": 10, "filter": {"kind": "stock"},
                                "match_terms": {"terms": ["gigafactory"]}})
    assert _ids(filtered) == ["giga"]


def test_match_terms_oas_example_and_other_query_sources(client):
    terms = {"strategy": "all", "terms": ["animal", "CHARACTER", "donald Duck"]}
    body = _search(client, {"inputs": {"text": "a funny duck"}, "top_k": 5, "match_terms": terms})
    assert _ids(body) == ["donald"]
    assert _ids(_search(client, {"id": "duck", "top_k": 5, "match_terms": terms})) == ["donald"]
    # whole words only: "giga" is not a word of "Gigafactory"
    assert _ids(_search(client, {"inputs": {"text": "tesla"}, "top_k": 5, "match_terms": {"terms": ["giga"]}})) == []


@pytest.mark.parametrize("query,needle", [
    ({"match_terms": {"strategy": "any", "terms": ["tesla"]}}, "must be `all`"),
    ({"match_terms": {"terms": []}}, "non-empty list"),
    ({"match_terms": {"terms": "tesla"}}, "non-empty list"),
    ({"match_terms": {"terms": ["tesla", "?!"]}}, "terms[1]"),
    ({"match_terms": ["tesla"]}, "must be an object"),
    ({"top_k": 1001}, "between 1 and 1000"),
    ({"inputs": None, "vector": {"values": [0.1, 0.2]}}, "is sparse"),
    ({"inputs": None, "vector": {"sparse_values": [0.5]}}, "go together"),
    ({"inputs": None, "vector": {"sparse_values": [0.5, 1], "sparse_indices": [3]}}, "same length"),
])
def test_sparse_search_errors(client, query, needle):
    body = {"inputs": {"text": "tesla"}, "top_k": 3, **query}
    assert needle in _error(client.post(SEARCH, json={"query": {k: v for k, v in body.items() if v is not None}}))


def test_match_terms_on_dense_indexes_is_400(client):
    client.post("/indexes/create-for-model", json={**CREATE, "name": "dense",
                                                   "embed": {"model": EMBED_MODEL, "field_map": {"text": "t"}}})
    client.post("/indexes", json={"name": "plain", "dimension": 2, "spec": SERVERLESS})
    for index, needle in (("dense", "is a dense index"), ("plain", "without integrated embedding")):
        r = client.post(f"/data/{index}/records/namespaces/ns/search", json={"query": {
            "id": "x", "top_k": 1, "match_terms": {"terms": ["tesla"]}}})
        assert needle in _error(r) and "sparse index with integrated embedding" in _error(r)


def test_hybrid_search_vector_on_a_dense_dotproduct_index_hy_1(client):
    client.post("/indexes", json={"name": "hybrid", "dimension": 2, "metric": "dotproduct", "spec": SERVERLESS})
    client.post("/indexes", json={"name": "cos", "dimension": 2, "metric": "cosine", "spec": SERVERLESS})
    vectors = [{"id": "a", "values": [1, 0], "sparseValues": {"indices": [5], "values": [0.1]}},
               {"id": "b", "values": [0.5, 0], "sparseValues": {"indices": [9], "values": [3.0]}}]
    assert client.post("/data/hybrid/vectors/upsert", json={"namespace": "ns", "vectors": vectors}).status_code == 200
    path = "/data/hybrid/records/namespaces/ns/search"
    dense = client.post(path, json={"query": {"vector": {"values": [1, 0]}, "top_k": 2}}).json()
    assert _ids(dense) == ["a", "b"]
    hybrid = client.post(path, json={"query": {"vector": {"values": [1, 0], "sparse_values": [1.0],
                                                          "sparse_indices": [9]}, "top_k": 2}}).json()
    assert _ids(hybrid) == ["b", "a"]
    assert hybrid["result"]["hits"][0]["_score"] == pytest.approx(0.5 + 3.0)
    r = client.post("/data/cos/records/namespaces/ns/search", json={"query": {"vector": {
        "values": [1, 0], "sparse_values": [1.0], "sparse_indices": [9]}, "top_k": 2}})
    assert "dotproduct" in _error(r)
    r = client.post(path, json={"query": {"vector": {"sparse_values": [1.0], "sparse_indices": [9]}, "top_k": 2}})
    assert "is dense" in _error(r)
