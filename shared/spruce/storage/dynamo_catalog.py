"""Catalog and ManifestStore on DynamoDB (AWS host): the ``catalog`` and ``manifests`` tables."""

from __future__ import annotations

import time

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from spruce.storage.aws_tables import TableNames
from spruce.storage.dynamo_log import spill_prefix, stream_key
from spruce.storage.dynamo_util import batch_delete, condition_failed, query_all, versioned_write
from spruce.storage.s3_objects import S3Prefixes

_INDEX_PK = "index"


def _index_key(name: str) -> dict:
    return {"pk": {"S": _INDEX_PK}, "sk": {"S": name}}


def _api_key_key(key_hash: str) -> dict:
    return {"pk": {"S": f"apikey#{key_hash}"}, "sk": {"S": "apikey"}}


class DynamoManifestStore:
    """One item per namespace; the version number is the optimistic lock."""

    def __init__(self, dynamodb: BaseClient, tables: TableNames) -> None:
        self._dynamodb = dynamodb
        self._table = tables.manifests

    def load_manifest(self, index_id: str, namespace: str) -> tuple[int, bytes] | None:
        item = self._dynamodb.get_item(
            TableName=self._table, ConsistentRead=True,
            Key={"index_id": {"S": index_id}, "namespace": {"S": namespace}}).get("Item")
        return None if item is None else (int(item["version"]["N"]), bytes(item["body"]["B"]))

    def commit_manifest(self, index_id: str, namespace: str, expected_version: int, body: bytes) -> bool:
        key = {"index_id": {"S": index_id}, "namespace": {"S": namespace}}
        return versioned_write(self._dynamodb, self._table, key, expected_version, body)


def api_key_hash_exists(dynamodb: BaseClient, tables: TableNames, key_hash: str) -> bool:
    """Is ``key_hash`` a registered API key's digest? (Consistent read, the key attribute only.)"""
    return "Item" in dynamodb.get_item(TableName=tables.catalog, Key=_api_key_key(key_hash), ConsistentRead=True,
                                       ProjectionExpression="pk")


class DynamoCatalog:
    """Indexes and API-key hashes in the ``catalog`` table; ``delete_index`` also clears the
    index's namespaces, manifests, log items and log spill objects."""

    def __init__(self, dynamodb: BaseClient, s3: BaseClient, tables: TableNames, bucket: str) -> None:
        self._dynamodb = dynamodb
        self._spills = S3Prefixes(s3, bucket)
        self._tables = tables

    def put_index(self, name: str, index_id: str, body: bytes, *, create: bool) -> bool:
        try:
            if create:
                self._dynamodb.put_item(
                    TableName=self._tables.catalog,
                    Item={**_index_key(name), "index_id": {"S": index_id}, "body": {"B": body}},
                    ConditionExpression="attribute_not_exists(pk)")
            else:  # only the same index: a name deleted and re-created meanwhile is another index
                self._dynamodb.update_item(
                    TableName=self._tables.catalog, Key=_index_key(name), UpdateExpression="SET #b = :body",
                    ConditionExpression="index_id = :id", ExpressionAttributeNames={"#b": "body"},
                    ExpressionAttributeValues={":body": {"B": body}, ":id": {"S": index_id}})
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def get_index(self, name: str) -> bytes | None:
        item = self._dynamodb.get_item(TableName=self._tables.catalog, Key=_index_key(name),
                                       ConsistentRead=True).get("Item")
        return None if item is None else bytes(item["body"]["B"])

    def list_indexes(self) -> list[bytes]:
        return [bytes(item["body"]["B"]) for item in query_all(
            self._dynamodb, TableName=self._tables.catalog, ConsistentRead=True,
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": _INDEX_PK}})]

    def delete_index(self, name: str, index_id: str) -> None:
        # Data first, the catalog item last: a delete that dies half-way is still listed and can
        # be retried, and no namespace row goes before its log items (they are found through it).
        by_index = {"KeyConditionExpression": "index_id = :i", "ExpressionAttributeValues": {":i": {"S": index_id}},
                    "ProjectionExpression": "index_id, #n", "ExpressionAttributeNames": {"#n": "namespace"},
                    "ConsistentRead": True}
        namespace_keys = list(query_all(self._dynamodb, TableName=self._tables.namespaces, **by_index))
        for key in namespace_keys:
            stream = {"S": stream_key(index_id, key["namespace"]["S"])}
            batch_delete(self._dynamodb, self._tables.log, query_all(
                self._dynamodb, TableName=self._tables.log, ConsistentRead=True, KeyConditionExpression="#st = :st",
                ProjectionExpression="#st, lsn", ExpressionAttributeNames={"#st": "stream"},
                ExpressionAttributeValues={":st": stream}))
        self._spills.delete_prefix(spill_prefix(index_id))
        batch_delete(self._dynamodb, self._tables.manifests,
                     query_all(self._dynamodb, TableName=self._tables.manifests, **by_index))
        batch_delete(self._dynamodb, self._tables.namespaces, namespace_keys)
        try:
            self._dynamodb.delete_item(TableName=self._tables.catalog, Key=_index_key(name),
                                       ConditionExpression="index_id = :id",
                                       ExpressionAttributeValues={":id": {"S": index_id}})
        except ClientError as exc:
            if not condition_failed(exc):  # gone already, or the name now belongs to another index
                raise

    def add_api_key_hash(self, key_hash: str) -> None:
        self._dynamodb.update_item(
            TableName=self._tables.catalog, Key=_api_key_key(key_hash),
            UpdateExpression="SET created_at = if_not_exists(created_at, :now)",
            ExpressionAttributeValues={":now": {"N": str(time.time())}})

    def has_api_key_hash(self, key_hash: str) -> bool:
        return api_key_hash_exists(self._dynamodb, self._tables, key_hash)
