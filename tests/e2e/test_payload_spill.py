"""Executor questions and answers over Lambda's 6 MB limit travel through S3 (``spruce.aws.payloads``).

The spill threshold is lowered so the ordinary handler scenario spills in both directions; every
answer must equal the embedded server's, and no payload object may be left behind.
"""

from __future__ import annotations

import json

import pytest

from spruce.aws.payloads import PayloadSpill
from spruce.storage.aws_tables import PAYLOAD_PREFIX
from tests.api.conftest import KEY, api_client
from tests.aws import fresh_bucket
from tests.e2e.aws_host import aws_host
from tests.e2e.test_aws_handlers import Embedded, _same, _scenario


def test_oversized_executor_messages_round_trip_through_s3(moto_server, tmp_path, monkeypatch):
    monkeypatch.setattr("spruce.aws.payloads.SPILL_AT", 300)
    with aws_host(moto_server, tmp_path, api_key=KEY) as host:
        seen = {"questions": 0, "answers": 0}
        invoke = host.executor.invoke

        def counting_invoke(**kwargs):
            seen["questions"] += kwargs["Payload"].startswith(b'{"$payload"')
            response = invoke(**kwargs)
            body = response["Payload"].read()
            seen["answers"] += "$payload" in json.loads(body)
            response["Payload"].__init__(body)  # BytesIO: rewind with the same bytes
            return response
        host.executor.invoke = counting_invoke
        got = _scenario(host, build=host.build)
        s3 = moto_server.client("s3")
        bucket = host.m["query_executor"].settings.bucket
        assert s3.list_objects_v2(Bucket=bucket, Prefix=f"{PAYLOAD_PREFIX}/").get("KeyCount", 0) == 0
    assert seen["questions"] > 0 and seen["answers"] > 0, seen
    with api_client(tmp_path / "embedded") as client:
        want = _scenario(Embedded(client), build=lambda: None)
    assert _same(got, want)


def test_small_bodies_never_touch_s3():
    class NoS3:
        def __getattr__(self, name):
            raise AssertionError(f"S3 {name} called for a small body")
    spill = PayloadSpill(NoS3(), "bucket", spill_at=100)
    assert spill.pack(b'{"op": "get"}') == b'{"op": "get"}'
    assert spill.unpack(b'{"records": []}') == b'{"records": []}'
    assert spill.pack_document({"hits": []}) == {"hits": []}
    assert spill.unpack_document({"op": "search"}) == {"op": "search"}


@pytest.mark.parametrize("size", [300, 50_000])
def test_a_big_body_is_read_back_once_and_deleted(moto_server, size):
    s3 = moto_server.client("s3")
    bucket = fresh_bucket(s3)
    spill = PayloadSpill(s3, bucket, spill_at=100)
    body = json.dumps({"ids": ["x" * 10] * (size // 13)}).encode()
    packed = spill.pack(body)
    assert len(packed) < 100 and spill.unpack(packed) == body
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    reply = spill.pack_document(json.loads(body))
    assert set(reply) == {"$payload"} and spill.unpack_document(reply) == json.loads(body)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
