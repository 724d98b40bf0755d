"""The Inference API through the ASGI app: routes, statuses and the control-plane error shape."""

from __future__ import annotations

import pytest

from spruce.inference.models import EMBED_MODEL, RERANK_MODEL, SPARSE_MODEL
from tests.api.conftest import api_client


@pytest.fixture(scope="module")
def client(tmp_path_factory, minilm):
    with api_client(tmp_path_factory.mktemp("inference-api")) as c:
        yield c


def assert_error(r, status: int, code: str, *needles: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "status"} and body["status"] == status
    assert body["error"]["code"] == code
    for n in needles:
        assert n in body["error"]["message"]


def test_embed(client):
    body = {"model": EMBED_MODEL, "parameters": {"input_type": "passage", "truncate": "END"},
            "inputs": [{"text": "The quick brown fox jumps over the lazy dog."}, {"text": "Spruce"}]}
    r = client.post("/embed", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == EMBED_MODEL and out["vector_type"] == "dense"
    assert [len(d["values"]) for d in out["data"]] == [384, 384]
    assert out["usage"]["total_tokens"] > 0
    assert client.post("/embed", json=body).json() == out  # deterministic over HTTP too


@pytest.mark.parametrize("body, needle", [
    ({"model": "multilingual-e5-large", "parameters": {"input_type": "query"}, "inputs": [{"text": "x"}]},
     EMBED_MODEL),
    ({"model": EMBED_MODEL, "inputs": [{"text": "x"}]}, "input_type"),
    ({"model": EMBED_MODEL, "parameters": {"input_type": "query"}, "inputs": [{"text": "x"}] * 97}, "at most 96"),
    ({"model": EMBED_MODEL, "parameters": {"input_type": "query", "truncate": "NONE"},
      "inputs": [{"text": "word " * 300}]}, "truncate is NONE"),
    ({"model": EMBED_MODEL, "parameters": {"input_type": "query"}}, "inputs"),
])
def test_embed_errors_are_400_invalid_argument(client, body, needle):
    assert_error(client.post("/embed", json=body), 400, "INVALID_ARGUMENT", needle)


def test_embed_bad_json(client):
    assert_error(client.post("/embed", content=b"{nope"), 400, "INVALID_ARGUMENT", "JSON")


def test_rerank(client):
    body = {"model": RERANK_MODEL, "query": "Which animal barks?", "top_n": 2,
            "documents": [{"id": "a", "text": "Interest rates rose again."},
                          {"id": "b", "text": "Dogs bark at strangers."},
                          {"id": "c", "text": "The stock market closed higher."}]}
    r = client.post("/rerank", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["usage"] == {"rerank_units": 1} and len(out["data"]) == 2
    assert out["data"][0]["index"] == 1 and out["data"][0]["document"]["id"] == "b"


@pytest.mark.parametrize("patch, needle", [
    ({"model": "bge-reranker-v2-m3"}, RERANK_MODEL),
    ({"rank_fields": ["text", "id"]}, "rank field"),
    ({"top_n": 0}, "top_n"),
    ({"documents": [{"text": "d"}] * 101}, "at most 100"),
    ({"documents": [{"text": "word " * 300}], "parameters": {"truncate": "NONE"}}, "truncate is NONE"),
])
def test_rerank_errors_are_400(client, patch, needle):
    body = {"model": RERANK_MODEL, "query": "q", "documents": [{"text": "d"}], **patch}
    assert_error(client.post("/rerank", json=body), 400, "INVALID_ARGUMENT", needle)


def test_models(client):
    r = client.get("/models")
    assert r.status_code == 200
    assert [m["model"] for m in r.json()["models"]] == [EMBED_MODEL, SPARSE_MODEL, RERANK_MODEL]
    assert [m["model"] for m in client.get("/models", params={"type": "rerank"}).json()["models"]] == [RERANK_MODEL]
    sparse = client.get("/models", params={"type": "embed", "vector_type": "sparse"}).json()["models"]  # INF-M-1
    assert [m["model"] for m in sparse] == [SPARSE_MODEL]
    info = client.get(f"/models/{EMBED_MODEL}").json()
    assert info["model"] == EMBED_MODEL and info["default_dimension"] == 384
    assert_error(client.get("/models/bge-reranker-v2-m3"), 404, "NOT_FOUND", "Model bge-reranker-v2-m3 not found",
                 EMBED_MODEL)


def test_inference_needs_an_api_key(client):
    r = client.post("/embed", json={}, headers={"Api-Key": "wrong"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"


def test_not_on_the_data_plane_only_app(tmp_path):
    from fastapi.testclient import TestClient

    from spruce.api.app import create_app
    from spruce.engine.local import open_local

    engine = open_local(tmp_path)
    engine.register_api_key("k")
    try:
        with TestClient(create_app(engine, public_url=None, planes=("data",)), headers={"Api-Key": "k"}) as c:
            assert c.get("/models").status_code == 404
    finally:
        engine.close()


def test_mounting_the_router_imports_no_model_runtime():
    import subprocess
    import sys

    code = ("import sys; from spruce.api.app import create_app; "
            "print(sorted(m for m in ('onnxruntime', 'tokenizers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
