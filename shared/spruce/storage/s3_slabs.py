"""The AWS host's slab store: the LanceDB adapter rooted at ``s3://<bucket>/slabs``."""

from __future__ import annotations

from spruce.storage.lance_slabs import LanceSlabStore
from spruce.storage.s3_objects import S3Prefixes, slab_root


def open_s3_slab_store(bucket: str, *, s3_client, storage_options: dict[str, str] | None = None) -> LanceSlabStore:
    """``storage_options`` are LanceDB's object-store options (None: the Lambda's environment
    credentials and region); ``s3_client`` (boto3) deletes a dropped index's objects and copies
    datasets (backups, restores)."""
    prefixes = S3Prefixes(s3_client, bucket)
    return LanceSlabStore(slab_root(bucket), storage_options=storage_options,
                          drop_index_objects=prefixes.drop_index, copy_dataset=prefixes.copy_dataset)
