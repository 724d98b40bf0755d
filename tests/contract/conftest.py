"""Contract-suite fixtures: each port test runs against the local adapter (``[local]``,
SQLite) and the AWS adapters (``[aws]``, DynamoDB + S3 under ``moto.mock_aws``, offline)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from spruce.storage.aws_tables import TableNames, create_tables
from spruce.storage.dynamo_catalog import DynamoCatalog, DynamoManifestStore
from spruce.storage.dynamo_jobs import DynamoJobStore
from spruce.storage.dynamo_log import DynamoRequestLog
from spruce.storage.ports import Catalog, JobStore, ManifestStore, RequestLog
from spruce.storage.sqlite_store import SqliteStore

REGION = "us-east-1"
BUCKET = "spruce-contract"
TABLES = TableNames(catalog="spruce-catalog", namespaces="spruce-namespaces", manifests="spruce-manifests",
                    log="spruce-log")


@dataclass
class AwsEnv:
    """The moto-backed clients and names the AWS adapters are built from."""

    dynamodb: Any
    s3: Any
    tables: TableNames = TABLES
    bucket: str = BUCKET

    def log(self, dynamodb: Any = None) -> DynamoRequestLog:
        return DynamoRequestLog(dynamodb or self.dynamodb, self.s3, self.tables, self.bucket)


@dataclass
class Stores:
    kind: str  # "local" | "aws"
    log: RequestLog
    manifests: ManifestStore
    catalog: Catalog
    jobs: JobStore
    reopen: Callable[[], Stores]  # new adapter instances on the same storage
    aws: AwsEnv | None = None


class HookedClient:
    """A boto3 client whose API calls first run ``before(operation_name)``; for deterministic
    interleavings and call counting."""

    def __init__(self, client: Any, before: Callable[[str], None]) -> None:
        self._client = client
        self._before = before

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._before(name)
            return attr(*args, **kwargs)
        return call


class LockedClient:
    """A boto3 client with one lock held around each API call.

    moto's backend is not linearizable across threads; DynamoDB is per request. Holding a
    lock per call models exactly that: threads still interleave freely *between* calls, so
    read-then-transact races happen. Counts the transactions DynamoDB cancelled."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.cancelled_transactions = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                try:
                    return attr(*args, **kwargs)
                except self._client.exceptions.TransactionCanceledException:
                    self.cancelled_transactions += 1
                    raise
        return call


def aws_stores(env: AwsEnv, dynamodb: Any = None) -> Stores:
    dynamodb = dynamodb or env.dynamodb

    def reopen() -> Stores:
        return aws_stores(AwsEnv(boto3.client("dynamodb", region_name=REGION),
                                 boto3.client("s3", region_name=REGION)))
    return Stores("aws", env.log(dynamodb), DynamoManifestStore(dynamodb, env.tables),
                  DynamoCatalog(dynamodb, env.s3, env.tables, env.bucket), DynamoJobStore(dynamodb, env.tables),
                  reopen, env)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEnv]:
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    with mock_aws():
        env = AwsEnv(boto3.client("dynamodb", region_name=REGION), boto3.client("s3", region_name=REGION))
        create_tables(env.dynamodb, env.tables)
        env.s3.create_bucket(Bucket=env.bucket)
        yield env


@pytest.fixture
def aws(aws_env: AwsEnv) -> Stores:
    """The AWS adapters only, for tests of AWS-specific behaviour (spill, TTL, retries)."""
    return aws_stores(aws_env)


@pytest.fixture(params=["local", "aws"])
def stores(request: pytest.FixtureRequest, tmp_path) -> Iterator[Stores]:
    if request.param == "aws":
        yield aws_stores(request.getfixturevalue("aws_env"))
        return
    opened: list[SqliteStore] = []

    def reopen() -> Stores:
        store = SqliteStore(tmp_path / "db")
        opened.append(store)
        return Stores("local", store, store, store, store, reopen)
    yield reopen()
    for store in opened:
        store.close()


@pytest.fixture
def log(stores: Stores) -> RequestLog:
    return stores.log
