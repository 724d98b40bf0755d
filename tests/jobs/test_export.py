"""Bulk export (a Spruce extension) on the embedded host: a namespace → Parquet in the import
layout, and export → import round-trips every record exactly."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from spruce.engine.records import Record, SparseVector
from spruce.jobs import bulk, export
from spruce.jobs.bulk import execution_name
from tests.engine.conftest import make_index


def _wait(host, workflow: str, index: str, job: str) -> None:
    host.launcher.wait(execution_name(workflow, host.engine.describe_index(index).id, job), timeout=120)


def run_export(host, index: str, body: dict) -> dict:
    job = bulk.start_export(host, index, body)
    _wait(host, bulk.EXPORT, index, job)
    return bulk.describe_export(host, index, job)


def run_import(host, index: str, body: dict) -> dict:
    job = bulk.start_import(host, index, body)
    _wait(host, bulk.IMPORT, index, job)
    return bulk.describe_import(host, index, job)


def _records(n: int, dim: int | None, *, sparse: bool, seed: int = 7) -> list[Record]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        sv = None
        if sparse and (dim is None or i % 3):  # hybrid: some records without sparse values
            idx = np.unique(rng.integers(0, 30_000, 5)).astype(np.uint32)
            sv = SparseVector(idx, rng.random(idx.size, dtype=np.float32))
        md = None if i % 4 == 0 else {"n": float(i), "tag": f"t{i % 7}", "tags": ["a", f"b{i % 3}"], "ok": i % 2 == 0}
        values = None if dim is None else rng.standard_normal(dim, dtype=np.float32)
        out.append(Record(f"rec-{i:05d}", values, sv, md))
    return out


def _same(a: dict[str, Record], b: dict[str, Record]) -> None:
    assert sorted(a) == sorted(b)
    for key, left in a.items():
        right = b[key]
        if left.values is None:
            assert right.values is None
        else:
            np.testing.assert_array_equal(left.values, right.values)
        assert (left.sparse is None) == (right.sparse is None), key
        if left.sparse is not None:
            assert left.sparse.indices.tolist() == right.sparse.indices.tolist()
            np.testing.assert_array_equal(left.sparse.values, right.sparse.values)
        assert left.metadata == right.metadata, key


@pytest.mark.parametrize(("dimension", "metric", "sparse"), [(16, "dotproduct", True), (None, "dotproduct", True),
                                                            (12, "cosine", False)])
def test_export_then_import_recreates_the_namespace_exactly(host, tmp_path, monkeypatch, dimension, metric, sparse):
    monkeypatch.setattr(export, "CHUNK_RECORDS", 1000)  # several part files
    engine = host.engine
    make_index(engine, dimension=dimension, metric=metric, name="src")
    make_index(engine, dimension=dimension, metric=metric, name="dst")
    records = _records(2500, dimension, sparse=sparse)
    for start in range(0, len(records), 500):
        engine.upsert("src", "books", records[start:start + 500])
    engine.flush("src", "books")  # half from slabs, half from the log tail
    engine.upsert("src", "books", _records(10, dimension, sparse=sparse, seed=99))  # overwrite a few
    engine.delete("src", "books", ids=["rec-00001", "rec-00002"])
    source = engine.fetch("src", "books", [r.id for r in records]).value
    assert len(source) == 2498

    out = tmp_path / "export"
    job = run_export(host, "src", {"namespace": "books", "uri": f"file://{out}"})
    assert job["status"] == "Completed" and job["recordsExported"] == 2498 and job["percentComplete"] == 100.0, job
    assert sorted(p.name for p in (out / "books").iterdir()) == ["part-00000.parquet", "part-00001.parquet",
                                                                "part-00002.parquet"]
    columns = pq.read_schema(out / "books" / "part-00000.parquet").names
    assert columns == (["id"] + (["values"] if dimension else []) + (["sparse_values"] if metric == "dotproduct"
                                                                     else []) + ["metadata"])

    imported = run_import(host, "dst", {"uri": str(out)})
    assert imported["status"] == "Completed" and imported["recordsImported"] == 2498, imported
    _same(source, engine.fetch("dst", "books", [r.id for r in records]).value)


def test_default_namespace_exports_to_the_default_folder(host, tmp_path):
    engine = host.engine
    make_index(engine, dimension=4, name="src")
    engine.upsert("src", "__default__", _records(5, 4, sparse=False))
    job = run_export(host, "src", {"uri": str(tmp_path / "out")})
    assert job["namespace"] == "__default__" and job["recordsExported"] == 5
    assert (tmp_path / "out" / "__default__" / "part-00000.parquet").exists()


def test_export_refuses_a_directory_that_already_holds_files_and_a_missing_namespace(host, tmp_path):
    engine = host.engine
    make_index(engine, dimension=4, name="src")
    engine.upsert("src", "ns", _records(3, 4, sparse=False))
    (tmp_path / "out" / "ns").mkdir(parents=True)
    (tmp_path / "out" / "ns" / "old.parquet").write_bytes(b"x")
    job = run_export(host, "src", {"namespace": "ns", "uri": str(tmp_path / "out")})
    assert job["status"] == "Failed" and "already holds files" in job["error"], job
    job = run_export(host, "src", {"namespace": "nope", "uri": str(tmp_path / "out2")})
    assert job["status"] == "Failed" and job["error"] == "User error: Namespace nope not found in index src."
    assert [d["id"] for d in bulk.list_exports(host, "src", limit=None, token=None)["data"]] == ["1", "2"]
