"""End to end on the AWS host, offline: the real Lambda handlers, invoked with API Gateway
HTTP API (v2) events, the log table's DynamoDB stream records and executor invocations,
against one moto server (DynamoDB, its stream, S3; LanceDB reaches S3 through it too).

The same requests go to the embedded server; every answer must be identical.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import sys
import uuid
from typing import Any

import numpy as np
import pytest

from spruce.keys import hash_api_key
from spruce.storage.dynamo_catalog import DynamoCatalog
from spruce.storage.aws_tables import TableNames, create_tables
from tests.api.conftest import KEY, SERVERLESS, api_client
from tests.aws import ACCESS_KEY, REGION, SECRET_KEY, fresh_bucket

DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"
HANDLERS = ("control_plane", "data_plane", "authorizer", "index_builder", "query_executor", "compaction_task")


class ExecutorLambda:
    """A Lambda client whose ``invoke`` runs the query-executor handler, with the JSON round
    trip the Lambda service does (moto would need Docker to run a function)."""

    def __init__(self) -> None:
        self.calls = 0

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        assert InvocationType == "RequestResponse"
        self.calls += 1
        result = sys.modules["functions.query_executor"].handler(json.loads(Payload), None)
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(result).encode())}


class AwsHost:
    def __init__(self, modules: dict[str, Any], streams, log_table_arn: str, executor: ExecutorLambda) -> None:
        self.m = modules
        self._streams = streams
        self._arn = log_table_arn
        self._iterators: dict[str, str] = {}
        self.executor = executor

    def http(self, method: str, path: str, body: Any = None, *, key: str = KEY, query: str = "",
             authorize: bool = True) -> tuple[int, dict[str, str], Any]:
        """One request through the authorizer and then the function API Gateway routes it to."""
        headers = {"host": DOMAIN, "x-forwarded-proto": "https", "content-type": "application/json",
                   "api-key": key, "x-pinecone-api-version": "2025-04"}
        event = {
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
            "headers": headers, "isBase64Encoded": False,
            "body": None if body is None else json.dumps(body),
            "requestContext": {"accountId": "123456789012", "apiId": "abc123", "domainName": DOMAIN,
                               "domainPrefix": "abc123", "requestId": uuid.uuid4().hex, "routeKey": "$default",
                               "stage": "$default", "time": "24/Nov/2026:00:00:00 +0000", "timeEpoch": 0,
                               "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                        "sourceIp": "192.0.2.1", "userAgent": "test"}},
        }
        if authorize and not self.m["authorizer"].handler({"headers": headers}, None)["isAuthorized"]:
            return 403, {}, {"message": "Forbidden"}
        function = self.m["data_plane"] if path.startswith("/data/") else self.m["control_plane"]
        out = function.handler(event, None)
        raw = base64.b64decode(out["body"]) if out.get("isBase64Encoded") else out.get("body", "").encode()
        return out["statusCode"], {k.lower(): v for k, v in out["headers"].items()}, (json.loads(raw) if raw else None)

    def stream_event(self) -> dict[str, Any]:
        """New records of the log table's stream, shaped as the Lambda event source delivers them."""
        records = []
        stream = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]
        for shard in stream["Shards"]:
            sid = shard["ShardId"]
            it = self._iterators.get(sid) or self._streams.get_shard_iterator(
                StreamArn=self._arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            got = self._streams.get_records(ShardIterator=it)
            self._iterators[sid] = got["NextShardIterator"]
            for r in got["Records"]:
                records.append({"eventID": r["eventID"], "eventName": r["eventName"], "eventSource": "aws:dynamodb",
                                "awsRegion": REGION, "eventSourceARN": self._arn,
                                "dynamodb": {"Keys": r["dynamodb"]["Keys"],
                                             "SequenceNumber": r["dynamodb"]["SequenceNumber"],
                                             "StreamViewType": "KEYS_ONLY"}})
        return {"Records": records}

    def build(self, event: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.m["index_builder"].handler(self.stream_event() if event is None else event, None)


@pytest.fixture
def aws_host(moto_server, monkeypatch, tmp_path):
    env = {"AWS_ENDPOINT_URL": moto_server.endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": ACCESS_KEY,
           "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
           "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    suffix = uuid.uuid4().hex[:8]
    tables = TableNames(f"catalog-{suffix}", f"namespaces-{suffix}", f"manifests-{suffix}", f"log-{suffix}")
    dynamodb, s3 = moto_server.client("dynamodb"), moto_server.client("s3")
    create_tables(dynamodb, tables)
    bucket = fresh_bucket(s3)
    for name, value in {**tables.env(), "SPRUCE_BUCKET": bucket, "SPRUCE_EXECUTOR_FUNCTION": "spruce-executor",
                        "SPRUCE_EXECUTOR_GROUP_ROWS": "40", "SPRUCE_EFS_ROOT": str(tmp_path / "efs"),
                        "SPRUCE_EFS_MAX_BYTES": str(64 * 2**20)}.items():
        monkeypatch.setenv(name, value)

    import spruce.aws.settings as settings

    executor = ExecutorLambda()
    real_client = settings.client
    real_client.cache_clear()  # clients are per process; this test's process changed endpoint
    monkeypatch.setattr("spruce.aws.api.client", lambda s: executor if s == "lambda" else real_client(s))
    for name in HANDLERS:
        sys.modules.pop(f"functions.{name}", None)
    modules = {name: importlib.import_module(f"functions.{name}") for name in HANDLERS}
    DynamoCatalog(dynamodb, s3, tables, bucket).add_api_key_hash(hash_api_key(KEY))
    arn = dynamodb.describe_table(TableName=tables.log)["Table"]["LatestStreamArn"]
    yield AwsHost(modules, moto_server.client("dynamodbstreams"), arn, executor)
    for name in HANDLERS:
        sys.modules.pop(f"functions.{name}", None)
    real_client.cache_clear()


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


def test_aws_handlers_answer_like_the_embedded_server(aws_host, tmp_path):
    aws = _scenario(aws_host, build=aws_host.build)
    assert aws_host.executor.calls > 0
    assert len({p.name for p in (tmp_path / "efs").rglob("slab-*.lance")}) >= 3  # executors read cached copies
    with api_client(tmp_path / "embedded") as client:
        embedded_host = Embedded(client)
        embedded = _scenario(embedded_host, build=lambda: None)
    for step, (got, want) in enumerate(zip(aws, embedded)):
        for i, (g, w) in enumerate(zip(got, want)):
            assert _same(g, w), (step, i, g, w)


def test_deleting_an_index_removes_its_data_everywhere(aws_host, moto_server):
    aws_host.http("POST", "/indexes", {"name": "gone", "dimension": 8, "metric": "cosine", "spec": SERVERLESS})
    big = [{"id": f"x{i}", "values": [0.5] * 8, "metadata": {"pad": "p" * 30_000}} for i in range(14)]
    assert aws_host.http("POST", "/data/gone/vectors/upsert", {"namespace": "ns", "vectors": big})[0] == 200
    aws_host.build()
    assert aws_host.http("POST", "/data/gone/vectors/upsert", {"namespace": "ns", "vectors": big[:13]})[0] == 200
    settings = aws_host.m["data_plane"].settings
    s3, dynamodb = moto_server.client("s3"), moto_server.client("dynamodb")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket).get("Contents", [])]
    assert any(k.startswith("slabs/") for k in keys) and any(k.startswith("log-spill/") for k in keys)

    status, _, _ = aws_host.http("DELETE", "/indexes/gone")
    assert status == 202
    assert s3.list_objects_v2(Bucket=settings.bucket).get("KeyCount", 0) == 0
    for table in (settings.tables.log, settings.tables.namespaces, settings.tables.manifests):
        assert dynamodb.scan(TableName=table)["Count"] == 0, table
    assert aws_host.http("GET", "/indexes/gone")[0] == 404


def test_index_host_follows_the_api_gateway_domain(aws_host):
    status, _, model = aws_host.http("POST", "/indexes", {"name": "h", "dimension": 4, "metric": "cosine",
                                                           "spec": SERVERLESS})
    assert status == 201
    assert model["host"] == f"https://{DOMAIN}/data/h"


def test_authorizer_rejects_unknown_and_missing_keys(aws_host):
    authorize = aws_host.m["authorizer"].handler
    assert authorize({"headers": {"api-key": KEY}}, None) == {"isAuthorized": True}
    assert authorize({"headers": {"api-key": "nope"}}, None) == {"isAuthorized": False}
    assert authorize({"headers": {}}, None) == {"isAuthorized": False}
    # behind the gateway the app checks the key again (defence in depth): a Pinecone-shaped 401
    status, _, body = aws_host.http("GET", "/indexes", key="nope", authorize=False)
    assert status == 401 and body["error"]["code"] == "UNAUTHENTICATED"


def test_a_redelivered_stream_batch_changes_nothing(aws_host, moto_server):
    aws_host.http("POST", "/indexes", {"name": "r", "dimension": 8, "metric": "cosine", "spec": SERVERLESS})
    aws_host.http("POST", "/data/r/vectors/upsert", {"namespace": "ns", "vectors": _records(20, 3)})
    event = aws_host.stream_event()
    assert [r["eventName"] for r in event["Records"]] == ["INSERT"]
    assert aws_host.build(event) == {"batchItemFailures": []}
    def manifests() -> list[dict]:
        items = moto_server.client("dynamodb").scan(TableName=aws_host.m["data_plane"].settings.tables.manifests)
        return sorted(items["Items"], key=lambda i: (i["index_id"]["S"], i["namespace"]["S"]))

    before = manifests()
    assert before and before[0]["version"] == {"N": "1"}
    _, _, stats = aws_host.http("POST", "/data/r/describe_index_stats", {})
    assert aws_host.build(event) == {"batchItemFailures": []}  # the same batch again
    assert aws_host.build() == {"batchItemFailures": []}  # and the MODIFY records truncation made
    assert manifests() == before
    assert aws_host.http("POST", "/data/r/describe_index_stats", {})[2] == stats
