"""The AWS host, offline: the real Lambda handler modules, imported as Lambda would import
them, against one moto server (DynamoDB, its stream, S3; LanceDB reaches S3 through it).

- ``AwsHost.http`` turns a request into an API Gateway HTTP API (v2) event and runs the
  function its route belongs to, as the stack's API does: no authorizer in between, the
  function's app checks ``Api-Key`` itself (``infra/api.py``).
- ``AwsHost.stream_event`` reads the log table's real stream records from moto, shaped as
  the Lambda event source delivers them; ``build`` hands them to the index builder.
- Executor and inference-function invocations go through ``LambdaInvoker`` into their
  handlers, with the JSON round trip the Lambda service does (moto would need Docker to run a
  function).
- ``Gateway`` serves ``AwsHost`` over real HTTP with a background "event source mapping"
  feeding the builder, so the official SDK can be pointed at the AWS host.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import io
import json
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import EllipsisType
from typing import Any

import pytest

from spruce.keys import hash_api_key
from spruce.storage.aws_tables import TableNames, create_tables
from spruce.storage.dynamo_catalog import DynamoCatalog
from tests.aws import ACCESS_KEY, REGION, SECRET_KEY, fresh_bucket

DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"
HANDLERS = ("control_plane", "data_plane", "index_builder", "query_executor", "workflow_task", "inference")
#: The route key of the stack's data-plane route (``infra/api.py``); every other path takes ``$default``.
DATA_ROUTE_KEY = "ANY /data/{proxy+}"
INFERENCE_FUNCTION = "spruce-inference"


class ExecutorLambda:
    """A Lambda client whose ``invoke`` runs the query-executor handler, or the inference
    function's for ``INFERENCE_FUNCTION``."""

    def __init__(self) -> None:
        self.calls = 0
        self.inference_calls = 0

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        assert InvocationType == "RequestResponse"
        if FunctionName == INFERENCE_FUNCTION:
            self.inference_calls += 1
            module = "functions.inference"
        else:
            self.calls += 1
            module = "functions.query_executor"
        result = sys.modules[module].handler(json.loads(Payload), None)
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(result).encode())}


class AwsHost:
    def __init__(self, modules: dict[str, Any], streams, log_table_arn: str, executor: ExecutorLambda,
                 api_key: str) -> None:
        self.m = modules
        self.api_key = api_key
        self._streams = streams
        self._arn = log_table_arn
        self._iterators: dict[str, str] = {}
        self.executor = executor

    def invoke_http(self, method: str, path: str, *, query: str, headers: dict[str, str],
                    body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        """One request to the function API Gateway routes it to (``/data/...``: the data plane;
        anything else: the control plane), with nothing in front of it."""
        host = headers.get("host", DOMAIN)
        data = path.startswith("/data/")
        route_key = DATA_ROUTE_KEY if data else "$default"
        event = {
            "version": "2.0", "routeKey": route_key, "rawPath": path, "rawQueryString": query,
            "headers": headers, "isBase64Encoded": body is not None,
            "body": None if body is None else base64.b64encode(body).decode(),
            "requestContext": {"accountId": "123456789012", "apiId": "abc123", "domainName": host,
                               "domainPrefix": "abc123", "requestId": uuid.uuid4().hex, "routeKey": route_key,
                               "stage": "$default", "time": "24/Nov/2026:00:00:00 +0000", "timeEpoch": 0,
                               "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                        "sourceIp": "192.0.2.1", "userAgent": headers.get("user-agent", "")}},
        }
        if data:
            event["pathParameters"] = {"proxy": path[len("/data/"):]}
        function = self.m["data_plane"] if data else self.m["control_plane"]
        out = function.handler(event, None)
        raw = base64.b64decode(out["body"]) if out.get("isBase64Encoded") else out.get("body", "").encode()
        return out["statusCode"], {k.lower(): v for k, v in out["headers"].items()}, raw

    def http(self, method: str, path: str, body: Any = None, *, key: str | None | EllipsisType = ...,
             query: str = "") -> tuple[int, dict[str, str], Any]:
        """A JSON request as a client on the API Gateway domain sends it, with this host's key
        (``key``: another one; None: no ``Api-Key`` header at all)."""
        headers = {"host": DOMAIN, "x-forwarded-proto": "https", "content-type": "application/json",
                   "x-pinecone-api-version": "2025-04"}
        if key is not None:
            headers["api-key"] = self.api_key if key is ... else key
        status, out_headers, raw = self.invoke_http(method, path, query=query, headers=headers,
                                                    body=None if body is None else json.dumps(body).encode())
        return status, out_headers, (json.loads(raw) if raw else None)

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


@contextmanager
def aws_host(moto_server, tmp_dir: Path, *, api_key: str, group_rows: int = 40) -> Iterator[AwsHost]:
    """Fresh tables and bucket on the moto server, the environment the stack sets, and the
    handler modules imported anew (they build their clients at import)."""
    with pytest.MonkeyPatch.context() as mp:
        env = {"AWS_ENDPOINT_URL": moto_server.endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": ACCESS_KEY,
               "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
               "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}
        suffix = uuid.uuid4().hex[:8]
        tables = TableNames(f"catalog-{suffix}", f"namespaces-{suffix}", f"manifests-{suffix}", f"log-{suffix}")
        dynamodb, s3 = moto_server.client("dynamodb"), moto_server.client("s3")
        create_tables(dynamodb, tables)
        bucket = fresh_bucket(s3)
        env.update({**tables.env(), "SPRUCE_BUCKET": bucket, "SPRUCE_EXECUTOR_FUNCTION": "spruce-executor",
                    "SPRUCE_INFERENCE_FUNCTION": INFERENCE_FUNCTION,
                    "SPRUCE_EXECUTOR_GROUP_ROWS": str(group_rows), "SPRUCE_EFS_ROOT": str(tmp_dir / "efs"),
                    "SPRUCE_EFS_MAX_BYTES": str(64 * 2**20)})
        for name, value in env.items():
            mp.setenv(name, value)

        import spruce.aws.settings as settings

        executor = ExecutorLambda()
        real_client = settings.client
        real_client.cache_clear()  # clients are per process; this host's endpoint and credentials differ
        mp.setattr("spruce.aws.api.client", lambda s: executor if s == "lambda" else real_client(s))
        mp.setattr("spruce.aws.inference.client",
                   lambda s, region=None: executor if s == "lambda" else real_client(s, region))
        for name in HANDLERS:
            sys.modules.pop(f"functions.{name}", None)
        try:
            modules = {name: importlib.import_module(f"functions.{name}") for name in HANDLERS}
            DynamoCatalog(dynamodb, s3, tables, bucket).add_api_key_hash(hash_api_key(api_key))
            arn = dynamodb.describe_table(TableName=tables.log)["Table"]["LatestStreamArn"]
            yield AwsHost(modules, moto_server.client("dynamodbstreams"), arn, executor, api_key)
        finally:
            for name in HANDLERS:
                sys.modules.pop(f"functions.{name}", None)
            real_client.cache_clear()


_loops = threading.local()


class Gateway:
    """``AwsHost`` over HTTP on 127.0.0.1, for the official SDK: one handler call at a time
    (as one container of each function would serve them), and a poller that plays the stream's
    event source mapping, handing new log records to the index builder."""

    def __init__(self, host: AwsHost, *, poll_s: float = 0.2) -> None:
        self.host = host
        self.api_key = host.api_key
        self._lock = threading.Lock()  # moto is not linearizable across threads: one call at a time
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())  # a thread per connection
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._threads = [threading.Thread(target=self._serve, daemon=True),
                         threading.Thread(target=self._poll, args=(poll_s,), daemon=True)]

    def start(self) -> Gateway:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        for t in self._threads:
            t.join(timeout=30)
        self._server.server_close()

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)

    def _poll(self, poll_s: float) -> None:
        while not self._stop.wait(poll_s):
            with self._lock:
                event = self.host.stream_event()
                if event["Records"]:
                    result = self.host.build(event)
                    assert result == {"batchItemFailures": []}, result

    def _handler_class(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k.lower(): v for k, v in self.headers.items()}
                headers["x-forwarded-proto"] = "http"  # what API Gateway says of how the client came in
                if not hasattr(_loops, "loop"):  # Mangum runs each event on the thread's event loop
                    _loops.loop = asyncio.new_event_loop()
                    asyncio.set_event_loop(_loops.loop)
                with gateway._lock:
                    status, out_headers, raw = gateway.host.invoke_http(self.command, path, query=query,
                                                                        headers=headers, body=body)
                self.send_response(status)
                for name, value in out_headers.items():
                    if name not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        return Handler
