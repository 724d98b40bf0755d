"""Backups, restores and compaction on the AWS host, offline: the control-plane handler starts
Step Functions executions (state machines on the moto server), and each execution is played
step by step as its state machine would, through the workflow task handler, against DynamoDB
and the LanceDB slabs on the moto server's S3."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest

from spruce.jobs.workflow import REGISTRY
from tests.api.conftest import KEY
from tests.e2e.aws_host import aws_host

ROLE = "arn:aws:iam::123456789012:role/spruce-states"
PASS = json.dumps({"StartAt": "Run", "States": {"Run": {"Type": "Pass", "End": True}}})


@pytest.fixture
def aws(moto_server, tmp_path, monkeypatch):
    sfn = moto_server.client("stepfunctions")
    for workflow in ("backup", "restore"):
        arn = sfn.create_state_machine(name=f"{workflow}-{tmp_path.name}"[:80], definition=PASS,
                                       roleArn=ROLE)["stateMachineArn"]
        monkeypatch.setenv(f"SPRUCE_STATE_MACHINE_{workflow.upper()}", arn)
    with aws_host(moto_server, tmp_path, api_key=KEY) as host:
        yield host, sfn


def _play(host, sfn, workflow: str) -> dict[str, Any]:
    """Run the newest execution of ``workflow``'s state machine as Step Functions would: its input's
    state through each step (a repeating one while ``more``), a raising step to RecordFailure."""
    arn = os.environ[f"SPRUCE_STATE_MACHINE_{workflow.upper()}"]
    [execution, *_] = sfn.list_executions(stateMachineArn=arn)["executions"]
    state = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])["state"]
    return _run(host, workflow, state)


def _run(host, workflow: str, state: dict[str, Any]) -> dict[str, Any]:
    task = host.m["workflow_task"].handler
    for step in REGISTRY[workflow].steps:
        try:
            state = task({"workflow": workflow, "step": step.name, "state": state}, None)
            while step.repeats and state.get("more"):
                state = task({"workflow": workflow, "step": step.name, "state": state}, None)
        except Exception as exc:  # the state machine's catch → RecordFailure
            cause = json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)})
            task({"workflow": workflow, "state": state, "error": {"Error": type(exc).__name__, "Cause": cause}}, None)
            return {"failed": f"{type(exc).__name__}: {exc}"}
    return state


def _vectors(ids: list[str], seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [{"id": i, "values": rng.normal(size=4).round(4).tolist(), "metadata": {"seed": seed}} for i in ids]


def _all(host, index: str, ns: str) -> dict[str, Any]:
    status, _, listed = host.http("GET", f"/data/{index}/vectors/list", query=f"namespace={ns}&limit=100")
    assert status == 200, listed
    ids = "&".join(f"ids={v['id']}" for v in listed["vectors"])
    status, _, fetched = host.http("GET", f"/data/{index}/vectors/fetch", query=f"namespace={ns}&{ids}")
    assert status == 200, fetched
    return {i: (v["values"], v.get("metadata")) for i, v in fetched["vectors"].items()}


def test_backup_restore_and_compaction_through_the_handlers(aws):
    host, sfn = aws
    assert host.http("POST", "/indexes", {"name": "src", "dimension": 4, "metric": "cosine", "spec": {
        "serverless": {"cloud": "aws", "region": "us-east-1"}}})[0] == 201
    for ns, seed in (("a", 1), ("b", 2)):
        assert host.http("POST", "/data/src/vectors/upsert", {"namespace": ns, "vectors": _vectors(
            [f"{ns}{i}" for i in range(12)], seed)})[0] == 200
    host.build()  # the stream flushes a and b into slabs
    host.http("POST", "/data/src/vectors/upsert", {"namespace": "a", "vectors": _vectors(["a0", "tail"], 3)})
    host.http("POST", "/data/src/vectors/delete", {"namespace": "b", "ids": ["b1"]})  # both still in the log tail
    expected = {ns: _all(host, "src", ns) for ns in ("a", "b")}

    status, _, backup = host.http("POST", "/indexes/src/backups", {"name": "nightly"})
    assert status == 201 and backup["status"] == "Pending"
    assert _play(host, sfn, "backup")["more"] is False
    status, _, backup = host.http("GET", f"/backups/{backup['backup_id']}")
    assert (backup["status"], backup["record_count"], backup["namespace_count"]) == ("Ready", 24, 2)

    # The source moves on and is compacted (garbage collected past its grace), then deleted.
    host.http("POST", "/data/src/vectors/upsert", {"namespace": "a", "vectors": _vectors(["late"], 4)})
    host.build()
    compacted = _run(host, "compaction", {"index": "src", "force": True})
    assert compacted["compacted"] == 2 and not compacted.get("failures")
    assert host.http("DELETE", "/indexes/src")[0] == 202

    status, _, started = host.http("POST", f"/backups/{backup['backup_id']}/create-index", {"name": "copy"})
    assert status == 202
    assert host.http("GET", "/indexes/copy")[2]["status"] == {"ready": False, "state": "Initializing"}
    status, _, refused = host.http("DELETE", f"/backups/{backup['backup_id']}")
    assert status == 412 and refused["error"]["message"] == (
        "Unable to delete backup. There are pending restore jobs for this backup: "
        f"['{started['restore_job_id']}']")
    _play(host, sfn, "restore")
    status, _, job = host.http("GET", f"/restore-jobs/{started['restore_job_id']}")
    assert (job["status"], job["percent_complete"], job["target_index_id"]) == ("Completed", 100.0,
                                                                                 started["index_id"])
    assert host.http("GET", "/indexes/copy")[2]["status"] == {"ready": True, "state": "Ready"}
    assert {ns: _all(host, "copy", ns) for ns in ("a", "b")} == expected
    status, headers, _ = host.http("POST", "/data/copy/vectors/upsert", {"namespace": "b", "vectors": _vectors(
        ["new"], 5)})
    assert status == 200 and headers["x-pinecone-request-lsn"] == "3"  # b had 2 writes when backed up
    assert host.http("DELETE", f"/backups/{backup['backup_id']}")[0] == 202
    assert host.http("GET", f"/backups/{backup['backup_id']}")[0] == 404


def test_a_failed_backup_is_recorded_and_its_copies_dropped(aws, moto_server):
    host, sfn = aws
    host.http("POST", "/indexes", {"name": "src", "dimension": 4, "spec": {
        "serverless": {"cloud": "aws", "region": "us-east-1"}}})
    host.http("POST", "/data/src/vectors/upsert", {"namespace": "a", "vectors": _vectors(["x"], 1)})
    status, _, backup = host.http("POST", "/indexes/src/backups", {})
    assert status == 201
    assert host.http("DELETE", "/indexes/src")[0] == 202  # the source goes before the workflow runs
    assert _play(host, sfn, "backup")["failed"].startswith("RuntimeError: index src was deleted")
    status, _, failed = host.http("GET", f"/backups/{backup['backup_id']}")
    assert failed["status"] == "Failed"
    s3 = moto_server.client("s3")
    bucket = host.m["workflow_task"].settings.bucket
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"slabs/{backup['backup_id']}/")["KeyCount"] == 0
    assert host.http("DELETE", f"/backups/{backup['backup_id']}")[0] == 202  # a failed backup can go
