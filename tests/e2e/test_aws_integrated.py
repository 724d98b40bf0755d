"""Integrated indexes on the AWS host, offline: create-for-model and PATCH embed on the
control-plane handler, records upsert and search on the data-plane handler, embedding through
the inference function (``LambdaInvoker``), and ``match_terms`` answered by the query
executors once the index builder has moved the records into slabs (DP-S-8)."""

from __future__ import annotations

import json

import pytest

from spruce.inference.models import EMBED_MODEL, SPARSE_MODEL
from tests.api.conftest import KEY, SERVERLESS
from tests.e2e.aws_host import DOMAIN, aws_host
from tests.integrated.test_sparse import BOTH, NEWS


@pytest.fixture
def aws(moto_server, tmp_path):
    with aws_host(moto_server, tmp_path, api_key=KEY) as host:
        yield host


def _upsert(aws, index, records):
    headers = {"host": DOMAIN, "x-forwarded-proto": "https", "content-type": "application/x-ndjson", "api-key": KEY}
    body = "\n".join(json.dumps(r) for r in records).encode()
    return aws.invoke_http("POST", f"/data/{index}/records/namespaces/ns/upsert", query="", headers=headers,
                           body=body)[0]


def _search(aws, index, query):
    status, _, body = aws.http("POST", f"/data/{index}/records/namespaces/ns/search", {"query": query})
    assert status == 200, body
    return [h["_id"] for h in body["result"]["hits"]]


def test_sparse_integrated_index_and_match_terms_on_the_aws_host(aws):
    status, _, model = aws.http("POST", "/indexes/create-for-model", {
        "name": "lexical", "cloud": "aws", "region": "us-east-1",
        "embed": {"model": SPARSE_MODEL, "field_map": {"text": "chunk_text"}}})
    assert status == 201 and model["vector_type"] == "sparse" and model["embed"]["model"] == SPARSE_MODEL
    assert _upsert(aws, "lexical", NEWS) == 201
    assert aws.executor.inference_calls == 1  # the batch was embedded by the inference function
    query = {"inputs": {"text": "Tesla cars"}, "top_k": 2, "match_terms": {"terms": ["tesla", "stock"]}}
    in_tail = _search(aws, "lexical", query)
    assert len(in_tail) == 2 and set(in_tail) <= BOTH
    assert aws.build() == {"batchItemFailures": []}
    executor_calls = aws.executor.calls
    assert _search(aws, "lexical", query) == in_tail  # now from slabs, through the executors
    assert aws.executor.calls > executor_calls
    fetched = aws.http("GET", "/data/lexical/vectors/fetch", query="ids=q4&namespace=ns")[2]["vectors"]["q4"]
    assert set(fetched["metadata"]) == {"chunk_text", "kind"}


def test_configure_embed_on_the_aws_host(aws):
    aws.http("POST", "/indexes", {"name": "plain", "dimension": 384, "metric": "cosine", "spec": SERVERLESS})
    status, _, model = aws.http("PATCH", "/indexes/plain", {"embed": {"model": EMBED_MODEL,
                                                                      "field_map": {"text": "chunk_text"}}})
    assert status == 202 and model["embed"]["model"] == EMBED_MODEL
    assert _upsert(aws, "plain", NEWS) == 201
    assert _search(aws, "plain", {"inputs": {"text": "a funny cartoon duck"}, "top_k": 1}) in (["donald"], ["duck"])
    status, _, body = aws.http("PATCH", "/indexes/plain", {"embed": {"model": SPARSE_MODEL}})
    assert status == 400 and "cannot be changed" in body["error"]["message"]
