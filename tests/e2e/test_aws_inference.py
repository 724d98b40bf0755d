"""The Inference API on the AWS host, offline: the control-plane handler (lean, no model
runtime in production) validates each request and sends it through ``LambdaInvoker`` to the
inference function's handler, which runs the packaged models. Every answer, errors included
(INF-E-7, INF-M-2), must equal the embedded server's."""

from __future__ import annotations

import pytest

from spruce.inference.models import EMBED_MODEL, RERANK_MODEL, SPARSE_MODEL
from tests.api.conftest import KEY, api_client
from tests.e2e.aws_host import aws_host
from tests.e2e.test_aws_handlers import Embedded, _same

REQUESTS = [
    ("POST", "/embed", {"model": EMBED_MODEL, "parameters": {"input_type": "passage"},
                        "inputs": [{"text": "Spruce trees grow in cold climates."}, {"text": "hello"}]}),
    ("POST", "/embed", {"model": SPARSE_MODEL, "parameters": {"input_type": "query", "return_tokens": True},
                        "inputs": [{"text": "what is the capital of france"}]}),
    ("POST", "/rerank", {"model": RERANK_MODEL, "query": "capital of France", "top_n": 2,
                         "documents": ["Bananas are yellow.", "Paris is the capital of France.", "Taxes are due."]}),
    ("POST", "/embed", {"model": SPARSE_MODEL, "parameters": {"input_type": "query", "truncate": "NONE"},
                        "inputs": [{"text": "word " * 600}]}),  # 400 from the inference function
    ("POST", "/embed", {"model": EMBED_MODEL, "parameters": {"input_type": "query", "dimension": 512},
                        "inputs": [{"text": "x"}]}),  # 400 before any invocation
    ("GET", "/models", None),
    ("GET", "/models/llama-text-embed-v2", None),
]


@pytest.fixture
def aws(moto_server, tmp_path):
    with aws_host(moto_server, tmp_path, api_key=KEY) as host:
        yield host


def test_inference_on_the_aws_host_answers_as_the_embedded_server(aws, tmp_path):
    with api_client(tmp_path / "embedded") as client:
        embedded = Embedded(client)
        for method, path, body in REQUESTS:
            status, _, got = aws.http(method, path, body)
            want_status, _, want = embedded.http(method, path, body)
            assert status == want_status and _same(got, want), (path, body and body.get("model"), got)
    assert aws.executor.inference_calls == 4  # three answers and the truncate-NONE refusal; the 400 never left
    assert aws.executor.calls == 0


def test_a_failing_inference_function_is_a_503(aws, monkeypatch):
    def crash(event, context=None):
        raise MemoryError("Runtime exited: out of memory")

    monkeypatch.setattr(aws.m["inference"], "handler", crash)
    status, _, body = aws.http("POST", "/embed", REQUESTS[0][2])
    assert status == 503 and body["error"]["code"] == "UNAVAILABLE"
    assert "inference function failed" in body["error"]["message"]
