"""RequestLog on DynamoDB, with payloads too large for an item spilled to S3 (AWS host).

LSNs: the namespace row's ``last_lsn`` is the counter. ``append`` reads it (n), then commits
one transaction: the row moves to n+1 *only if it is still n*, and log item n+1 is put *only if
it does not exist*. A writer that lost the race re-reads and retries, so LSNs are gap-free (the
counter and the entry move together) and unique (both writes are conditional), across any
number of threads, processes and Lambdas.

Truncation does not delete: it stamps the TTL attribute ``expires_at`` a grace period ahead.
DynamoDB's TTL deletes cost no write capacity, and the grace period keeps the entries
readable for a reader that pinned the manifest before the one that flushed them. Their spill
objects are deleted at once; a reader meeting a missing one skips the entry, sees the hole
and re-pins a newer manifest (the contract of ``read_tail``).
"""

from __future__ import annotations

import hashlib
import time
import uuid

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from spruce.storage.aws_tables import LOG_TTL_ATTRIBUTE, SPILL_PREFIX, TableNames
from spruce.storage.dynamo_util import Item, backoff_delay, condition_failed, delete_objects, query_all
from spruce.storage.ports import CREATING_KINDS, NamespaceRow, RawLogEntry, TailRead

#: Payloads above this many bytes go to S3: a DynamoDB item (names and values) maxes out at 400 KB.
SPILL_THRESHOLD = 350_000
#: How long a truncated entry stays readable before DynamoDB's TTL may delete it.
TRUNCATE_GRACE_S = 3600
#: Total time ``append`` may spend backing off from lost races before it gives up.
APPEND_RETRY_BUDGET_S = 20.0

_RACE_CODES = {"ConditionalCheckFailed", "TransactionConflict"}


def stream_key(index_id: str, namespace: str) -> str:
    return f"{index_id}#{namespace}"


def spill_prefix(index_id: str) -> str:
    return f"{SPILL_PREFIX}/{index_id}/"


def _spill_key(index_id: str, namespace: str) -> str:
    ns_hash = hashlib.sha256(namespace.encode()).hexdigest()[:32]
    return f"{spill_prefix(index_id)}{ns_hash}/{uuid.uuid4().hex}"


def _lost_race(exc: ClientError) -> bool:
    """A cancelled transaction whose only causes are our conditions or a concurrent transaction
    (reason "None" marks the items that were fine)."""
    if exc.response["Error"]["Code"] != "TransactionCanceledException":
        return False
    codes = {r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])} - {"None"}
    return bool(codes) and codes <= _RACE_CODES


def _row(item: Item) -> NamespaceRow:
    schema = item.get("schema")
    return NamespaceRow(item["namespace"]["S"], int(item["last_lsn"]["N"]), item["present"]["BOOL"],
                        None if schema is None else bytes(schema["B"]))


class DynamoRequestLog:
    """RequestLog on the ``namespaces`` and ``log`` tables, spills under ``SPILL_PREFIX`` in ``bucket``."""

    def __init__(self, dynamodb: BaseClient, s3: BaseClient, tables: TableNames, bucket: str) -> None:
        self._dynamodb = dynamodb
        self._s3 = s3
        self._tables = tables
        self._bucket = bucket

    def append(self, index_id: str, namespace: str, kind: str, payload: bytes) -> int:
        entry: Item = {"stream": {"S": stream_key(index_id, namespace)}, "kind": {"S": kind}}
        if len(payload) > SPILL_THRESHOLD:
            # Durable before the transaction acknowledges it; orphaned if every attempt loses.
            key = _spill_key(index_id, namespace)
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=payload, ServerSideEncryption="AES256")
            entry["spill"] = {"S": key}
        else:
            entry["payload"] = {"B": payload}
        deadline = time.monotonic() + APPEND_RETRY_BUDGET_S
        attempt = 0
        while True:
            current = self._get_row(index_id, namespace)
            lsn = (int(current["last_lsn"]["N"]) if current else 0) + 1
            try:
                self._dynamodb.transact_write_items(
                    TransactItems=[self._advance_counter(index_id, namespace, kind, current is not None, lsn),
                                   {"Put": {"TableName": self._tables.log,
                                            "Item": {**entry, "lsn": {"N": str(lsn)}},
                                            "ConditionExpression": "attribute_not_exists(#l)",
                                            "ExpressionAttributeNames": {"#l": "lsn"}}}],
                    # Makes botocore's own retry of a commit whose response was lost a no-op, not a failure.
                    ClientRequestToken=uuid.uuid4().hex)
                return lsn
            except ClientError as exc:
                if not _lost_race(exc):
                    raise
                delay = backoff_delay(attempt)
                attempt += 1
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)

    def _advance_counter(self, index_id: str, namespace: str, kind: str, exists: bool, lsn: int) -> Item:
        """The namespace-row half of an append: last_lsn → ``lsn`` if it is still ``lsn - 1``,
        presence as the SQLite adapter sets it."""
        names = {"#l": "last_lsn", "#p": "present"}
        values: Item = {":n": {"N": str(lsn)}, ":present": {"BOOL": kind in CREATING_KINDS}}
        update = "SET #l = :n, #p = " + (":present" if kind in (*CREATING_KINDS, "drop_namespace")
                                         else "if_not_exists(#p, :present)")
        if kind == "drop_namespace":
            update += " REMOVE #s"
            names["#s"] = "schema"
        if exists:
            condition = "#l = :prev"
            values[":prev"] = {"N": str(lsn - 1)}
        else:
            condition = "attribute_not_exists(index_id)"
        return {"Update": {"TableName": self._tables.namespaces,
                           "Key": {"index_id": {"S": index_id}, "namespace": {"S": namespace}},
                           "UpdateExpression": update, "ConditionExpression": condition,
                           "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}

    def create_namespace(self, index_id: str, namespace: str, schema: bytes | None) -> bool:
        names = {"#l": "last_lsn", "#p": "present", "#s": "schema"}
        values: Item = {":t": {"BOOL": True}, ":f": {"BOOL": False}, ":zero": {"N": "0"}}
        update = "SET #p = :t, #l = if_not_exists(#l, :zero)"
        if schema is None:
            update += " REMOVE #s"
        else:
            update += ", #s = :schema"
            values[":schema"] = {"B": schema}
        try:
            self._dynamodb.update_item(
                TableName=self._tables.namespaces,
                Key={"index_id": {"S": index_id}, "namespace": {"S": namespace}},
                UpdateExpression=update, ConditionExpression="attribute_not_exists(index_id) OR #p = :f",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def restore_namespace(self, index_id: str, namespace: str, last_lsn: int, schema: bytes | None) -> bool:
        item: Item = {"index_id": {"S": index_id}, "namespace": {"S": namespace}, "present": {"BOOL": True},
                      "last_lsn": {"N": str(last_lsn)}, "truncated_lsn": {"N": str(last_lsn)}}
        if schema is not None:
            item["schema"] = {"B": schema}
        try:
            self._dynamodb.put_item(TableName=self._tables.namespaces, Item=item,
                                    ConditionExpression="attribute_not_exists(index_id)")
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def read_tail(self, index_id: str, namespace: str, after_lsn: int) -> TailRead:
        # Head first: every append acknowledged before this call is ≤ last, so the range query
        # below sees exactly those past after_lsn that were not truncated.
        current = self._get_row(index_id, namespace)
        last = int(current["last_lsn"]["N"]) if current else 0
        entries: list[RawLogEntry] = []
        if last > after_lsn:
            for item in query_all(
                    self._dynamodb, TableName=self._tables.log, ConsistentRead=True,
                    KeyConditionExpression="#st = :st AND #l BETWEEN :lo AND :hi",
                    ExpressionAttributeNames={"#st": "stream", "#l": "lsn"},
                    ExpressionAttributeValues={":st": {"S": stream_key(index_id, namespace)},
                                               ":lo": {"N": str(after_lsn + 1)}, ":hi": {"N": str(last)}}):
                payload = self._payload(item)
                if payload is not None:
                    entries.append(RawLogEntry(int(item["lsn"]["N"]), item["kind"]["S"], payload))
        return TailRead(entries, last)

    def _payload(self, item: Item) -> bytes | None:
        """The entry's payload, or None when its spill object is gone (the entry was truncated)."""
        if "payload" in item:
            return bytes(item["payload"]["B"])
        try:
            return self._s3.get_object(Bucket=self._bucket, Key=item["spill"]["S"])["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise

    def truncate(self, index_id: str, namespace: str, upto_lsn: int) -> None:
        """Stamp entries ``truncated_lsn+1 .. upto_lsn`` (the namespace row remembers how far
        earlier truncations got, so stamped entries awaiting TTL are not read again)."""
        row = self._get_row(index_id, namespace) or {}
        start = int(row.get("truncated_lsn", {"N": "0"})["N"]) + 1
        if start > upto_lsn:
            return
        items = list(query_all(
            self._dynamodb, TableName=self._tables.log, ConsistentRead=True,
            KeyConditionExpression="#st = :st AND #l BETWEEN :start AND :upto",
            FilterExpression="attribute_not_exists(#ttl)", ProjectionExpression="#l, #sp",
            ExpressionAttributeNames={"#st": "stream", "#l": "lsn", "#ttl": LOG_TTL_ATTRIBUTE, "#sp": "spill"},
            ExpressionAttributeValues={":st": {"S": stream_key(index_id, namespace)},
                                       ":start": {"N": str(start)}, ":upto": {"N": str(upto_lsn)}}))
        # Spill objects first: if we die before stamping, the next truncate finds the entries again.
        delete_objects(self._s3, self._bucket, [i["spill"]["S"] for i in items if "spill" in i])
        expires_at = {"N": str(int(time.time()) + TRUNCATE_GRACE_S)}
        for item in items:
            try:
                self._dynamodb.update_item(
                    TableName=self._tables.log,
                    Key={"stream": {"S": stream_key(index_id, namespace)}, "lsn": item["lsn"]},
                    UpdateExpression="SET #ttl = :exp", ConditionExpression="attribute_exists(#l)",
                    ExpressionAttributeNames={"#ttl": LOG_TTL_ATTRIBUTE, "#l": "lsn"},
                    ExpressionAttributeValues={":exp": expires_at})
            except ClientError as exc:
                if not condition_failed(exc):  # already deleted (index dropped): nothing to stamp
                    raise
        try:
            self._dynamodb.update_item(
                TableName=self._tables.namespaces,
                Key={"index_id": {"S": index_id}, "namespace": {"S": namespace}},
                UpdateExpression="SET truncated_lsn = :upto",
                ConditionExpression="attribute_exists(index_id) AND "
                                    "(attribute_not_exists(truncated_lsn) OR truncated_lsn < :upto)",
                ExpressionAttributeValues={":upto": {"N": str(upto_lsn)}})
        except ClientError as exc:
            if not condition_failed(exc):  # a later truncation got further, or the index is gone
                raise

    def namespaces(self, index_id: str) -> list[NamespaceRow]:
        # DynamoDB orders string sort keys by their UTF-8 bytes: bitwise, as the port asks.
        return [_row(item) for item in query_all(
            self._dynamodb, TableName=self._tables.namespaces, ConsistentRead=True,
            KeyConditionExpression="index_id = :i", ExpressionAttributeValues={":i": {"S": index_id}})]

    def namespace(self, index_id: str, namespace: str) -> NamespaceRow | None:
        item = self._get_row(index_id, namespace)
        return None if item is None else _row(item)

    def _get_row(self, index_id: str, namespace: str) -> Item | None:
        return self._dynamodb.get_item(
            TableName=self._tables.namespaces, ConsistentRead=True,
            Key={"index_id": {"S": index_id}, "namespace": {"S": namespace}}).get("Item")
