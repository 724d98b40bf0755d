"""The bulk export workflow (a Spruce extension): one namespace → Parquet in the import layout.

plan → write (one page of ``CHUNK_RECORDS`` ids per call, in id order) → finish. Each page becomes
``URI/<namespace>/part-NNNNN.parquet`` with the columns an import reads (``id``; ``values`` on dense
indexes; ``sparse_values`` on sparse indexes and dense dotproduct ones; ``metadata`` as JSON text),
so importing the directory into another index recreates the namespace. A page is named by its
number, so a retried call rewrites the same file. Each page reflects the namespace when it is read:
writes that land during an export may or may not be in it (stop writing for an exact copy).
"""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from spruce.engine.model import IndexConfig
from spruce.engine.records import Record
from spruce.errors import NotFoundError
from spruce.jobs import bulk
from spruce.jobs.bulk import IN_PROGRESS
from spruce.jobs.sources import has_files, locate
from spruce.jobs.workflow import JobFailed, JobHost, State, Step, Workflow, live_index, register

CHUNK_RECORDS = 10_000
SPARSE_TYPE = pa.struct([("indices", pa.list_(pa.uint32())), ("values", pa.list_(pa.float32()))])


def _config(host: JobHost, state: State) -> IndexConfig:
    return live_index(host, state["index"], state["indexId"],
                      JobFailed(f"Index {state['index']} was deleted while the export ran."))


def plan(host: JobHost, state: State) -> State:
    found = bulk.load(host.jobs, state["kind"], state["job"])
    assert found is not None, state
    doc = found[1]
    if doc["status"] != bulk.PENDING:
        return state
    cfg = _config(host, state)
    namespace = doc["namespace"]
    try:
        total = host.engine.describe_namespace(cfg.name, namespace).record_count
    except NotFoundError:
        raise JobFailed(f"Namespace {namespace} not found in index {cfg.name}.") from None
    location = locate(doc["uri"], local_files=host.local_files)
    if has_files(location, namespace):
        raise JobFailed(f"{doc['uri'].rstrip('/')}/{namespace}/ already holds files; export into an empty "
                        "directory so that importing it back reads only this export.")

    def planned(doc: bulk.Doc) -> bulk.Doc | None:
        if doc["status"] != bulk.PENDING:
            return None
        return {**doc, "status": IN_PROGRESS, "totalRecords": total, "token": None, "part": 0, "done": False}
    bulk.mutate(host.jobs, state["kind"], state["job"], planned)
    return state


def write(host: JobHost, state: State) -> State:
    found = bulk.load(host.jobs, state["kind"], state["job"])
    assert found is not None, state
    doc = found[1]
    if doc["status"] != IN_PROGRESS or doc["done"] or host.stopping.is_set():
        return {**state, "more": False}
    cfg = _config(host, state)
    namespace = doc["namespace"]
    ids, token = host.engine.list_ids(cfg.name, namespace, prefix=None, limit=CHUNK_RECORDS,
                                      token=doc["token"]).value
    records = host.engine.fetch(cfg.name, namespace, ids).value
    rows = [records[i] for i in ids if i in records]
    if rows:
        location = locate(doc["uri"], local_files=host.local_files)
        folder = location.path(namespace)
        if isinstance(location.fs, pafs.LocalFileSystem):
            location.fs.create_dir(folder, recursive=True)
        pq.write_table(to_table(rows, cfg), f"{folder}/part-{doc['part']:05d}.parquet", filesystem=location.fs)

    def progressed(now: bulk.Doc) -> bulk.Doc | None:
        if now["status"] != IN_PROGRESS or now["part"] != doc["part"]:
            return None
        exported = now["recordsExported"] + len(rows)
        total = now["totalRecords"]
        return {**now, "token": token, "part": now["part"] + (1 if rows else 0), "done": token is None,
                "recordsExported": exported, "percentComplete": min(99.9, 100.0 * exported / total) if total else 0.0}
    after = bulk.mutate(host.jobs, state["kind"], state["job"], progressed)
    return {**state, "more": after["status"] == IN_PROGRESS and not after["done"] and not host.stopping.is_set()}


def to_table(records: list[Record], cfg: IndexConfig) -> pa.Table:
    """Records as an import file (DP-IMP-5 columns)."""
    columns: dict[str, pa.Array] = {"id": pa.array([r.id for r in records], pa.string())}
    if cfg.vector_type != "sparse":
        matrix = np.stack([r.values for r in records]).astype(np.float32, copy=False)
        columns["values"] = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), cfg.dimension).cast(
            pa.list_(pa.float32()))
    if cfg.vector_type == "sparse" or cfg.metric == "dotproduct":
        columns["sparse_values"] = pa.array(
            [None if r.sparse is None else {"indices": r.sparse.indices, "values": r.sparse.values} for r in records],
            SPARSE_TYPE)
    columns["metadata"] = pa.array(
        [None if r.metadata is None else orjson.dumps(r.metadata).decode() for r in records], pa.string())
    return pa.table(columns)


def finish(host: JobHost, state: State) -> State:
    def completed(doc: bulk.Doc) -> bulk.Doc | None:
        if doc["status"] != IN_PROGRESS or not doc["done"]:
            return None
        return {**doc, "status": bulk.COMPLETED, "percentComplete": 100.0, "finishedAt": bulk.now()}
    bulk.mutate(host.jobs, state["kind"], state["job"], completed)
    return {key: value for key, value in state.items() if key != "more"}


def on_failure(host: JobHost, state: State, error: str) -> None:
    bulk.fail_job(host.jobs, state["kind"], state["job"], error)


WORKFLOW = register(Workflow(bulk.EXPORT, (Step("plan", plan), Step("write", write, repeats=True),
                                           Step("finish", finish)), on_failure=on_failure))
