"""Wiring of the functions that read or write slabs: the index builder, workflow tasks and
the query executors. These import LanceDB (container images)."""

from __future__ import annotations

from spruce.aws.settings import AwsSettings, client
from spruce.engine.builder import Builder, BuilderSettings
from spruce.engine.holds import GcHolds
from spruce.engine.namespaces import NamespaceCache
from spruce.engine.service import Spruce
from spruce.engine.slabset import LocalSlabs
from spruce.storage.dynamo_catalog import DynamoCatalog, DynamoManifestStore
from spruce.storage.dynamo_jobs import DynamoJobStore
from spruce.storage.dynamo_log import DynamoRequestLog
from spruce.storage.efs_cache import EfsSlabCache
from spruce.storage.s3_slabs import open_s3_slab_store

#: The stream decides when to flush (its batching window), so the builder flushes every
#: namespace it is handed; objects a flush replaces are deleted after readers' grace.
STREAM_BUILDER = BuilderSettings(flush_records=1, flush_interval_s=0.0, gc_grace_s=60.0)


def builder_engine(settings: AwsSettings, *, builder: BuilderSettings = STREAM_BUILDER) -> Spruce:
    """An engine that builds slabs in this process from S3 (index builder, workflow tasks).
    LanceDB finds its S3 endpoint and credentials in the environment, as boto3 does."""
    dynamodb, s3 = client("dynamodb"), client("s3")
    log = DynamoRequestLog(dynamodb, s3, settings.tables, settings.bucket)
    manifests = DynamoManifestStore(dynamodb, settings.tables)
    store = open_s3_slab_store(settings.bucket, s3_client=s3)
    local = LocalSlabs(store)
    cache = NamespaceCache(log, manifests, local)
    return Spruce(catalog=DynamoCatalog(dynamodb, s3, settings.tables, settings.bucket), log_store=log,
                  cache=cache, drop_slabs=store.drop_index,
                  builder=Builder(log, manifests, store, local, cache, builder,
                                  holds=GcHolds(DynamoJobStore(dynamodb, settings.tables)).held))


def executor_slabs(settings: AwsSettings) -> LocalSlabs:
    """Slabs as an executor reads them: copied from S3 to the EFS cache on first use."""
    return LocalSlabs(EfsSlabCache(settings.efs_root, s3_client=client("s3"), bucket=settings.bucket,
                                   max_bytes=settings.efs_max_bytes))
