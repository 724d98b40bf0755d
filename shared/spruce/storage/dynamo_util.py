"""Helpers the DynamoDB/S3 adapters share: paginated reads, batched deletes, retry delays.

Pagination is done by hand (not with boto3 paginators) so every call goes through the
client object the adapter was given, wrappers included."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

Item = dict[str, Any]

_BATCH_WRITE_MAX = 25  # BatchWriteItem's limit
_DELETE_OBJECTS_MAX = 1000  # DeleteObjects' limit
_UNPROCESSED_RETRIES = 8


def backoff_delay(attempt: int, *, base: float = 0.005, cap: float = 0.5) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0.0, min(cap, base * 2 ** attempt))


def condition_failed(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def versioned_write(dynamodb: BaseClient, table: str, key: Item, expected_version: int, body: bytes) -> bool:
    """Store ``body`` as version ``expected_version + 1`` of the item at ``key`` (``version`` N,
    ``body`` B): a new item when ``expected_version`` is 0, else only if the item is still at
    ``expected_version``. False on a lost race (or, for an update, a missing item)."""
    try:
        if expected_version == 0:
            dynamodb.put_item(TableName=table, Item={**key, "version": {"N": "1"}, "body": {"B": body}},
                              ConditionExpression=f"attribute_not_exists({next(iter(key))})")
        else:
            dynamodb.update_item(
                TableName=table, Key=key, UpdateExpression="SET #v = :next, #b = :body",
                ConditionExpression="#v = :expected",
                ExpressionAttributeNames={"#v": "version", "#b": "body"},
                ExpressionAttributeValues={":next": {"N": str(expected_version + 1)}, ":body": {"B": body},
                                           ":expected": {"N": str(expected_version)}})
    except ClientError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def query_all(dynamodb: BaseClient, **kwargs: Any) -> Iterator[Item]:
    """Every item a Query matches, following ``LastEvaluatedKey`` across 1 MB pages."""
    while True:
        page = dynamodb.query(**kwargs)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def batch_delete(dynamodb: BaseClient, table: str, keys: Iterable[Item]) -> None:
    """Delete items by key, 25 per BatchWriteItem, resubmitting ``UnprocessedItems``."""
    keys = list(keys)
    for start in range(0, len(keys), _BATCH_WRITE_MAX):
        request = {table: [{"DeleteRequest": {"Key": k}} for k in keys[start:start + _BATCH_WRITE_MAX]]}
        for attempt in range(_UNPROCESSED_RETRIES):
            request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                break
            time.sleep(backoff_delay(attempt))
        else:
            raise RuntimeError(f"DynamoDB kept leaving deletes unprocessed in {table}")


def delete_objects(s3: BaseClient, bucket: str, keys: Iterable[str]) -> None:
    """Delete S3 objects, 1000 per DeleteObjects; deleting a missing key is not an error."""
    keys = list(keys)
    for start in range(0, len(keys), _DELETE_OBJECTS_MAX):
        objects = [{"Key": k} for k in keys[start:start + _DELETE_OBJECTS_MAX]]
        errors = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True}).get("Errors")
        if errors:
            raise RuntimeError(f"S3 refused to delete {len(errors)} objects, e.g. {errors[0]}")
