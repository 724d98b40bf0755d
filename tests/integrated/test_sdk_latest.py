"""Integrated indexes through the latest official SDK (10.x, API 2026-07; run in
``.venv-sdk-latest`` by ``make test``): create-for-model, describe and list round-trip the
embed block as a ``semantic_text`` schema field (CP-EMB-6), ``configure(schema=...)``
changes its parameters (CP-CFG-4), records upsert and search work unchanged."""

from __future__ import annotations

import pinecone
import pytest

from spruce.inference.models import EMBED_MODEL, RERANK_MODEL, SPARSE_MODEL
from tests.integrated.corpus import MONUMENTS, RECORDS
from tests.sdk.server import sdk_client

SDK_MAJOR = int(pinecone.__version__.split(".")[0]) if hasattr(pinecone, "__version__") else 7
pytestmark = pytest.mark.skipif(SDK_MAJOR < 10, reason="SDK 10.x (API 2026-07) only; 7.x is tests/integrated/test_sdk.py")

NS = "example-namespace"


@pytest.fixture(scope="module")
def pc(tmp_path_factory):
    with sdk_client(tmp_path_factory.mktemp("integrated-sdk10") / "data") as client:
        yield client


@pytest.fixture(scope="module")
def created(pc):
    return pc.indexes.create_for_model(
        name="quickstart", cloud="aws", region="us-east-1",
        embed={"model": EMBED_MODEL, "field_map": {"text": "chunk_text"}, "metric": "dotproduct"},
        schema={"fields": {"category": {"filterable": True}}}, tags={"env": "test"})


def test_create_describe_list_round_trip_the_embed_block(pc, created):
    for model in (created, pc.indexes.describe("quickstart"), next(iter(pc.indexes.list()))):
        field = model.schema.fields["chunk_text"]
        assert field.model == EMBED_MODEL and field.metric == "dotproduct"
        assert field.read_parameters == {"input_type": "query", "truncate": "END"}
        assert field.write_parameters == {"input_type": "passage", "truncate": "END"}
        assert model.schema.fields["_values"].dimension == 384
        assert model.tags == {"env": "test"} and model.status.ready
    legacy = pc.describe_index("quickstart")  # the deprecated 9.x accessors still resolve
    assert legacy.embed.model == EMBED_MODEL and legacy.embed.field_map == {"text": "chunk_text"}
    assert legacy.dimension == 384 and legacy.metric == "dotproduct" and legacy.vector_type == "dense"


def test_records_upsert_and_search(pc, created):
    index = pc.index(host=created.host)
    assert index.upsert_records(namespace=NS, records=RECORDS).record_count == len(RECORDS)
    res = index.search(namespace=NS, top_k=3, inputs={"text": "Famous historical structures and monuments"},
                       fields=["category"])
    assert {h.id for h in res.result.hits} == set(MONUMENTS)
    assert all(h.fields == {"category": "history"} for h in res.result.hits)
    res = index.search(namespace=NS, top_k=5, inputs={"text": "ancient monuments"},
                       rerank={"model": RERANK_MODEL, "rank_fields": ["chunk_text"], "top_n": 2})
    assert len(res.result.hits) == 2 and res.usage.rerank_units == 1


def test_configure_semantic_text_parameters(pc, created):
    model = pc.indexes.configure("quickstart", schema={"fields": {"chunk_text": {
        "type": "semantic_text", "read_parameters": {"input_type": "query", "truncate": "NONE"}}}})
    assert model.schema.fields["chunk_text"].read_parameters["truncate"] == "NONE"
    assert pc.indexes.describe("quickstart").schema.fields["chunk_text"].read_parameters["truncate"] == "NONE"
    with pytest.raises(pinecone.errors.ApiError) as err:
        pc.indexes.configure("quickstart", schema={"fields": {"chunk_text": {
            "type": "semantic_text", "model": "multilingual-e5-large"}}})
    assert err.value.status_code == 400 and "cannot be changed" in str(err.value)


def test_sparse_index_and_match_terms(pc, created):
    """A sparse integrated index shows `_sparse_values` and its semantic_text field; search's
    `match_terms` keeps only hits whose text has every term (DP-S-8)."""
    model = pc.indexes.create_for_model(name="lexical", cloud="aws", region="us-east-1",
                                        embed={"model": SPARSE_MODEL, "field_map": {"text": "chunk_text"}})
    assert model.schema.fields["chunk_text"].model == SPARSE_MODEL
    legacy = pc.describe_index("lexical")
    assert legacy.vector_type == "sparse" and legacy.metric == "dotproduct" and legacy.dimension is None
    index = pc.index(host=model.host)
    index.upsert_records(namespace=NS, records=RECORDS)
    res = index.search(namespace=NS, top_k=3, inputs={"text": "the ancient empire"})
    assert len(res.result.hits) == 3
    res = index.search(namespace=NS, top_k=3, inputs={"text": "the ancient empire"},
                       match_terms={"strategy": "all", "terms": ["Roman", "empire"]})
    assert [h.id for h in res.result.hits] == ["rec2"]
    with pytest.raises(pinecone.errors.ApiError) as err:
        pc.index(host=created.host).search(
            namespace=NS, top_k=3, inputs={"text": "x"}, match_terms={"strategy": "all", "terms": ["x"]})
    assert err.value.status_code == 400 and "sparse index" in str(err.value)
