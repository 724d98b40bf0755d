"""Wiring of the API functions (control plane, data plane): DynamoDB for the catalog, log
and manifests, executors for slab reads, S3 for spilled payloads and to drop an index's slabs."""

from __future__ import annotations

from spruce.aws.invoke import LambdaInvoker
from spruce.aws.payloads import PayloadSpill
from spruce.aws.settings import AwsSettings, client
from spruce.engine.namespaces import NamespaceCache
from spruce.engine.base import SlabAccess, SlabReader
from spruce.engine.manifest import Manifest
from spruce.engine.remote import DEFAULT_GROUP_ROWS, RemoteSlabs
from spruce.engine.service import Spruce
from spruce.storage.dynamo_catalog import DynamoCatalog, DynamoManifestStore
from spruce.storage.dynamo_log import DynamoRequestLog
from spruce.storage.s3_objects import S3Prefixes


class NoSlabReads:
    """``SlabAccess`` of the control plane, whose routes never read records: it holds no
    executor client (and its role no invoke permission)."""

    def open(self, index_id: str, namespace: str, manifest: Manifest, *, metric: str,
             dimension: int | None) -> SlabReader:
        raise RuntimeError("the control-plane function does not read slabs")

    def forget_slabs(self, index_id: str, slab_ids: set[str]) -> None:
        """Nothing cached."""

    def forget_index(self, index_id: str) -> None:
        """Nothing cached."""


def api_engine(settings: AwsSettings, *, reads_slabs: bool) -> Spruce:
    """The engine behind an API function; ``reads_slabs`` (the data plane) reaches the query
    executor Lambda named in the settings."""
    dynamodb, s3 = client("dynamodb"), client("s3")
    slabs: SlabAccess = NoSlabReads()
    if reads_slabs:
        if not settings.executor_function:
            raise RuntimeError("SPRUCE_EXECUTOR_FUNCTION is not set: the data plane reads slabs through it")
        invoke = LambdaInvoker(client("lambda"), settings.executor_function, PayloadSpill(s3, settings.bucket))
        slabs = RemoteSlabs(invoke, group_rows=settings.group_rows or DEFAULT_GROUP_ROWS)
    log = DynamoRequestLog(dynamodb, s3, settings.tables, settings.bucket)
    cache = NamespaceCache(log, DynamoManifestStore(dynamodb, settings.tables), slabs)
    return Spruce(catalog=DynamoCatalog(dynamodb, s3, settings.tables, settings.bucket), log_store=log,
                  cache=cache, drop_slabs=S3Prefixes(s3, settings.bucket).drop_index)
