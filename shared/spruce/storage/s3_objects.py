"""Plain S3 object operations on the slab layout, with boto3 only.

Deliberately free of lancedb and pyarrow: the lean API Lambdas import this module to drop an
index's slabs, and the executors' EFS cache uses it to list a dataset's objects.
"""

from __future__ import annotations

from collections.abc import Iterator

from spruce.storage.aws_tables import SLAB_PREFIX

#: The most keys one DeleteObjects request accepts.
_DELETE_BATCH = 1000


def slab_root(bucket: str) -> str:
    """The LanceDB root URI of every slab in ``bucket``."""
    return f"s3://{bucket}/{SLAB_PREFIX}"


def index_prefix(index_id: str) -> str:
    return f"{SLAB_PREFIX}/{index_id}/"


def dataset_prefix(index_id: str, ns_key: str, name: str) -> str:
    """Key prefix of one slab or tombstone dataset (``name`` is ``slab-<id>`` or ``tomb-<name>``)."""
    return f"{SLAB_PREFIX}/{index_id}/{ns_key}/{name}.lance/"


class S3Prefixes:
    def __init__(self, s3_client, bucket: str) -> None:
        self._s3 = s3_client
        self.bucket = bucket

    def objects(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object under ``prefix``, in key order."""
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", ()):
                yield obj["Key"], obj["Size"]

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many there were."""
        keys = [key for key, _ in self.objects(prefix)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start:start + _DELETE_BATCH]
            response = self._s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            if response.get("Errors"):
                first = response["Errors"][0]
                raise RuntimeError(f"could not delete {len(response['Errors'])} objects under {prefix!r}, "
                                   f"e.g. {first.get('Key')}: {first.get('Code')} {first.get('Message')}")
        return len(keys)

    def copy_prefix(self, src: str, dst: str) -> int:
        """Copy every object under ``src`` to the same key under ``dst`` (server-side); returns
        their total size. Fails if ``src`` holds nothing: a missing dataset is not an empty one."""
        total = copied = 0
        for key, size in self.objects(src):
            self._s3.copy_object(Bucket=self.bucket, Key=dst + key[len(src):], ServerSideEncryption="AES256",
                                 CopySource={"Bucket": self.bucket, "Key": key})
            total += size
            copied += 1
        if not copied:
            raise FileNotFoundError(f"nothing stored under s3://{self.bucket}/{src}")
        return total

    def copy_dataset(self, src_index_id: str, ns_key: str, name: str, dst_index_id: str) -> int:
        """Copy one slab or tombstone dataset to another index id (backups, restores)."""
        return self.copy_prefix(dataset_prefix(src_index_id, ns_key, name), dataset_prefix(dst_index_id, ns_key, name))

    def drop_index(self, index_id: str) -> None:
        """Delete every slab and tombstone set of an index."""
        self.delete_prefix(index_prefix(index_id))
