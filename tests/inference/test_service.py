"""The inference service: real packaged MiniLM, validation, truncation, limits and usage."""

from __future__ import annotations

import numpy as np
import pytest

from spruce.errors import InvalidArgumentError, NotFoundError
from spruce.inference.models import EMBED_MODEL, MINILM_MAX_SEQUENCE, RERANK_MODEL, SPARSE_MODEL

Q = {"input_type": "query"}


def embed(service, texts, **params):
    return service.embed({"model": EMBED_MODEL, "parameters": {**Q, **params}, "inputs": [{"text": t} for t in texts]})


def rows(resp):
    return [np.asarray(d["values"]).tolist() for d in resp["data"]]


def vec(resp, i=0):
    return np.asarray(resp["data"][i]["values"], dtype=np.float32)


def test_embed_shape_norm_and_usage(service):
    r = embed(service, ["What is the maximum diameter of a red pine?", "hello"])
    assert r["model"] == EMBED_MODEL and r["vector_type"] == "dense"
    assert [d["vector_type"] for d in r["data"]] == ["dense", "dense"]
    assert len(vec(r)) == 384
    assert abs(float(np.linalg.norm(vec(r))) - 1.0) < 1e-4
    # WordPiece tokens without [CLS]/[SEP]: 10 for Pinecone's own example (INF-E-8), 1 for "hello".
    assert r["usage"] == {"total_tokens": 11}


def test_embed_is_deterministic_and_batch_independent(service):
    texts = ["The quick brown fox jumps over the lazy dog.", "a", "Spruce trees grow in cold climates " * 5]
    a, b = embed(service, texts), embed(service, texts)
    assert rows(a) == rows(b)
    alone = embed(service, [texts[2]])
    assert np.allclose(vec(a, 2), vec(alone), atol=1e-5)  # padding inside a batch changes nothing


def test_embed_is_semantic_not_random(service):
    r = embed(service, ["A cat sits on the mat.", "A kitten is sitting on a rug.", "Quarterly revenue grew by 8%."])
    cat, kitten, money = vec(r, 0), vec(r, 1), vec(r, 2)
    assert float(cat @ kitten) > 0.5 > float(cat @ money)


def test_input_type_query_and_passage_embed_identically(service):
    text = ["how do spruce trees survive winter"]
    q = embed(service, text, input_type="query")
    p = embed(service, text, input_type="passage")
    assert rows(q) == rows(p)


def test_input_type_required_and_checked(service):
    with pytest.raises(InvalidArgumentError, match="input_type"):
        service.embed({"model": EMBED_MODEL, "inputs": [{"text": "x"}]})
    with pytest.raises(InvalidArgumentError, match="input_type"):
        embed(service, ["x"], input_type="document")


def test_truncate_end_cuts_and_none_refuses(service):
    long = "word " * 400  # 400 tokens > 254
    r = embed(service, [long], truncate="END")
    assert r["usage"]["total_tokens"] == MINILM_MAX_SEQUENCE - 2
    assert rows(embed(service, [long])) == rows(r)  # END is the default
    with pytest.raises(InvalidArgumentError, match="truncate is NONE"):
        embed(service, [long], truncate="NONE")
    fits = "word " * (MINILM_MAX_SEQUENCE - 2)
    assert embed(service, [fits], truncate="NONE")["usage"]["total_tokens"] == MINILM_MAX_SEQUENCE - 2
    with pytest.raises(InvalidArgumentError, match="truncate"):
        embed(service, ["x"], truncate="START")


def test_embed_limits_and_bad_bodies(service):
    assert len(embed(service, ["x"] * 96)["data"]) == 96
    with pytest.raises(InvalidArgumentError, match="at most 96"):
        embed(service, ["x"] * 97)
    with pytest.raises(InvalidArgumentError, match="inputs"):
        embed(service, [])
    with pytest.raises(InvalidArgumentError, match=r"inputs\[0\]"):
        service.embed({"model": EMBED_MODEL, "parameters": Q, "inputs": [{"txt": "x"}]})
    with pytest.raises(InvalidArgumentError, match="Unsupported parameter"):
        embed(service, ["x"], return_tokens=True)
    with pytest.raises(InvalidArgumentError, match="dimension"):
        embed(service, ["x"], dimension=1024)
    assert len(embed(service, ["x"], dimension=384)["data"][0]["values"]) == 384


@pytest.mark.parametrize("name", ["multilingual-e5-large", "pinecone-sparse-english-v0", "no-such-model"])
def test_embed_unknown_or_unshipped_model_names_the_available_ones(service, name):
    with pytest.raises(InvalidArgumentError) as err:
        service.embed({"model": name, "parameters": Q, "inputs": [{"text": "x"}]})
    assert name in err.value.message and f"'{EMBED_MODEL}'" in err.value.message


def test_embed_with_a_rerank_model_is_refused(service):
    with pytest.raises(InvalidArgumentError, match="is a rerank model"):
        service.embed({"model": RERANK_MODEL, "parameters": Q, "inputs": [{"text": "x"}]})


DOCS = [
    {"id": "bananas", "text": "Bananas are a good source of potassium."},
    {"id": "paris", "text": "Paris is the capital and largest city of France."},
    {"id": "tax", "text": "Quarterly tax filings are due at the end of the month."},
]


def rerank(service, **kw):
    return service.rerank({"model": RERANK_MODEL, "query": "What is the capital of France?", "documents": DOCS, **kw})


def test_rerank_orders_relevant_first(service):
    r = rerank(service)
    assert r["model"] == RERANK_MODEL and r["usage"] == {"rerank_units": 1}
    assert [d["index"] for d in r["data"]][0] == 1
    assert r["data"][0]["document"] == DOCS[1]
    scores = [d["score"] for d in r["data"]]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] - scores[-1] > 0.2
    assert rerank(service) == r  # deterministic


def test_rerank_top_n_return_documents_and_strings(service):
    r = rerank(service, top_n=1, return_documents=False)
    assert r["data"] == [{"index": 1, "score": r["data"][0]["score"]}]
    assert len(rerank(service, top_n=10)["data"]) == 3  # top_n above the document count returns them all
    for bad in (0, -1, "2", True):
        with pytest.raises(InvalidArgumentError, match="top_n"):
            rerank(service, top_n=bad)
    texts = [d["text"] for d in DOCS]
    plain = service.rerank({"model": RERANK_MODEL, "query": "capital of France", "documents": texts})
    assert plain["data"][0]["index"] == 1 and plain["data"][0]["document"] == {"text": DOCS[1]["text"]}


def test_rerank_rank_fields(service):
    docs = [{"body": d["text"], "text": "unrelated"} for d in DOCS]
    r = service.rerank({"model": RERANK_MODEL, "query": "capital of France", "documents": docs,
                        "rank_fields": ["body"]})
    assert r["data"][0]["index"] == 1
    with pytest.raises(InvalidArgumentError, match="only 1 rank field"):
        rerank(service, rank_fields=["text", "id"])
    with pytest.raises(InvalidArgumentError, match="no string field 'title'"):
        rerank(service, rank_fields=["title"])
    with pytest.raises(InvalidArgumentError, match="rank_fields"):
        rerank(service, rank_fields=[])


def test_rerank_limits_and_truncation(service):
    many = [{"text": f"document {i}"} for i in range(101)]
    with pytest.raises(InvalidArgumentError, match="at most 100"):
        service.rerank({"model": RERANK_MODEL, "query": "q", "documents": many})
    assert len(service.rerank({"model": RERANK_MODEL, "query": "q", "documents": many[:100]})["data"]) == 100
    long = [{"text": "Paris is the capital of France. " + "filler " * 400}]
    assert service.rerank({"model": RERANK_MODEL, "query": "q", "documents": long})["data"][0]["index"] == 0
    with pytest.raises(InvalidArgumentError, match="truncate is NONE"):
        service.rerank({"model": RERANK_MODEL, "query": "q", "documents": long, "parameters": {"truncate": "NONE"}})
    with pytest.raises(InvalidArgumentError, match="query"):
        service.rerank({"model": RERANK_MODEL, "query": "", "documents": DOCS})
    with pytest.raises(InvalidArgumentError, match="documents"):
        service.rerank({"model": RERANK_MODEL, "query": "q", "documents": []})


@pytest.mark.parametrize("name", ["bge-reranker-v2-m3", "cohere-rerank-3.5", EMBED_MODEL])
def test_rerank_unavailable_model(service, name):
    with pytest.raises(InvalidArgumentError) as err:
        service.rerank({"model": name, "query": "q", "documents": DOCS})
    assert f"'{RERANK_MODEL}'" in err.value.message


def test_models_list_filter_and_describe(service):
    names = [m["model"] for m in service.list_models()["models"]]
    assert names == [EMBED_MODEL, SPARSE_MODEL, RERANK_MODEL]
    assert [m["model"] for m in service.list_models("rerank")["models"]] == [RERANK_MODEL]
    assert [m["model"] for m in service.list_models("embed", "dense")["models"]] == [EMBED_MODEL]
    assert [m["model"] for m in service.list_models("embed", "sparse")["models"]] == [SPARSE_MODEL]
    info = service.describe_model(EMBED_MODEL)
    assert info["default_dimension"] == 384 and info["supported_dimensions"] == [384]
    assert info["max_sequence_length"] == 256 and info["max_batch_size"] == 96
    assert info["vector_type"] == "dense" and "cosine" in info["supported_metrics"]
    assert {p["parameter"] for p in info["supported_parameters"]} == {"input_type", "truncate", "dimension"}
    assert "Not a cross-encoder" in service.describe_model(RERANK_MODEL)["short_description"]
    with pytest.raises(NotFoundError, match="Model multilingual-e5-large not found"):
        service.describe_model("multilingual-e5-large")
    with pytest.raises(InvalidArgumentError):
        service.list_models("classify")


def test_a_host_without_the_model_files_answers_503_not_500(monkeypatch, tmp_path):
    """The AWS stack's lean API layer ships no model: a clear 503 naming what to install."""
    from spruce.inference import onnx_minilm

    monkeypatch.setenv("SPRUCE_MINILM_ONNX", str(tmp_path / "missing.onnx"))
    with pytest.raises(onnx_minilm.ModelUnavailableError) as caught:
        onnx_minilm.model_files()
    assert (caught.value.status, caught.value.code) == (503, "UNAVAILABLE")
    assert "not installed" in str(caught.value)
