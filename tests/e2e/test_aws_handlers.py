"""End to end on the AWS host, offline: the real Lambda handlers, invoked with API Gateway
HTTP API (v2) events, the log table's DynamoDB stream records and executor invocations,
against one moto server (DynamoDB, its stream, S3; LanceDB reaches S3 through it too).

The same requests go to the embedded server; every answer must be identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.api.conftest import KEY, SERVERLESS, api_client
from tests.e2e.aws_host import DOMAIN, aws_host


@pytest.fixture
def aws(moto_server, tmp_path):
    with aws_host(moto_server, tmp_path, api_key=KEY) as host:
        yield host


class Embedded:
    def __init__(self, client) -> None:
        self.c = client

    def http(self, method: str, path: str, body: Any = None, *, key: str = KEY, query: str = ""):
        r = self.c.request(method, path + (f"?{query}" if query else ""), json=body,
                           headers={"Api-Key": key, "X-Pinecone-Api-Version": "2025-04"})
        return r.status_code, {k.lower(): v for k, v in r.headers.items()}, (r.json() if r.content else None)


def _records(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [{"id": f"v{seed}-{i:03d}", "values": rng.normal(size=8).round(4).tolist(),
             "metadata": {"genre": ["a", "b", "c"][i % 3], "year": 2000 + i % 7}} for i in range(n)]


def _same(a: Any, b: Any) -> bool:
    """Equal JSON, floats to 5 significant digits (the two hosts score in different orders)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= 1e-5 * max(1, abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _reads(host) -> list[tuple[int, Any]]:
    """Every read the scenario compares, with its status and body."""
    q = _records(1, 99)[0]["values"]
    calls = [
        ("POST", "/data/e2e/query", {"namespace": "ns", "vector": q, "topK": 10, "includeMetadata": True,
                                     "includeValues": True}),
        ("POST", "/data/e2e/query", {"namespace": "ns", "vector": q, "topK": 5,
                                     "filter": {"genre": {"$eq": "b"}, "year": {"$gte": 2003}}}),
        ("POST", "/data/e2e/query", {"namespace": "ns", "id": "v1-007", "topK": 3}),
        ("GET", "/data/e2e/vectors/fetch", None, "ids=v1-000&ids=v2-005&ids=missing&namespace=ns"),
        ("GET", "/data/e2e/vectors/list", None, "namespace=ns&prefix=v1-01&limit=4"),
        ("POST", "/data/e2e/describe_index_stats", {}),
    ]
    out = []
    for method, path, body, *query in calls:
        status, headers, payload = host.http(method, path, body, query=query[0] if query else "")
        assert "x-pinecone-max-indexed-lsn" in headers, path
        out.append((status, payload))
    return out


def _scenario(host, *, build) -> list[list[tuple[int, Any]]]:
    """create → upsert → build → query/fetch/list/stats → update/delete → build → reads."""
    status, _, model = host.http("POST", "/indexes", {"name": "e2e", "dimension": 8, "metric": "cosine",
                                                      "spec": SERVERLESS})
    assert status == 201, model
    snapshots = []
    lsns = []
    for seed in (1, 2):
        status, headers, body = host.http("POST", "/data/e2e/vectors/upsert",
                                          {"namespace": "ns", "vectors": _records(30, seed)})
        assert status == 200 and body == {"upsertedCount": 30}
        lsns.append(int(headers["x-pinecone-request-lsn"]))
        build()
    snapshots.append(_reads(host))
    status, headers, _ = host.http("POST", "/data/e2e/vectors/update",
                                   {"namespace": "ns", "id": "v1-000", "setMetadata": {"genre": "z"}})
    lsns.append(int(headers["x-pinecone-request-lsn"]))
    status, headers, _ = host.http("POST", "/data/e2e/vectors/delete",
                                   {"namespace": "ns", "ids": ["v2-005", "v1-010"]})
    lsns.append(int(headers["x-pinecone-request-lsn"]))
    snapshots.append(_reads(host))  # the tail over the slabs: read-your-writes before any build
    build()
    snapshots.append(_reads(host))
    assert lsns == [1, 2, 3, 4]
    return snapshots


def test_aws_handlers_answer_like_the_embedded_server(aws, tmp_path):
    got_aws = _scenario(aws, build=aws.build)
    assert aws.executor.calls > 0
    assert len({p.name for p in (tmp_path / "efs").rglob("slab-*.lance")}) >= 3  # executors read cached copies
    with api_client(tmp_path / "embedded") as client:
        embedded_host = Embedded(client)
        embedded = _scenario(embedded_host, build=lambda: None)
    for step, (got, want) in enumerate(zip(got_aws, embedded)):
        for i, (g, w) in enumerate(zip(got, want)):
            assert _same(g, w), (step, i, g, w)


def test_deleting_an_index_removes_its_data_everywhere(aws, moto_server):
    aws.http("POST", "/indexes", {"name": "gone", "dimension": 8, "metric": "cosine", "spec": SERVERLESS})
    big = [{"id": f"x{i}", "values": [0.5] * 8, "metadata": {"pad": "p" * 30_000}} for i in range(14)]
    assert aws.http("POST", "/data/gone/vectors/upsert", {"namespace": "ns", "vectors": big})[0] == 200
    aws.build()
    assert aws.http("POST", "/data/gone/vectors/upsert", {"namespace": "ns", "vectors": big[:13]})[0] == 200
    settings = aws.m["data_plane"].settings
    s3, dynamodb = moto_server.client("s3"), moto_server.client("dynamodb")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket).get("Contents", [])]
    assert any(k.startswith("slabs/") for k in keys) and any(k.startswith("log-spill/") for k in keys)

    status, _, _ = aws.http("DELETE", "/indexes/gone")
    assert status == 202
    assert s3.list_objects_v2(Bucket=settings.bucket).get("KeyCount", 0) == 0
    for table in (settings.tables.log, settings.tables.namespaces, settings.tables.manifests):
        assert dynamodb.scan(TableName=table)["Count"] == 0, table
    assert aws.http("GET", "/indexes/gone")[0] == 404


def test_index_host_follows_the_api_gateway_domain(aws):
    status, _, model = aws.http("POST", "/indexes", {"name": "h", "dimension": 4, "metric": "cosine",
                                                           "spec": SERVERLESS})
    assert status == 201
    assert model["host"] == f"https://{DOMAIN}/data/h"


#: AUTH-1's 401, in each API's error shape (ERR-1 control plane; ERR-3/ERR-5 index data plane).
UNAUTHENTICATED_CONTROL = {"error": {"code": "UNAUTHENTICATED", "message": "Invalid API key."}, "status": 401}
UNAUTHENTICATED_DATA = {"code": 16, "message": "Invalid API key.", "details": []}


@pytest.mark.parametrize("key", [None, "", "nope"], ids=["missing", "empty", "wrong"])
def test_a_missing_or_wrong_key_gets_pinecones_401_from_both_planes_auth_1(aws, key):
    """No authorizer stands in front of the functions (the stack has none): each plane's app
    refuses the request itself, with 401 and Pinecone's body (an HTTP API authorizer would
    answer 403 {"message":"Forbidden"} or 401 {"message":"Unauthorized"})."""
    assert aws.http("POST", "/indexes", {"name": "auth", "dimension": 4, "metric": "cosine",
                                         "spec": SERVERLESS})[0] == 201
    assert aws.http("POST", "/data/auth/vectors/upsert", {"vectors": [{"id": "a", "values": [1, 0, 0, 0]}]})[0] == 200
    calls = [
        ("GET", "/indexes", None, UNAUTHENTICATED_CONTROL),
        ("DELETE", "/indexes/auth", None, UNAUTHENTICATED_CONTROL),
        ("GET", "/no/such/route", None, UNAUTHENTICATED_CONTROL),  # refused before routing
        ("POST", "/data/auth/query", {"vector": [1, 0, 0, 0], "topK": 1}, UNAUTHENTICATED_DATA),  # the hot path
        ("POST", "/data/auth/describe_index_stats", {}, UNAUTHENTICATED_DATA),
        ("GET", "/data/auth/vectors/fetch", None, UNAUTHENTICATED_DATA),
    ]
    for method, path, body, expected in calls:
        status, headers, answer = aws.http(method, path, body, key=key)
        assert (status, answer) == (401, expected), (method, path)
        assert headers["content-type"] == "application/json", (method, path)
    # Nothing was deleted, and the host's key still works on both planes.
    status, _, model = aws.http("GET", "/indexes/auth")
    assert status == 200 and model["name"] == "auth"
    status, _, stats = aws.http("POST", "/data/auth/describe_index_stats", {})
    assert status == 200 and stats["dimension"] == 4
    status, _, found = aws.http("GET", "/data/auth/vectors/fetch", query="ids=a")
    assert status == 200 and list(found["vectors"]) == ["a"]


def test_a_redelivered_stream_batch_changes_nothing(aws, moto_server):
    aws.http("POST", "/indexes", {"name": "r", "dimension": 8, "metric": "cosine", "spec": SERVERLESS})
    aws.http("POST", "/data/r/vectors/upsert", {"namespace": "ns", "vectors": _records(20, 3)})
    event = aws.stream_event()
    assert [r["eventName"] for r in event["Records"]] == ["INSERT"]
    assert aws.build(event) == {"batchItemFailures": []}
    def manifests() -> list[dict]:
        items = moto_server.client("dynamodb").scan(TableName=aws.m["data_plane"].settings.tables.manifests)
        return sorted(items["Items"], key=lambda i: (i["index_id"]["S"], i["namespace"]["S"]))

    before = manifests()
    assert before and before[0]["version"] == {"N": "1"}
    _, _, stats = aws.http("POST", "/data/r/describe_index_stats", {})
    assert aws.build(event) == {"batchItemFailures": []}  # the same batch again
    assert aws.build() == {"batchItemFailures": []}  # and the MODIFY records truncation made
    assert manifests() == before
    assert aws.http("POST", "/data/r/describe_index_stats", {})[2] == stats
