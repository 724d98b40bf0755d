"""Amazon Bedrock behind the provider port, offline with botocore's Stubber: the request each
model gets, how its answer is read, and Bedrock's errors as Pinecone-shaped ones (INF-E-7 and
documented statuses; never a 500)."""

from __future__ import annotations

import io
import json
from functools import partial

import boto3
import numpy as np
import pytest
from botocore.config import Config
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from fastapi.testclient import TestClient

from spruce.api.app import create_app
from spruce.engine.local import open_local
from spruce.errors import InvalidArgumentError, ResourceExhaustedError, UnavailableError
from spruce.inference import bedrock
from spruce.inference.hub import HostedModel, ModelHub
from spruce.inference.service import InferenceService
from tests.api.conftest import KEY

REGION = "us-west-2"
TITAN = "amazon.titan-embed-text-v2:0"
COHERE_EN = "cohere.embed-english-v3"
RERANK = "cohere-rerank-3.5"


@pytest.fixture
def clients():
    once = Config(retries={"mode": "standard", "total_max_attempts": 1})  # one stubbed answer per call
    made = {api: boto3.client(api, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test",
                              config=once) for api in ("bedrock-runtime", "bedrock-agent-runtime")}
    stubs = {api: Stubber(c) for api, c in made.items()}
    for s in stubs.values():
        s.activate()
    yield made, stubs
    for s in stubs.values():
        s.assert_no_pending_responses()
        s.deactivate()


@pytest.fixture
def service(clients) -> InferenceService:
    made, _ = clients
    return InferenceService(ModelHub(
        HostedModel(m.spec, partial(bedrock.provider, name, REGION, made.__getitem__))
        for name, m in bedrock.CATALOGUE.items()))


def invoked(payload: dict, tokens: int | None = None) -> dict:
    raw = json.dumps(payload).encode()
    out = {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}
    if tokens is not None:
        out["ResponseMetadata"] = {"HTTPStatusCode": 200,
                                   "HTTPHeaders": {"x-amzn-bedrock-input-token-count": str(tokens)}}
    return out


def invoke_params(model_id: str, body: dict) -> dict:
    return {"modelId": model_id, "body": json.dumps(body), "contentType": "application/json",
            "accept": "application/json"}


def test_titan_request_and_response(clients, service):
    _, stubs = clients
    vector = list(np.linspace(-1, 1, 256) / np.linalg.norm(np.linspace(-1, 1, 256)))
    stubs["bedrock-runtime"].add_response(
        "invoke_model", invoked({"embedding": vector, "inputTextTokenCount": 7}),
        invoke_params(TITAN, {"inputText": "Spruce trees grow slowly.", "dimensions": 256, "normalize": True}))
    out = service.embed({"model": TITAN, "parameters": {"input_type": "passage", "dimension": 256},
                         "inputs": [{"text": "Spruce trees grow slowly."}]})
    assert out["model"] == TITAN and out["vector_type"] == "dense" and out["usage"] == {"total_tokens": 7}
    assert np.allclose(out["data"][0]["values"], vector, atol=1e-7)


def test_titan_batch_fans_out_one_call_per_text(clients, service):
    _, stubs = clients
    for _ in range(3):
        stubs["bedrock-runtime"].add_response("invoke_model", invoked({"embedding": [1.0] + [0.0] * 1023,
                                                                       "inputTextTokenCount": 4}),
                                              {"modelId": TITAN, "body": ANY, "contentType": ANY, "accept": ANY})
    out = service.embed({"model": TITAN, "parameters": {"input_type": "query"},
                         "inputs": [{"text": f"text {i}"} for i in range(3)]})
    assert [len(d["values"]) for d in out["data"]] == [1024] * 3 and out["usage"] == {"total_tokens": 12}


def test_titan_dimension_is_validated_before_any_call(service):
    with pytest.raises(InvalidArgumentError, match="dimension"):
        service.embed({"model": TITAN, "parameters": {"input_type": "query", "dimension": 384},
                       "inputs": [{"text": "x"}]})


@pytest.mark.parametrize("input_type, cohere_type", [("query", "search_query"), ("passage", "search_document")])
def test_cohere_embed_maps_input_type_and_truncate(clients, service, input_type, cohere_type):
    _, stubs = clients
    stubs["bedrock-runtime"].add_response(
        "invoke_model",
        invoked({"id": "x", "response_type": "embeddings_by_type", "texts": ["a", "b"],
                 "embeddings": {"float": [[0.5] * 1024, [0.25] * 1024]}}, tokens=5),
        invoke_params(COHERE_EN, {"texts": ["a", "b"], "input_type": cohere_type, "truncate": "NONE",
                                  "embedding_types": ["float"]}))
    out = service.embed({"model": COHERE_EN, "parameters": {"input_type": input_type, "truncate": "NONE"},
                         "inputs": [{"text": "a"}, {"text": "b"}]})
    assert [d["values"][0] for d in out["data"]] == [0.5, 0.25]  # INF-E-6: order kept
    assert out["usage"] == {"total_tokens": 5}  # Bedrock's input-token count header


def test_cohere_rerank_through_the_rerank_api(clients, service):
    _, stubs = clients
    arn = f"arn:aws:bedrock:{REGION}::foundation-model/cohere.rerank-v3-5:0"
    docs = [{"title": "Tax", "body": "Quarterly filings."}, {"title": "France", "body": "Paris is the capital."}]
    stubs["bedrock-agent-runtime"].add_response(
        "rerank", {"results": [{"index": 1, "relevanceScore": 0.91}, {"index": 0, "relevanceScore": 0.02}]},
        {"queries": [{"type": "TEXT", "textQuery": {"text": "capital of France"}}],
         "sources": [{"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": t}}}
                     for t in ("title: Tax\nbody: Quarterly filings.", "title: France\nbody: Paris is the capital.")],
         "rerankingConfiguration": {"type": "BEDROCK_RERANKING_MODEL", "bedrockRerankingConfiguration": {
             "modelConfiguration": {"modelArn": arn}, "numberOfResults": 2}}})
    out = service.rerank({"model": RERANK, "query": "capital of France", "documents": docs,
                          "rank_fields": ["title", "body"], "top_n": 1})
    assert out == {"model": RERANK, "data": [{"index": 1, "score": 0.91, "document": docs[1]}],
                   "usage": {"rerank_units": 1}}


def test_cohere_rerank_limits_are_pinecones(service):
    with pytest.raises(InvalidArgumentError, match="at most 200"):
        service.rerank({"model": RERANK, "query": "q", "documents": ["d"] * 201})
    assert service.describe_model(RERANK)["provider_name"] == "Cohere (on Amazon Bedrock)"


@pytest.mark.parametrize("code, status, error, needle", [
    ("AccessDeniedException", 403, UnavailableError, "Bedrock console (Model access"),
    ("ValidationException", 400, InvalidArgumentError, "rejected the request"),
    ("ThrottlingException", 429, ResourceExhaustedError, "exponential backoff"),
    ("ServiceQuotaExceededException", 429, ResourceExhaustedError, "quota"),
    ("ResourceNotFoundException", 404, UnavailableError, "SPRUCE_BEDROCK_REGION"),
    ("ModelNotReadyException", 429, UnavailableError, "Retry later"),
    ("InternalServerException", 500, UnavailableError, "Retry later"),
])
def test_bedrock_errors_become_pinecone_errors(clients, service, code, status, error, needle):
    _, stubs = clients
    stubs["bedrock-runtime"].add_client_error("invoke_model", service_error_code=code, service_message="detail from AWS",
                                              http_status_code=status)
    with pytest.raises(error) as caught:
        service.embed({"model": COHERE_EN, "parameters": {"input_type": "query"}, "inputs": [{"text": "x"}]})
    assert needle in caught.value.message and "detail from AWS" in caught.value.message
    assert COHERE_EN in caught.value.message and caught.value.status != 500


def test_errors_over_http_have_the_control_plane_shape(clients, service, tmp_path):
    _, stubs = clients
    stubs["bedrock-agent-runtime"].add_client_error("rerank", service_error_code="AccessDeniedException",
                                                    service_message="not authorized", http_status_code=403)
    engine = open_local(tmp_path)
    engine.register_api_key(KEY)
    try:
        app = create_app(engine, public_url="http://testserver", planes=("control",), inference_service=service)
        with TestClient(app, headers={"Api-Key": KEY}) as client:
            r = client.post("/rerank", json={"model": RERANK, "query": "q", "documents": ["d"]})
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "UNAVAILABLE" and "Model access" in r.json()["error"]["message"]
            listed = [m["model"] for m in client.get("/models").json()["models"]]
            assert listed == list(bedrock.CATALOGUE)  # this host's catalogue, not the packaged one
            r = client.post("/embed", json={"model": "all-minilm-l6-v2", "parameters": {"input_type": "query"},
                                            "inputs": [{"text": "x"}]})
            assert r.status_code == 400 and "Available embed models on this server" in r.json()["error"]["message"]
    finally:
        engine.close()


def test_model_names_setting():
    assert bedrock.model_names(("all",)) == tuple(bedrock.CATALOGUE)
    assert bedrock.model_names((RERANK, TITAN)) == (RERANK, TITAN)
    with pytest.raises(ValueError, match="unknown model"):
        bedrock.model_names(("cohere.rerank-v3-5:0",))
