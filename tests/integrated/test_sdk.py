"""Pinecone's quickstart through the official SDK 7.x against ``spruce serve``: create an index
for a model, upsert text records, search with and without rerank (issue 6, part 2)."""

from __future__ import annotations

import pytest
from pinecone.exceptions import PineconeApiException

from spruce.inference.models import EMBED_MODEL, RERANK_MODEL, SPARSE_MODEL
from tests.integrated.corpus import MONUMENTS, RECORDS
from tests.sdk.server import sdk_client

NS = "example-namespace"
QUERY = "Famous historical structures and monuments"


@pytest.fixture(scope="module")
def pc(tmp_path_factory):
    with sdk_client(tmp_path_factory.mktemp("integrated-sdk") / "data") as client:
        yield client


@pytest.fixture(scope="module")
def index(pc):
    pc.create_index_for_model(name="quickstart", cloud="aws", region="us-east-1",
                              embed={"model": EMBED_MODEL, "field_map": {"text": "chunk_text"}})
    idx = pc.Index(host=pc.describe_index("quickstart").host)
    idx.upsert_records(NS, RECORDS)
    return idx


def test_describe_shows_embed(pc, index):
    desc = pc.describe_index("quickstart")
    assert desc.dimension == 384 and desc.metric == "cosine" and desc.vector_type == "dense"
    assert desc.embed.model == EMBED_MODEL and desc.embed.field_map == {"text": "chunk_text"}
    assert desc.embed.dimension == 384 and desc.embed.metric == "cosine"
    assert desc.embed.write_parameters["input_type"] == "passage"
    assert [i.name for i in pc.list_indexes()] == ["quickstart"]
    assert index.describe_index_stats().namespaces[NS].vector_count == len(RECORDS)


def test_search_ranks_monuments_first(index):
    res = index.search(namespace=NS, query={"inputs": {"text": QUERY}, "top_k": 5})
    hits = res.result.hits
    assert len(hits) == 5
    assert {h["_id"] for h in hits[:3]} == set(MONUMENTS)
    assert hits[0]["fields"]["category"] == "history" and "chunk_text" in hits[0]["fields"]
    assert res.usage.read_units >= 1 and res.usage.embed_total_tokens > 0
    res = index.search(namespace=NS, query={"inputs": {"text": "baking bread at home"}, "top_k": 3})
    assert res.result.hits[0]["_id"] == "rec4"
    res = index.search(namespace=NS, query={"inputs": {"text": "planets and telescopes"}, "top_k": 2})
    assert {h["_id"] for h in res.result.hits} == {"rec6", "rec7"}


def test_search_with_rerank(index):
    res = index.search(namespace=NS, query={"inputs": {"text": QUERY}, "top_k": 10},
                       rerank={"model": RERANK_MODEL, "top_n": 3, "rank_fields": ["chunk_text"]},
                       fields=["category", "chunk_text"])
    hits = res.result.hits
    assert [h["_id"] for h in hits if h["_id"] in MONUMENTS] == [h["_id"] for h in hits]
    assert len(hits) == 3
    assert all(0.0 <= h["_score"] <= 1.0 for h in hits)
    assert hits[0]["_score"] >= hits[1]["_score"] >= hits[2]["_score"]
    assert set(hits[0]["fields"]) == {"category", "chunk_text"}
    assert res.usage.rerank_units == 1


def test_search_filter_fields_and_id(index):
    res = index.search(namespace=NS, query={"inputs": {"text": QUERY}, "top_k": 3,
                                            "filter": {"category": {"$eq": "cooking"}}}, fields=["category"])
    assert {h["_id"] for h in res.result.hits} == {"rec4", "rec5"}
    assert all(h["fields"] == {"category": "cooking"} for h in res.result.hits)
    res = index.search(namespace=NS, query={"id": "rec2", "top_k": 3})
    assert res.result.hits[0]["_id"] == "rec2"


def test_upsert_records_on_plain_index_is_400(pc):
    pc.create_index(name="plain", dimension=384, spec={"serverless": {"cloud": "aws", "region": "us-east-1"}})
    plain = pc.Index(host=pc.describe_index("plain").host)
    with pytest.raises(PineconeApiException) as err:
        plain.upsert_records(NS, RECORDS[:1])
    assert err.value.status == 400 and "create-for-model" in err.value.body


def test_configure_index_embed_converts_and_updates(pc):
    """CP-CFG-3/4 through SDK 7.x's ``configure_index(embed=...)``."""
    pc.create_index(name="convert-me", dimension=384, metric="cosine",
                    spec={"serverless": {"cloud": "aws", "region": "us-east-1"}})
    assert pc.describe_index("convert-me").embed is None
    pc.configure_index("convert-me", embed={"model": EMBED_MODEL, "field_map": {"text": "chunk_text"}})
    desc = pc.describe_index("convert-me")
    assert desc.embed.model == EMBED_MODEL and desc.embed.field_map == {"text": "chunk_text"}
    assert desc.embed.dimension == 384 and desc.embed.read_parameters["input_type"] == "query"
    idx = pc.Index(host=desc.host)
    idx.upsert_records(NS, RECORDS)
    res = idx.search(namespace=NS, query={"inputs": {"text": "baking bread at home"}, "top_k": 1})
    assert res.result.hits[0]["_id"] == "rec4"
    pc.configure_index("convert-me", embed={"field_map": {"text": "body"}, "write_parameters": {"truncate": "NONE"}})
    desc = pc.describe_index("convert-me")
    assert desc.embed.field_map == {"text": "body"} and desc.embed.write_parameters["truncate"] == "NONE"
    with pytest.raises(PineconeApiException) as err:
        pc.configure_index("convert-me", embed={"model": "multilingual-e5-large"})
    assert err.value.status == 400 and "cannot be changed" in err.value.body
    with pytest.raises(PineconeApiException) as err:
        pc.configure_index("convert-me", embed={"read_parameters": {"input_type": "image"}})
    assert err.value.status == 400 and "input_type" in err.value.body


def test_sparse_integrated_index(pc):
    """A sparse index for the packaged sparse encoder (CP-EMB-2): text and sparse-vector search."""
    pc.create_index_for_model(name="lexical", cloud="aws", region="us-east-1",
                              embed={"model": SPARSE_MODEL, "field_map": {"text": "chunk_text"}})
    desc = pc.describe_index("lexical")
    assert desc.vector_type == "sparse" and desc.metric == "dotproduct" and desc.dimension is None
    assert desc.embed.model == SPARSE_MODEL and desc.embed.vector_type == "sparse"
    idx = pc.Index(host=desc.host)
    idx.upsert_records(NS, RECORDS)
    res = idx.search(namespace=NS, query={"inputs": {"text": "honeybees pollinate flowers"}, "top_k": 2})
    assert res.result.hits[0]["_id"] == "rec11" and res.usage.embed_total_tokens > 0
    emb = pc.inference.embed(model=SPARSE_MODEL, inputs=["honeybees pollinate flowers"],
                             parameters={"input_type": "query"})[0]
    res = idx.search(namespace=NS, query={"top_k": 1, "vector": {"sparse_values": emb["sparse_values"],
                                                                  "sparse_indices": emb["sparse_indices"]}})
    assert res.result.hits[0]["_id"] == "rec11"
    fetched = idx.fetch(ids=["rec11"], namespace=NS).vectors["rec11"]
    assert fetched.sparse_values.indices and fetched.metadata == {k: v for k, v in RECORDS[10].items() if k != "_id"}
