"""JobStore on DynamoDB (AWS host): job documents and their id counters in the ``catalog`` table.

One partition per kind (``pk="job#<kind>"``), so listing is a single ordered query and
pagination resumes from the last id; versions are conditional writes like manifests.
"""

from __future__ import annotations

from botocore.client import BaseClient

from spruce.storage.aws_tables import TableNames
from spruce.storage.dynamo_util import versioned_write


def _key(kind: str, job_id: str) -> dict:
    return {"pk": {"S": f"job#{kind}"}, "sk": {"S": job_id}}


class DynamoJobStore:
    def __init__(self, dynamodb: BaseClient, tables: TableNames) -> None:
        self._dynamodb = dynamodb
        self._table = tables.catalog

    def next_job_number(self, kind: str) -> int:
        out = self._dynamodb.update_item(
            TableName=self._table, Key={"pk": {"S": "counter"}, "sk": {"S": f"job#{kind}"}},
            UpdateExpression="ADD #v :one", ExpressionAttributeNames={"#v": "value"},
            ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="UPDATED_NEW")
        return int(out["Attributes"]["value"]["N"])

    def create_job(self, kind: str, job_id: str, body: bytes) -> bool:
        return versioned_write(self._dynamodb, self._table, _key(kind, job_id), 0, body)

    def load_job(self, kind: str, job_id: str) -> tuple[int, bytes] | None:
        item = self._dynamodb.get_item(TableName=self._table, Key=_key(kind, job_id), ConsistentRead=True).get("Item")
        return None if item is None else (int(item["version"]["N"]), bytes(item["body"]["B"]))

    def update_job(self, kind: str, job_id: str, expected_version: int, body: bytes) -> bool:
        # An update of a missing job fails its condition too: no item has a version.
        return versioned_write(self._dynamodb, self._table, _key(kind, job_id), expected_version, body)

    def list_jobs(self, kind: str, *, after: str | None = None, limit: int | None = None) -> list[tuple[str, bytes]]:
        kwargs: dict = {"TableName": self._table, "ConsistentRead": True, "KeyConditionExpression": "pk = :pk",
                        "ExpressionAttributeValues": {":pk": {"S": f"job#{kind}"}}}
        if after is not None:
            kwargs["ExclusiveStartKey"] = _key(kind, after)
        out: list[tuple[str, bytes]] = []
        while limit is None or len(out) < limit:
            if limit is not None:
                kwargs["Limit"] = limit - len(out)
            page = self._dynamodb.query(**kwargs)
            out.extend((item["sk"]["S"], bytes(item["body"]["B"])) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return out

    def delete_job(self, kind: str, job_id: str) -> None:
        self._dynamodb.delete_item(TableName=self._table, Key=_key(kind, job_id))
