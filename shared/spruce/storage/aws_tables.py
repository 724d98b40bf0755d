"""The AWS host's DynamoDB tables and S3 layout, in one place: the adapters read and write
these shapes, the CDK stack provisions them, and the tests create them under moto.

Table names are not fixed: the stack generates them and hands them to each function in
its environment (``TableNames.from_env``).

- ``catalog``   pk ``pk`` (S), sk ``sk`` (S). Indexes: ``pk="index"``, ``sk=<index name>``
  (one partition: listing indexes is a single ordered query). API keys:
  ``pk="apikey#<sha256 hex>"``, ``sk="apikey"`` (spread over partitions; the plaintext is
  never stored). Jobs (imports, backups, restore jobs): ``pk="job#<kind>"``, ``sk=<job id>``,
  ``version`` (N), ``body`` (B); their id counters: ``pk="counter"``, ``sk="job#<kind>"``,
  ``value`` (N).
- ``namespaces`` pk ``index_id`` (S), sk ``namespace`` (S): ``last_lsn`` (N), ``present``
  (BOOL), ``schema`` (B, optional), ``truncated_lsn`` (N, how far truncation got). One row per
  namespace that ever had a write; the LSN
  counter lives here and moves in the same transaction as the log entry it numbers.
- ``manifests`` pk ``index_id`` (S), sk ``namespace`` (S): ``version`` (N), ``body`` (B).
- ``log``       pk ``stream`` (S) = ``<index id>#<namespace>`` (index ids never contain
  ``#``), sk ``lsn`` (N): ``kind`` (S) and either ``payload`` (B) or ``spill`` (S, an S3
  key under ``SPILL_PREFIX``). TTL attribute ``expires_at`` (set once an entry is flushed).
  The table's stream (``KEYS_ONLY``) drives the index builder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: S3 key prefixes inside the data bucket.
SLAB_PREFIX = "slabs"
SPILL_PREFIX = "log-spill"
#: Lambda request and reply bodies too big for a synchronous invocation (``spruce.aws.payloads``).
PAYLOAD_PREFIX = "lambda-payloads"

LOG_TTL_ATTRIBUTE = "expires_at"


@dataclass(frozen=True, slots=True)
class TableNames:
    catalog: str
    namespaces: str
    manifests: str
    log: str

    @staticmethod
    def from_env(environ: dict[str, str] | None = None) -> TableNames:
        env = os.environ if environ is None else environ
        return TableNames(env["SPRUCE_CATALOG_TABLE"], env["SPRUCE_NAMESPACES_TABLE"],
                          env["SPRUCE_MANIFESTS_TABLE"], env["SPRUCE_LOG_TABLE"])

    def env(self) -> dict[str, str]:
        return {"SPRUCE_CATALOG_TABLE": self.catalog, "SPRUCE_NAMESPACES_TABLE": self.namespaces,
                "SPRUCE_MANIFESTS_TABLE": self.manifests, "SPRUCE_LOG_TABLE": self.log}


#: Key schemas: (partition key, its type), (sort key, its type).
KEY_SCHEMAS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "catalog": (("pk", "S"), ("sk", "S")),
    "namespaces": (("index_id", "S"), ("namespace", "S")),
    "manifests": (("index_id", "S"), ("namespace", "S")),
    "log": (("stream", "S"), ("lsn", "N")),
}


def create_tables(dynamodb, names: TableNames) -> None:
    """Create the four tables (on-demand) with a boto3 DynamoDB client: for tests and local
    tooling; the CDK stack creates the real ones from the same ``KEY_SCHEMAS``."""
    for role, name in (("catalog", names.catalog), ("namespaces", names.namespaces),
                       ("manifests", names.manifests), ("log", names.log)):
        (pk, pk_type), (sk, sk_type) = KEY_SCHEMAS[role]
        extra = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}} if role == "log" else {}
        dynamodb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": pk, "AttributeType": pk_type},
                                  {"AttributeName": sk, "AttributeType": sk_type}],
            **extra)
        if role == "log":
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": LOG_TTL_ATTRIBUTE})
