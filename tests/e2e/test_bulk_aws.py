"""Bulk import and export on the AWS host, offline: the data-plane handler starts a Step Functions
execution (moto), and ``functions.workflow_task`` runs each step as the state machine's tasks call it
(CDK's definition is checked in ``tests/infra/test_bulk_workflows.py``), against DynamoDB and S3 on
the moto server (Parquet read and written through pyarrow's S3 client)."""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from spruce.aws.launcher import machine_env
from spruce.jobs import bulk, export, imports
from spruce.jobs.workflow import Workflow
from tests.e2e.aws_host import AwsHost, aws_host
from tests.jobs.parquet_data import dense_table

KEY = "bulk-key"
DIM = 8
ROLE = "arn:aws:iam::123456789012:role/spruce-workflows"


@pytest.fixture
def aws(moto_server, tmp_path, monkeypatch) -> Iterator[tuple[AwsHost, Any, Any]]:
    """The AWS host with the two bulk state machines registered in moto (their ARNs in the data
    plane's environment, as the stack sets them) and the workflow task handler."""
    sfn = moto_server.client("stepfunctions")
    for workflow in (bulk.IMPORT, bulk.EXPORT):
        arn = sfn.create_state_machine(name=f"{workflow}-{id(monkeypatch)}", roleArn=ROLE, definition=json.dumps(
            {"StartAt": "Noop", "States": {"Noop": {"Type": "Succeed"}}}))["stateMachineArn"]
        monkeypatch.setenv(machine_env(workflow), arn)
    with aws_host(moto_server, tmp_path, api_key=KEY) as host:
        sys.modules.pop("functions.workflow_task", None)
        try:
            yield host, importlib.import_module("functions.workflow_task"), sfn
        finally:
            sys.modules.pop("functions.workflow_task", None)


def _execution(sfn, workflow: str, index_id: str, job: str) -> dict:
    """The execution the data plane started for a job, and its input."""
    arn = os.environ[machine_env(workflow)]
    [execution] = [e for e in sfn.list_executions(stateMachineArn=arn)["executions"]
                   if e["name"] == bulk.execution_name(workflow, index_id, job)]
    return json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])


def _run_machine(task, workflow: Workflow, state: dict) -> dict:
    """What the state machine does: each step's task in order, a repeating one while ``more``;
    a failing step → the RecordFailure task with the error as Step Functions passes it."""
    try:
        for step in workflow.steps:
            state = task.handler({"workflow": workflow.name, "step": step.name, "state": state})
            while step.repeats and state.get("more"):
                state = task.handler({"workflow": workflow.name, "step": step.name, "state": state})
    except Exception as exc:  # Lambda reports it as {"Error": type, "Cause": JSON}
        cause = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": []})
        task.handler({"workflow": workflow.name, "state": state, "error": {"Error": type(exc).__name__,
                                                                           "Cause": cause}})
    return state


def _put_parquet(s3, bucket: str, key: str, table) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


def _create_index(host: AwsHost, name: str) -> str:
    status, _, body = host.http("POST", "/indexes", {"name": name, "dimension": DIM, "metric": "cosine",
                                                     "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}})
    assert status == 201, body
    return body


def test_import_from_s3_runs_through_the_task_handler(aws, moto_server):
    host, task, sfn = aws
    s3 = moto_server.client("s3")
    bucket = os.environ["SPRUCE_BUCKET"]
    _put_parquet(s3, bucket, "bulk/run1/books/a.parquet", dense_table(0, 2500, DIM))
    _put_parquet(s3, bucket, "bulk/run1/__default__/b.parquet", dense_table(2500, 500, DIM))
    _create_index(host, "docs")

    status, _, body = host.http("POST", "/data/docs/bulk/imports", {"uri": f"s3://{bucket}/bulk/run1",
                                                                    "errorMode": {"onError": "abort"}})
    assert status == 200 and body == {"id": "1"}
    status, _, pending = host.http("GET", "/data/docs/bulk/imports/1")
    assert pending["status"] == "Pending" and pending["recordsImported"] == 0
    index_id = host.m["control_plane"].app.state.engine.describe_index("docs").id
    started = _execution(sfn, bulk.IMPORT, index_id, "1")
    assert started == {"state": {"index": "docs", "indexId": index_id, "kind": f"import:{index_id}", "job": "1"}}

    _run_machine(task, imports.WORKFLOW, started["state"])
    status, _, done = host.http("GET", "/data/docs/bulk/imports/1")
    assert done["status"] == "Completed" and done["recordsImported"] == 3000 and done["percentComplete"] == 100.0
    status, headers, fetched = host.http("GET", "/data/docs/vectors/fetch", query="ids=id-7&namespace=books")
    assert fetched["vectors"]["id-7"]["metadata"] == {"n": 7, "even": False}
    assert int(headers["x-pinecone-max-indexed-lsn"]) == 1  # 2500 records: one chunk, one logged Ingest entry
    status, _, listed = host.http("GET", "/data/docs/bulk/imports")
    assert [d["id"] for d in listed["data"]] == ["1"]


def test_the_stream_builder_merges_the_slabs_an_import_committed(aws, moto_server, monkeypatch):
    """The task commits each chunk's slab itself, so the builder's flush finds nothing: it
    compacts all the same, and the import's slabs merge as a bulk upsert's would."""
    host, task, sfn = aws
    monkeypatch.setattr(imports, "CHUNK_ROWS", 500)
    bucket = os.environ["SPRUCE_BUCKET"]
    _put_parquet(moto_server.client("s3"), bucket, "bulk/chunks/ns/a.parquet", dense_table(0, 2500, DIM))
    _create_index(host, "docs")
    _, _, body = host.http("POST", "/data/docs/bulk/imports", {"uri": f"s3://{bucket}/bulk/chunks"})
    engine = host.m["control_plane"].app.state.engine
    index_id = engine.describe_index("docs").id
    _run_machine(task, imports.WORKFLOW, _execution(sfn, bulk.IMPORT, index_id, body["id"])["state"])
    assert len(engine._cache.manifest(index_id, "ns").slabs) == 5
    assert host.build() == {"batchItemFailures": []}
    (merged,) = engine._cache.manifest(index_id, "ns").slabs
    assert merged.rows == 2500
    status, _, stats = host.http("POST", "/data/docs/describe_index_stats", {})
    assert stats["namespaces"]["ns"]["vectorCount"] == 2500


def test_a_failing_step_is_recorded_by_the_failure_task(aws, moto_server):
    host, task, sfn = aws
    bucket = os.environ["SPRUCE_BUCKET"]
    _create_index(host, "docs")
    status, _, body = host.http("POST", "/data/docs/bulk/imports", {"uri": f"s3://{bucket}/bulk/nothing-here"})
    index_id = host.m["control_plane"].app.state.engine.describe_index("docs").id
    _run_machine(task, imports.WORKFLOW, _execution(sfn, bulk.IMPORT, index_id, body["id"])["state"])
    _, _, failed = host.http("GET", f"/data/docs/bulk/imports/{body['id']}")
    assert failed["status"] == "Failed" and failed["error"].startswith(
        f"User error: No Parquet files found under s3://{bucket}/bulk/nothing-here"), failed
    # AWS reads only S3: a local path is refused before a job exists.
    status, _, refused = host.http("POST", "/data/docs/bulk/imports", {"uri": "/tmp/data"})
    assert status == 400 and "use s3://BUCKET/DIR" in refused["message"]


def test_cancel_stops_the_next_load_and_a_repeated_start_runs_once(aws, moto_server, monkeypatch):
    host, task, sfn = aws
    monkeypatch.setattr(imports, "CHUNK_ROWS", 500)
    s3 = moto_server.client("s3")
    bucket = os.environ["SPRUCE_BUCKET"]
    _put_parquet(s3, bucket, "bulk/big/ns/a.parquet", dense_table(0, 3000, DIM))
    _create_index(host, "docs")
    _, _, body = host.http("POST", "/data/docs/bulk/imports", {"uri": f"s3://{bucket}/bulk/big"})
    index_id = host.m["control_plane"].app.state.engine.describe_index("docs").id
    state = _execution(sfn, bulk.IMPORT, index_id, body["id"])["state"]
    # A retried start (same execution name) finds the execution there and starts nothing.
    host.m["data_plane"].app.state.jobs.launcher.start(
        bulk.IMPORT, bulk.execution_name(bulk.IMPORT, index_id, body["id"]), state)
    state = task.handler({"workflow": bulk.IMPORT, "step": "plan", "state": state})
    state = task.handler({"workflow": bulk.IMPORT, "step": "load", "state": state})
    assert state["more"] is True
    status, _, _ = host.http("DELETE", f"/data/docs/bulk/imports/{body['id']}")
    assert status == 200
    state = task.handler({"workflow": bulk.IMPORT, "step": "load", "state": state})
    assert state["more"] is False
    task.handler({"workflow": bulk.IMPORT, "step": "finish", "state": state})
    _, _, cancelled = host.http("GET", f"/data/docs/bulk/imports/{body['id']}")
    assert cancelled["status"] == "Cancelled" and cancelled["recordsImported"] == 500
    arn = os.environ[machine_env(bulk.IMPORT)]
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1


def test_export_to_s3_then_import_into_another_index_is_identical(aws, moto_server):
    host, task, sfn = aws
    bucket = os.environ["SPRUCE_BUCKET"]
    _create_index(host, "src")
    _create_index(host, "dst")
    table = dense_table(0, 1200, DIM)
    vectors = [{"id": table["id"][i].as_py(), "values": table["values"][i].as_py(),
                "metadata": json.loads(table["metadata"][i].as_py())} for i in range(table.num_rows)]
    for start in range(0, len(vectors), 400):
        batch = vectors[start:start + 400]
        status, _, _ = host.http("POST", "/data/src/vectors/upsert", {"namespace": "ns", "vectors": batch})
        assert status == 200
    host.build()  # part of it from slabs on S3, through the builder
    engine = host.m["control_plane"].app.state.engine
    src_id, dst_id = engine.describe_index("src").id, engine.describe_index("dst").id

    _, _, started = host.http("POST", "/data/src/bulk/exports", {"namespace": "ns", "uri": f"s3://{bucket}/bulk/out"})
    _run_machine(task, export.WORKFLOW, _execution(sfn, bulk.EXPORT, src_id, started["id"])["state"])
    _, _, exported = host.http("GET", f"/data/src/bulk/exports/{started['id']}")
    assert exported["status"] == "Completed" and exported["recordsExported"] == 1200, exported
    keys = [o["Key"] for o in moto_server.client("s3").list_objects_v2(Bucket=bucket, Prefix="bulk/out/")["Contents"]]
    assert keys == ["bulk/out/ns/part-00000.parquet"]

    _, _, job = host.http("POST", "/data/dst/bulk/imports", {"uri": f"s3://{bucket}/bulk/out"})
    _run_machine(task, imports.WORKFLOW, _execution(sfn, bulk.IMPORT, dst_id, job["id"])["state"])
    _, _, imported = host.http("GET", f"/data/dst/bulk/imports/{job['id']}")
    assert imported["status"] == "Completed" and imported["recordsImported"] == 1200
    ids = [v["id"] for v in vectors]
    left = engine_fetch(host, "src", ids)
    right = engine_fetch(host, "dst", ids)
    assert left.keys() == right.keys() and len(left) == 1200
    for key, record in left.items():
        np.testing.assert_array_equal(record["values"], right[key]["values"])
        assert record["metadata"] == right[key]["metadata"]


def engine_fetch(host: AwsHost, index: str, ids: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for start in range(0, len(ids), 500):
        query = "&".join(f"ids={i}" for i in ids[start:start + 500]) + "&namespace=ns"
        status, _, body = host.http("GET", f"/data/{index}/vectors/fetch", query=query)
        assert status == 200, body
        out.update(body["vectors"])
    return out
