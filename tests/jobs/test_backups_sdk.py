"""The official pinecone SDK 7.x against ``spruce serve``: back up, list, restore, compare every
record; restore jobs; delete guards; collections refused."""

from __future__ import annotations

import time

import pytest
from pinecone import ServerlessSpec
from pinecone.exceptions import NotFoundException, PineconeApiException

from tests.sdk.server import sdk_client

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


@pytest.fixture(scope="module")
def pc(tmp_path_factory):
    with sdk_client(tmp_path_factory.mktemp("backups-sdk") / "data") as client:
        yield client


def _wait_ready(pc, backup_id: str):
    deadline = time.monotonic() + 60
    while (backup := pc.describe_backup(backup_id=backup_id)).status == "Pending":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return backup


def _everything(index, namespaces: list[str]) -> dict:
    out = {}
    for ns in namespaces:
        ids = [i for page in index.list(namespace=ns) for i in page]
        fetched = index.fetch(ids=ids, namespace=ns).vectors
        out[ns] = {i: (list(v.values), v.metadata) for i, v in fetched.items()}
    return out


def test_sdk_backup_and_restore_round_trip(pc):
    pc.create_index(name="docs", dimension=3, metric="euclidean", spec=SPEC, tags={"env": "test"})
    index = pc.Index("docs")
    index.upsert(vectors=[(f"a{i}", [float(i), 1.0, 2.0], {"n": i}) for i in range(25)], namespace="alpha")
    index.upsert(vectors=[("b1", [0.5, 0.5, 0.5], {"genre": "drama"})], namespace="beta")
    index.delete(ids=["a3"], namespace="alpha")
    expected = _everything(index, ["alpha", "beta"])

    backup = pc.create_backup(index_name="docs", backup_name="nightly", description="before the purge")
    assert backup.status == "Pending" and backup.source_index_name == "docs"
    ready = _wait_ready(pc, backup.backup_id)
    assert (ready.status, ready.record_count, ready.namespace_count) == ("Ready", 25, 2)
    assert (ready.dimension, ready.metric, ready.name, ready.description) == (3, "euclidean", "nightly",
                                                                              "before the purge")
    index.delete(delete_all=True, namespace="alpha")  # after the backup: not in it

    assert [b.backup_id for b in pc.list_backups(index_name="docs")] == [backup.backup_id]
    assert backup.backup_id in [b.backup_id for b in pc.list_backups()]

    restored = pc.create_index_from_backup(backup_id=backup.backup_id, name="docs-restored", tags={"from": "backup"},
                                           timeout=60)
    assert restored.status.ready and restored.dimension == 3 and restored.metric == "euclidean"
    assert restored.tags.to_dict() == {"from": "backup"}
    assert _everything(pc.Index("docs-restored"), ["alpha", "beta"]) == expected
    [job] = pc.list_restore_jobs().data
    assert (job.backup_id, job.target_index_name, job.status, job.percent_complete) == (
        backup.backup_id, "docs-restored", "Completed", 100.0)
    described = pc.describe_restore_job(job_id=job.restore_job_id)
    assert described.completed_at is not None and described.target_index_id == job.target_index_id

    pc.delete_backup(backup_id=backup.backup_id)
    with pytest.raises(NotFoundException, match=f"Backup {backup.backup_id} not found"):
        pc.describe_backup(backup_id=backup.backup_id)
    with pytest.raises(NotFoundException, match="Restore job nope not found"):
        pc.describe_restore_job(job_id="nope")


def test_sdk_sparse_backup_reports_dimension_zero(pc):
    pc.create_index(name="sparse-docs", vector_type="sparse", metric="dotproduct", spec=SPEC)
    pc.Index("sparse-docs").upsert(vectors=[{"id": "s", "sparse_values": {"indices": [1, 5], "values": [0.5, 2.0]}}])
    ready = _wait_ready(pc, pc.create_backup(index_name="sparse-docs", backup_name="s").backup_id)
    assert ready.dimension == 0 and ready.record_count == 1


def test_sdk_collections_are_refused_with_the_serverless_alternative(pc):
    assert pc.list_collections().names() == []
    with pytest.raises(PineconeApiException) as err:
        pc.create_collection(name="snap", source="docs")
    assert err.value.status == 400 and "create a backup" in str(err.value.body)
    with pytest.raises(NotFoundException):
        pc.describe_collection(name="snap")
