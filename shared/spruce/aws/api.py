"""Wiring of the API functions (control plane, data plane, authorizer): DynamoDB for the
catalog, log and manifests, executors for slab reads, S3 only to drop an index's slabs."""

from __future__ import annotations

from spruce.aws.invoke import LambdaInvoker
from spruce.aws.settings import AwsSettings, client
from spruce.engine.namespaces import NamespaceCache
from spruce.engine.remote import Invoke, RemoteSlabs
from spruce.engine.service import Spruce
from spruce.storage.dynamo_catalog import DynamoCatalog, DynamoManifestStore
from spruce.storage.dynamo_log import DynamoRequestLog
from spruce.storage.s3_objects import S3Prefixes


def api_engine(settings: AwsSettings, *, invoke: Invoke | None = None) -> Spruce:
    """The engine behind the API functions. ``invoke`` reaches the query executors (default:
    the executor Lambda named in the settings)."""
    dynamodb, s3 = client("dynamodb"), client("s3")
    if invoke is None:
        if not settings.executor_function:
            raise RuntimeError("SPRUCE_EXECUTOR_FUNCTION is not set: the API functions read slabs through it")
        invoke = LambdaInvoker(client("lambda"), settings.executor_function)
    log = DynamoRequestLog(dynamodb, s3, settings.tables, settings.bucket)
    cache = NamespaceCache(log, DynamoManifestStore(dynamodb, settings.tables),
                           RemoteSlabs(invoke, group_rows=settings.group_rows))
    return Spruce(catalog=DynamoCatalog(dynamodb, s3, settings.tables, settings.bucket), log_store=log,
                  cache=cache, drop_slabs=S3Prefixes(s3, settings.bucket).drop_index)


def key_catalog(settings: AwsSettings) -> DynamoCatalog:
    """The catalog alone (the authorizer only checks key hashes)."""
    return DynamoCatalog(client("dynamodb"), client("s3"), settings.tables, settings.bucket)
