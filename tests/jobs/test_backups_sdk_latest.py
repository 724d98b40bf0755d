"""Backups and restores through the latest official SDK (10.x, API 2026-07; run in
``.venv-sdk-latest`` by ``make test``): back up, restore, compare, restore jobs, collections."""

from __future__ import annotations

import time

import pinecone
import pytest
from pinecone import ServerlessSpec

from tests.sdk.server import sdk_client

SDK_MAJOR = int(pinecone.__version__.split(".")[0]) if hasattr(pinecone, "__version__") else 7
pytestmark = pytest.mark.skipif(SDK_MAJOR < 10, reason="SDK 10.x (API 2026-07) only; 7.x is test_backups_sdk.py")


def test_sdk10_backup_restore_round_trip(tmp_path):
    with sdk_client(tmp_path / "data") as pc:
        pc.create_index(name="docs", dimension=3, metric="cosine", spec=ServerlessSpec(cloud="aws", region="us-east-1"))
        index = pc.Index("docs")
        index.upsert(vectors=[("a", [0.1, 0.2, 0.3]), ("b", [0.3, 0.2, 0.1])], namespace="ns")
        backup = pc.create_backup(index_name="docs", backup_name="nightly")
        deadline = time.monotonic() + 60
        while (described := pc.describe_backup(backup_id=backup.backup_id)).status == "Pending":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert described.status == "Ready" and described.name == "nightly"
        assert [b.backup_id for b in pc.list_backups(index_name="docs")] == [backup.backup_id]
        index.delete(ids=["a"], namespace="ns")  # after the backup
        restored = pc.create_index_from_backup(backup_id=backup.backup_id, name="copy", timeout=60)
        assert restored.status.ready and restored.status.state == "Ready"
        fetched = pc.Index("copy").fetch(ids=["a", "b"], namespace="ns").vectors
        assert {i: list(v.values) for i, v in fetched.items()} == {"a": [0.1, 0.2, 0.3], "b": [0.3, 0.2, 0.1]}
        [job] = list(pc.list_restore_jobs())
        assert (job.status, job.percent_complete, job.target_index_name) == ("Completed", 100.0, "copy")
        assert list(pc.list_collections()) == []
