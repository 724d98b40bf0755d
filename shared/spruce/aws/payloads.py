"""Lambda's 6 MB synchronous payload limit, each way, without capping what a question may hold.

A router question carries the ids the log tail hides, and an answer may list every id a filter
matches: either can outgrow 6 MB. A body over ``SPILL_AT`` bytes therefore travels through the
data bucket (``PAYLOAD_PREFIX/<uuid>``) and the Lambda message carries only
``{"$payload": <key>}``. The one reader of a spilled body deletes it; a lifecycle rule expires any
left behind by a crash between write and read.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from spruce.storage.aws_tables import PAYLOAD_PREFIX

#: Lambda's limit is 6 MiB (6,291,456 bytes) each way; leave room for the runtime's framing.
SPILL_AT = 5_000_000
_MARK = "$payload"


class PayloadSpill:
    def __init__(self, s3: Any, bucket: str, *, spill_at: int | None = None) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._spill_at = SPILL_AT if spill_at is None else spill_at

    def pack(self, body: bytes) -> bytes:
        """``body`` itself, or a reference to its S3 copy when it is too big for Lambda."""
        if len(body) <= self._spill_at:
            return body
        key = f"{PAYLOAD_PREFIX}/{uuid.uuid4().hex}"
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body)
        return orjson.dumps({_MARK: key})

    def pack_document(self, document: dict[str, Any]) -> dict[str, Any]:
        """A handler's reply: the document, or a reference when its JSON is too big."""
        body = orjson.dumps(document)
        return document if len(body) <= self._spill_at else orjson.loads(self.pack(body))

    def unpack(self, body: bytes) -> bytes:
        """The inverse of ``pack``: fetch (and delete) a spilled body."""
        if len(body) > 200 or not body.startswith(b'{"$payload"'):
            return body
        return self._take(orjson.loads(body)[_MARK])

    def unpack_document(self, document: dict[str, Any]) -> dict[str, Any]:
        """A handler's event: the document, or the spilled one it refers to."""
        if set(document) != {_MARK}:
            return document
        return orjson.loads(self._take(document[_MARK]))

    def _take(self, key: str) -> bytes:
        body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        self._s3.delete_object(Bucket=self._bucket, Key=key)
        return body
