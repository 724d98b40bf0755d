"""Backups and restores end to end on the embedded host, through HTTP: every record restored as
it was when the backup was taken (dense, sparse, hybrid; several namespaces, metadata, writes
still in the log tail), whatever the source did afterwards (more writes, compaction and garbage
collection past the grace period, being deleted); errors, guards and pagination."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from spruce.api.app import create_app
from spruce.engine.builder import BuilderSettings
from spruce.engine.local import EmbeddedSpruce, open_local
from spruce.jobs import backups, restores
from spruce.jobs.embedded import open_jobs
from spruce.jobs.workflow import JobHost

KEY = "test-key"
SERVERLESS = {"serverless": {"cloud": "aws", "region": "us-east-1"}}
V2025_10 = {"X-Pinecone-API-Version": "2025-10"}


class Api:
    def __init__(self, client: TestClient, engine: EmbeddedSpruce, host: JobHost) -> None:
        self.c, self.engine, self.host = client, engine, host

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.c.request(method, path, **kw)
        assert r.status_code == status, r.text
        return r.json() if r.content else None

    def error(self, method: str, path: str, status: int, code: str, **kw: Any) -> str:
        r = self.c.request(method, path, **kw)
        assert r.status_code == status, r.text
        body = r.json()
        assert body["status"] == status and body["error"]["code"] == code, body
        return body["error"]["message"]

    def backup(self, index: str, **body: Any) -> dict:
        doc = self.ok("POST", f"/indexes/{index}/backups", 201, json=body)
        assert doc["status"] == "Pending"
        return self.wait_backup(doc["backup_id"])

    def wait_backup(self, backup_id: str) -> dict:
        deadline = time.monotonic() + 60
        while (doc := self.ok("GET", f"/backups/{backup_id}"))["status"] == "Pending":
            assert time.monotonic() < deadline, doc
            time.sleep(0.02)
        return doc

    def restore(self, backup_id: str, name: str, **body: Any) -> dict:
        started = self.ok("POST", f"/backups/{backup_id}/create-index", 202, json={"name": name, **body})
        deadline = time.monotonic() + 60
        while (job := self.ok("GET", f"/restore-jobs/{started['restore_job_id']}"))["status"] in restores.RUNNING:
            assert time.monotonic() < deadline, job
            time.sleep(0.02)
        assert job["target_index_id"] == started["index_id"]
        return job


@contextmanager
def api(data_dir: Path, *, host: JobHost | None = None) -> Iterator[Api]:
    """The embedded engine (background builder off: tests flush when they mean to) behind the app,
    with its in-process job runner (or ``host``)."""
    engine = open_local(data_dir, settings=BuilderSettings(gc_grace_s=0.0, l0_merge_count=2, ann_min_rows=50),
                        start=False)
    engine.register_api_key(KEY)
    jobs, runner = open_jobs(engine)
    try:
        with TestClient(create_app(engine, public_url="http://testserver", jobs=host or jobs),
                        headers={"Api-Key": KEY}) as client:
            yield Api(client, engine, host or jobs)
    finally:
        runner.close()
        engine.close()


def _vector(rng: np.random.Generator, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind != "sparse":
        out["values"] = rng.standard_normal(4).round(4).tolist()
    if kind != "dense":
        idx = sorted(rng.choice(1000, size=3, replace=False).tolist())
        out["sparseValues"] = {"indices": idx, "values": rng.random(3).round(4).tolist()}
    return out


def _upsert(a: Api, index: str, ns: str, ids: list[str], kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    vectors = [{"id": i, **_vector(rng, kind), "metadata": {"n": k, "tag": f"t{seed}", "list": ["x", i]}}
               for k, i in enumerate(ids)]
    a.ok("POST", f"/data/{index}/vectors/upsert", json={"namespace": ns, "vectors": vectors})


def _contents(engine: EmbeddedSpruce, index: str) -> dict[str, dict[str, tuple]]:
    """Every namespace's every record, values and all, read through the engine."""
    out: dict[str, dict[str, tuple]] = {}
    for info in engine.list_namespaces(index, limit=100, token=None)[0]:
        ids: list[str] = []
        token = None
        while True:
            page, token = engine.list_ids(index, info.name, prefix=None, limit=100, token=token).value
            ids += page
            if token is None:
                break
        records = engine.fetch(index, info.name, ids).value
        out[info.name] = {i: (None if r.values is None else r.values.tolist(),
                              None if r.sparse is None else (r.sparse.indices.tolist(), r.sparse.values.tolist()),
                              r.metadata) for i, r in records.items()}
    return out


@pytest.mark.parametrize("kind", ["dense", "sparse", "hybrid"])
def test_restore_holds_every_record_as_it_was_when_backed_up(tmp_path, kind):
    with api(tmp_path / "d") as a:
        spec = {"dense": {"dimension": 4, "metric": "cosine"}, "sparse": {"vector_type": "sparse"},
                "hybrid": {"dimension": 4, "metric": "dotproduct"}}[kind]
        a.ok("POST", "/indexes", 201, json={"name": "src", "spec": SERVERLESS, "tags": {"team": "a"}, **spec})
        _upsert(a, "src", "flushed", [f"f{i}" for i in range(30)], kind, seed=1)
        a.engine.flush("src", "flushed")
        _upsert(a, "src", "flushed", [f"f{i}" for i in range(0, 30, 3)], kind, seed=2)  # shadows slab rows
        a.ok("POST", "/data/src/vectors/delete", json={"namespace": "flushed", "ids": ["f1", "f2"]})
        a.engine.flush("src", "flushed")
        _upsert(a, "src", "flushed", ["tail-1"], kind, seed=3)  # still in the log tail
        _upsert(a, "src", "", [f"d{i}" for i in range(5)], kind, seed=4)  # default namespace, tail only
        a.ok("POST", "/data/src/vectors/update", json={"namespace": "", "id": "d1", "setMetadata": {"n": 99}})
        _upsert(a, "src", "gone", ["g"], kind, seed=5)
        a.ok("DELETE", "/data/src/namespaces/gone")
        a.ok("POST", "/data/src/namespaces", headers=V2025_10,
             json={"name": "empty", "schema": {"fields": {"genre": {"filterable": True}}}})
        expected = _contents(a.engine, "src")
        assert set(expected) == {"flushed", "__default__", "empty"}
        lsns = {r.name: r.last_lsn for r in a.engine.namespace_rows(a.engine.describe_index("src")) if r.exists}

        backup = a.backup("src", name="before-cleanup", description="all of it")
        assert backup["status"] == "Ready" and backup["name"] == "before-cleanup"
        assert backup["record_count"] == sum(map(len, expected.values())) == 30 - 2 + 1 + 5
        assert backup["namespace_count"] == 3 and backup["size_bytes"] > 0
        assert backup["dimension"] == (0 if kind == "sparse" else 4) and backup["tags"] == {"team": "a"}
        assert (backup["source_index_name"], backup["cloud"], backup["region"]) == ("src", "aws", "us-east-1")

        # The source moves on: more writes, compaction and garbage collection, then it is deleted.
        _upsert(a, "src", "flushed", [f"f{i}" for i in range(40)], kind, seed=6)
        a.ok("POST", "/data/src/vectors/delete", json={"namespace": "", "deleteAll": True})
        for ns in ("flushed", "__default__"):
            a.engine.flush("src", ns)
            a.engine.compact("src", ns, force=True)
            a.engine.collect_garbage("src", ns)
        a.ok("DELETE", "/indexes/src", 202)

        job = a.restore(backup["backup_id"], "copy")
        assert job["status"] == "Completed" and job["percent_complete"] == 100.0 and job["completed_at"]
        index = a.ok("GET", "/indexes/copy")
        assert index["status"] == {"ready": True, "state": "Ready"} and index["tags"] == {"team": "a"}
        assert index["metric"] == spec.get("metric", "dotproduct") and index.get("dimension") == spec.get("dimension")
        assert _contents(a.engine, "copy") == expected
        schema = a.ok("GET", "/data/copy/namespaces/empty", headers=V2025_10)["schema"]
        assert schema == {"fields": {"genre": {"filterable": True}}}
        # LSNs continue where the backup stopped; queries work on the restored slabs and the new tail.
        r = a.c.post("/data/copy/vectors/upsert", json={"namespace": "flushed", "vectors": [
            {"id": "new", **_vector(np.random.default_rng(9), kind)}]})
        assert r.status_code == 200 and int(r.headers["x-pinecone-request-lsn"]) == lsns["flushed"] + 1
        query = {"namespace": "flushed", "topK": 100, "id": "f3", "includeMetadata": True}
        hits = a.ok("POST", "/data/copy/query", json=query)["matches"]
        assert {h["id"] for h in hits} <= set(expected["flushed"]) | {"new"} and hits


def test_restore_recreates_an_integrated_index_config_and_takes_request_tags(tmp_path):
    with api(tmp_path / "d") as a:
        source = a.ok("POST", "/indexes/create-for-model", 201, json={
            "name": "src", "cloud": "aws", "region": "us-east-1", "deletion_protection": "enabled",
            "tags": {"a": "1"}, "embed": {"model": "all-minilm-l6-v2", "field_map": {"text": "chunk"}}})
        backup = a.backup("src")
        assert backup["record_count"] == 0 and backup["namespace_count"] == 0 and "name" not in backup
        assert backup["dimension"] == 384 and backup["tags"] == {"a": "1"}
        a.restore(backup["backup_id"], "copy", tags={"b": "2"}, deletion_protection="enabled")
        restored = a.ok("GET", "/indexes/copy")
        assert restored["embed"] == source["embed"] and restored["dimension"] == 384
        assert restored["tags"] == {"b": "2"} and restored["deletion_protection"] == "enabled"
        assert restored["id"] != source["id"]


class Parked:
    """A launcher that records starts and runs nothing: jobs stay Pending for as long as a test needs."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str, dict]] = []

    def start(self, workflow: str, execution: str, state: dict) -> None:
        self.started.append((workflow, execution, state))


def test_guards_and_errors(tmp_path):
    with api(tmp_path / "d") as a:
        a.ok("POST", "/indexes", 201, json={"name": "src", "dimension": 4, "spec": SERVERLESS})
        _upsert(a, "src", "ns", ["a", "b"], "dense", seed=1)
        assert a.error("POST", "/indexes/nope/backups", 404, "NOT_FOUND") == "Index nope not found."
        assert a.error("GET", "/indexes/nope/backups", 404, "NOT_FOUND") == "Index nope not found."
        assert a.error("GET", "/backups/b-1", 404, "NOT_FOUND") == "Backup b-1 not found."
        assert a.error("DELETE", "/backups/b-1", 404, "NOT_FOUND") == "Backup b-1 not found."
        assert a.error("POST", "/backups/b-1/create-index", 404, "NOT_FOUND", json={"name": "x"}) \
            == "Backup b-1 not found."
        assert a.error("GET", "/restore-jobs/r-1", 404, "NOT_FOUND") == "Restore job r-1 not found."
        a.error("POST", "/indexes/src/backups", 422, "UNPROCESSABLE_ENTITY", json={"name": 5})
        backup = a.backup("src")
        bid = backup["backup_id"]
        assert a.error("POST", f"/backups/{bid}/create-index", 409, "ALREADY_EXISTS", json={"name": "src"}) \
            == "Resource already exists."
        a.error("POST", f"/backups/{bid}/create-index", 400, "INVALID_ARGUMENT", json={"name": "Bad_Name"})
        a.error("POST", f"/backups/{bid}/create-index", 422, "UNPROCESSABLE_ENTITY", json={})
        a.error("POST", f"/backups/{bid}/create-index", 400, "INVALID_ARGUMENT",
                json={"name": "x", "deletion_protection": "maybe"})
        assert a.c.get("/indexes/x").status_code == 404  # a refused restore creates nothing

    # A restore that has not finished: the new index refuses data-plane calls, the backup cannot go.
    parked = Parked()
    with api(tmp_path / "d") as a:
        host = JobHost(engine=a.engine, jobs=a.host.jobs, launcher=parked)
        with TestClient(create_app(a.engine, public_url="http://testserver", jobs=host),
                        headers={"Api-Key": KEY}) as c:
            parked_api = Api(c, a.engine, host)
            started = parked_api.ok("POST", f"/backups/{bid}/create-index", 202, json={"name": "copy"})
            assert parked.started == [("restore", f"restore-{started['restore_job_id']}",
                                       {"restore_job_id": started["restore_job_id"]})]
            assert parked_api.ok("GET", "/indexes/copy")["status"] == {"ready": False, "state": "Initializing"}
            job = parked_api.ok("GET", f"/restore-jobs/{started['restore_job_id']}")
            assert (job["status"], job["percent_complete"], job["backup_id"]) == ("Pending", 0.0, bid)
            assert "completed_at" not in job
            r = c.post("/data/copy/vectors/upsert", json={"vectors": [{"id": "x", "values": [1, 2, 3, 4]}]})
            assert r.status_code == 412 and "being restored from a backup" in r.json()["message"]
            assert c.post("/data/copy/query", json={"topK": 1, "id": "a"}).status_code == 412
            assert parked_api.error("DELETE", f"/backups/{bid}", 412, "FAILED_PRECONDITION") == (
                "Unable to delete backup. There are pending restore jobs for this backup: "
                f"['{started['restore_job_id']}']")
            pending = parked_api.ok("POST", "/indexes/src/backups", 201, json={})
            assert parked_api.error("DELETE", f"/backups/{pending['backup_id']}", 412, "FAILED_PRECONDITION") \
                .startswith("Unable to delete backup. Backup ")
            assert parked_api.error("POST", f"/backups/{pending['backup_id']}/create-index", 412,
                                    "FAILED_PRECONDITION", json={"name": "early"}).endswith("shows Ready.")
            assert parked_api.error("POST", "/indexes/copy/backups", 412, "FAILED_PRECONDITION", json={}) \
                .startswith("Index copy is not ready")

    # Reopening the server resumes what was left running: the restore completes, the backup is taken.
    with api(tmp_path / "d") as a:
        job = a.ok("GET", f"/restore-jobs/{started['restore_job_id']}")
        deadline = time.monotonic() + 60
        while job["status"] in restores.RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.02)
            job = a.ok("GET", f"/restore-jobs/{started['restore_job_id']}")
        assert job["status"] == "Completed"
        assert sorted(a.engine.fetch("copy", "ns", ["a", "b"]).value) == ["a", "b"]
        assert a.wait_backup(pending["backup_id"])["status"] == "Ready"
        a.ok("DELETE", f"/backups/{bid}", 202)
        assert a.error("GET", f"/backups/{bid}", 404, "NOT_FOUND") == f"Backup {bid} not found."
        assert not (tmp_path / "d" / "slabs" / bid).exists()  # its copies went with it


def test_a_failed_restore_says_why_and_leaves_the_index_failed(tmp_path):
    with api(tmp_path / "d") as a:
        a.ok("POST", "/indexes", 201, json={"name": "src", "dimension": 4, "spec": SERVERLESS})
        _upsert(a, "src", "ns", ["a"], "dense", seed=1)
        bid = a.backup("src")["backup_id"]
        import shutil
        shutil.rmtree(tmp_path / "d" / "slabs" / bid)  # the backup's objects are lost
        job = a.restore(bid, "copy")
        assert job["status"] == "Failed" and job["completed_at"]
        assert a.ok("GET", "/indexes/copy")["status"] == {"ready": False, "state": "InitializationFailed"}
        assert "restore from a backup failed" in a.c.post("/data/copy/query", json={"topK": 1, "id": "a"}).json()[
            "message"]
        assert "FileNotFoundError" in backups.documents.load(a.host.jobs, restores.KIND, job["restore_job_id"])["error"]
        a.ok("DELETE", "/indexes/copy", 202)
        a.ok("DELETE", f"/backups/{bid}", 202)  # a failed restore does not hold its backup


def test_listing_pages_per_project_and_per_index(tmp_path):
    with api(tmp_path / "d") as a:
        for name in ("one", "two"):
            a.ok("POST", "/indexes", 201, json={"name": name, "dimension": 4, "spec": SERVERLESS})
        ids = {a.backup("one")["backup_id"] for _ in range(3)} | {a.backup("two")["backup_id"]}
        first = a.ok("GET", "/backups", params={"limit": 3})
        assert len(first["data"]) == 3 and first["pagination"]["next"]
        rest = a.ok("GET", "/backups", params={"limit": 3, "paginationToken": first["pagination"]["next"]})
        assert len(rest["data"]) == 1 and "pagination" not in rest
        listed = [b["backup_id"] for b in first["data"] + rest["data"]]
        assert listed == sorted(ids)  # bitwise id order
        assert len(a.ok("GET", "/backups")["data"]) == 4  # default limit 10
        per_index = a.ok("GET", "/indexes/one/backups", params={"limit": 2})
        more = a.ok("GET", "/indexes/one/backups", params={"paginationToken": per_index["pagination"]["next"]})
        assert {b["source_index_name"] for b in per_index["data"] + more["data"]} == {"one"}
        assert len(per_index["data"] + more["data"]) == 3
        for bad in ("0", "101", "ten"):
            assert "limit" in a.error("GET", "/backups", 400, "INVALID_ARGUMENT", params={"limit": bad})
        a.error("GET", "/restore-jobs", 400, "INVALID_ARGUMENT", params={"paginationToken": "not-a-token"})
        a.restore(sorted(ids)[0], "r1")
        a.restore(sorted(ids)[0], "r2")
        jobs = a.ok("GET", "/restore-jobs", params={"limit": 1})
        assert len(jobs["data"]) == 1 and jobs["pagination"]["next"]
        assert {j["target_index_name"] for j in jobs["data"] + a.ok(
            "GET", "/restore-jobs", params={"paginationToken": jobs["pagination"]["next"]})["data"]} == {"r1", "r2"}


def test_2025_10_backups_carry_the_metadata_schema(tmp_path):
    with api(tmp_path / "d") as a:
        a.ok("POST", "/indexes", 201, headers=V2025_10, json={
            "name": "src", "dimension": 4, "spec": {"serverless": {
                "cloud": "aws", "region": "us-east-1", "schema": {"fields": {"genre": {"filterable": True}}}}}})
        backup = a.backup("src")
        assert "schema" not in backup  # 2025-04 has no schema in BackupModel
        assert a.ok("GET", f"/backups/{backup['backup_id']}", headers=V2025_10)["schema"] == {
            "fields": {"genre": {"filterable": True}}}


def test_collections_are_refused_pointing_at_backups(tmp_path):
    with api(tmp_path / "d") as a:
        assert a.ok("GET", "/collections") == {"collections": []}
        message = a.error("POST", "/collections", 400, "INVALID_ARGUMENT", json={"name": "c", "source": "src"})
        assert "do not support collections" in message and "/backups" in message
        assert a.error("GET", "/collections/c", 404, "NOT_FOUND").startswith("Collection c not found.")
        assert a.error("DELETE", "/collections/c", 404, "NOT_FOUND").startswith("Collection c not found.")


def test_without_a_job_runner_backups_answer_503(tmp_path):
    engine = open_local(tmp_path / "d", start=False)
    engine.register_api_key(KEY)
    try:
        with TestClient(create_app(engine, public_url="http://testserver"), headers={"Api-Key": KEY}) as c:
            r = c.get("/backups")
            assert r.status_code == 503 and r.json()["error"]["code"] == "UNAVAILABLE"
    finally:
        engine.close()


def test_a_stopping_server_leaves_backups_and_restores_to_its_next_start(tmp_path):
    from spruce.jobs.workflow import run_to_end

    with api(tmp_path / "d") as a:
        a.ok("POST", "/indexes", 201, json={"name": "src", "dimension": 4, "spec": SERVERLESS})
        _upsert(a, "src", "ns", ["a", "b"], "dense", seed=1)
        parked = JobHost(engine=a.engine, jobs=a.host.jobs, launcher=Parked())
        doc = backups.create(parked, "src", {})
        parked.stopping.set()
        run_to_end(parked, backups.BACKUP, {"backup_id": doc["backup_id"]})
        assert backups.describe(parked, doc["backup_id"])["status"] == "Pending"  # nothing marked, nothing lost
        parked.stopping.clear()
        run_to_end(parked, backups.BACKUP, {"backup_id": doc["backup_id"]})
        assert backups.describe(parked, doc["backup_id"])["record_count"] == 2
        job = restores.create_index_from_backup(parked, doc["backup_id"], {"name": "copy"})
        parked.stopping.set()
        run_to_end(parked, restores.RESTORE, {"restore_job_id": job["restore_job_id"]})
        assert restores.describe(parked, job["restore_job_id"])["status"] == "Pending"
        assert a.engine.describe_index("copy").state == "Initializing"
