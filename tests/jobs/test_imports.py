"""Bulk import end to end on the embedded host (BEHAVIOR §4.15, DP-IMP-n): Parquet in Pinecone's
layout → the import workflow on the in-process runner → records in the index, with LSNs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spruce.engine.metadata import validate_metadata
from spruce.engine.model import IndexConfig
from spruce.errors import InvalidArgumentError, NotFoundError
from spruce.jobs import bulk, imports
from spruce.jobs.bulk import execution_name, kind_of
from tests.engine.conftest import make_index
from tests.jobs.conftest import embedded_jobs
from tests.jobs.parquet_data import SPARSE_TYPE, dense_table, write

DIM = 8


@pytest.fixture
def engine(host):
    return host.engine


def run_import(host, index: str, body: dict, *, timeout: float = 120) -> dict:
    """Start an import, wait for its workflow to end, and describe it."""
    job = bulk.start_import(host, index, body)
    cfg = host.engine.describe_index(index)
    host.launcher.wait(execution_name(bulk.IMPORT, cfg.id, job), timeout=timeout)
    return bulk.describe_import(host, index, job)


def test_100k_records_from_parquet_in_several_namespaces_files_and_row_groups(host, engine, tmp_path):
    """DP-IMP-3/5/7/8/9: every row lands with its values and metadata; each chunk is a logged
    write with its own LSN (freshness headers stay truthful)."""
    make_index(engine, dimension=DIM, name="docs")
    root = tmp_path / "import"
    write(root, "alpha", "part-0.parquet", dense_table(0, 30_000, DIM), row_group_size=12_000)
    write(root, "alpha", "part-1.parquet", dense_table(30_000, 30_000, DIM))
    write(root, "__default__", "only.parquet", dense_table(60_000, 40_000, DIM), row_group_size=25_000)
    (root / "alpha" / "README.txt").write_text("not parquet: ignored")
    job = run_import(host, "docs", {"uri": f"file://{root}"})  # waits at most 120 s
    assert job["status"] == "Completed", job
    assert job["recordsImported"] == 100_000 and job["percentComplete"] == 100.0
    assert job["id"] == "1" and job["uri"] == f"file://{root}" and "finishedAt" in job and "error" not in job
    assert engine.stats("docs").value == {"alpha": 60_000, "__default__": 40_000}
    expected = dense_table(0, 30_000, DIM)
    got = engine.fetch("docs", "alpha", ["id-0", "id-29999"]).value
    np.testing.assert_array_equal(got["id-0"].values, np.asarray(expected["values"][0].as_py(), np.float32))
    assert got["id-29999"].metadata == {"n": 29999.0, "even": False}
    assert engine.fetch("docs", "__default__", ["id-60000"]).value["id-60000"].metadata["n"] == 60000
    # One Ingest entry per chunk of at most CHUNK_ROWS rows: one per file here.
    assert engine.query("docs", "alpha", _query(expected)).max_lsn == 2
    assert engine.query("docs", "__default__", _query(expected)).max_lsn == 1


def test_an_imports_chunks_merge_and_settle_as_flushed_slabs_do(host, engine, tmp_path, monkeypatch):
    """Each chunk commits a slab of its own; once they stop coming the namespace settles and the
    compactor merges them into one slab (every slab is one more search per query)."""
    monkeypatch.setattr(imports, "CHUNK_ROWS", 500)
    cfg = make_index(engine, dimension=DIM, name="docs")
    write(tmp_path / "import", "ns", "a.parquet", dense_table(0, 3000, DIM))
    assert run_import(host, "docs", {"uri": str(tmp_path / "import")})["status"] == "Completed"
    assert engine.query("docs", "ns", _query(dense_table(0, 1, DIM))).max_lsn == 6  # six chunks, six slabs
    deadline = time.monotonic() + 60
    while len(slabs := engine._cache.manifest(cfg.id, "ns").slabs) > 1:
        assert time.monotonic() < deadline, slabs
        time.sleep(0.05)
    assert slabs[0].rows == 3000 and engine.stats("docs").value == {"ns": 3000}


def _query(table: pa.Table):
    from spruce.engine.model import QuerySpec

    return QuerySpec(top_k=1, vector=np.asarray(table["values"][0].as_py(), np.float32))


def _bad_rows_file(root: Path) -> tuple[list[str], list[str]]:
    """A file mixing good rows with every kind of bad one; returns (good ids, bad ids)."""
    rows = [
        ("good-0", [0.1] * DIM, '{"k": "a"}'),
        ("short", [0.1] * (DIM - 1), None),  # wrong dimension
        ("good-1", [0.2] * DIM, None),
        ("nan", [float("nan")] * DIM, None),  # not finite
        ("badjson", [0.3] * DIM, "{not json"),
        ("nested", [0.4] * DIM, '{"a": {"b": 1}}'),  # nested metadata (MD-1)
        (None, [0.5] * DIM, None),  # no id
        ("novalues", None, None),
        ("", [0.5] * DIM, None),  # ids Pinecone refuses: empty, too long, not ASCII, holding NUL
        ("x" * 513, [0.5] * DIM, None),
        ("café", [0.5] * DIM, None),
        ("a\0b", [0.5] * DIM, None),
        ("good-2", [0.6] * DIM, '{"k": "c", "n": 3}'),
    ]
    table = pa.table({"id": pa.array([r[0] for r in rows], pa.string()),
                      "values": pa.array([r[1] for r in rows], pa.list_(pa.float32())),
                      "metadata": pa.array([r[2] for r in rows], pa.string())})
    write(root, "ns", "mixed.parquet", table)
    return ["good-0", "good-1", "good-2"], ["short", "nan", "badjson", "nested", "novalues", "x" * 513, "café"]


def test_each_bad_row_gets_the_message_an_upsert_would():
    """Ids are checked in bulk, then one by one only where the bulk check failed: same messages."""
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        _bad_rows_file(Path(root))
        table = pq.read_table(Path(root) / "ns" / "mixed.parquet")
    cfg = DOCS
    chunk = imports.parse_chunk(table, cfg)
    assert _ids(chunk) == ["good-0", "good-1", "good-2"]
    assert _metadata(chunk)[2] == {"k": "c", "n": 3.0}
    problems = dict(chunk.problems)
    assert problems[6] == "`id` is required."
    for row in (8, 9, 10, 11):
        assert problems[row].startswith("`id` must be 1 to 512 ASCII characters without NUL"), problems[row]
    assert sorted(problems) == [1, 3, 4, 5, 6, 7, 8, 9, 10, 11]


def _chunk_table(ids: list, metadata: list) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.string()),
                     "values": pa.array([[float(i + 1)] * DIM for i in range(len(ids))], pa.list_(pa.float32())),
                     "metadata": pa.array(metadata, pa.string())})


def _ids(chunk: imports.Chunk) -> list[str]:
    return chunk.records.ids.to_pylist()


def _metadata(chunk: imports.Chunk) -> list[dict | None]:
    return [None if text is None else orjson.loads(text) for text in chunk.records.metadata.to_pylist()]


DOCS = IndexConfig(name="docs", id="docs", dimension=DIM, metric="cosine", vector_type="dense", cloud="aws",
                   region="us-east-1")


@pytest.mark.parametrize("metadata", [
    ['{"n": 1, "s": "x"}', None, '{"f": -0.0, "t": true, "l": ["a"]}', "null", "{}"],
    [None] * 5,
    ['{"c": 1}', "{}", '{"c": 1}', "{}", '{"c": 2}'],  # repeated texts (parsed once)
    ['{"c": 1, "s": "a"}', '{"c": "one"}', '{"c": 1, "s": "a"}', '{"l": []}', '{"c": true}'],  # a key of 3 kinds
])
def test_a_chunk_of_good_rows_gives_the_columns_row_by_row_would(metadata):
    """The columnar path (``_good_rows``) gives the ids, vectors, stored metadata and typed
    metadata columns the row-by-row path gives: ints become floats, -0.0 becomes 0.0, ``null``
    and a missing value mean none."""
    table = _chunk_table([f"r{i}" for i in range(5)], metadata)
    fast = imports.parse_chunk(table, DOCS)
    slow = imports._row_by_row(5, table.column("id").to_pylist(), np.ones(5, bool), fast.records.vectors,
                               [None] * 5, table.column("metadata").to_pylist(), {}, DOCS)
    assert fast.problems == slow.problems == [] and fast.rows == 5
    for name in ("ids", "sparse_indices", "sparse_values", "metadata", "layout"):
        assert getattr(fast.records, name) == getattr(slow.records, name), name
    assert fast.records.typed.keys() == slow.records.typed.keys()
    assert all(fast.records.typed[c].equals(slow.records.typed[c]) for c in fast.records.typed)
    assert fast.records.vectors[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    if metadata[0] == '{"n": 1, "s": "x"}':
        assert _metadata(fast) == [{"n": 1.0, "s": "x"}, None, {"f": 0.0, "t": True, "l": ["a"]}, None, {}]
        assert fast.records.metadata[0].as_py() == '{"n":1.0,"s":"x"}'


def test_rows_with_the_same_metadata_text_have_it_parsed_once(monkeypatch):
    parsed = []
    monkeypatch.setattr(imports, "validate_metadata", lambda md: parsed.append(md) or validate_metadata(md))
    table = _chunk_table([f"r{i}" for i in range(4)], ['{"c": 1}', '{"c": 2}', '{"c": 1}', '{"c": 1}'])
    chunk = imports.parse_chunk(table, DOCS)
    assert _metadata(chunk) == [{"c": 1.0}, {"c": 2.0}, {"c": 1.0}, {"c": 1.0}]
    assert parsed == [{"c": 1}, {"c": 2}]
    assert chunk.records.typed["m0_f"].to_pylist() == [1.0, 2.0, 1.0, 1.0]


def test_a_repeated_id_or_a_bad_metadata_value_in_a_good_chunk_goes_row_by_row():
    """A repeated id keeps its last row (in that row's place), and bad metadata is the bad row's
    problem with the upsert's message, as if the one-pass path did not exist."""
    repeated = imports.parse_chunk(_chunk_table(["a", "b", "a"], ['{"v": 1}', '{"v": 2}', '{"v": 3}']), DOCS)
    assert list(zip(_ids(repeated), _metadata(repeated))) == [("b", {"v": 2.0}), ("a", {"v": 3.0})]
    assert repeated.records.vectors[:, 0].tolist() == [2.0, 3.0]
    bad = imports.parse_chunk(_chunk_table(["a", "b", "c"], ['{"v": 1}', '{"v": null}', "{nope"]), DOCS)
    assert _ids(bad) == ["a"]
    assert bad.problems == [(1, "Metadata field 'v' is null; null values are not supported, remove the field instead."),
                            (2, "`metadata` is not valid JSON.")]


def test_continue_skips_bad_rows_and_counts_only_good_ones(host, engine, tmp_path):
    """DP-IMP-6: continue skips bad records; recordsImported says how many succeeded."""
    make_index(engine, dimension=DIM, name="docs")
    good, bad = _bad_rows_file(tmp_path / "import")
    job = run_import(host, "docs", {"uri": str(tmp_path / "import"), "errorMode": {"onError": "CONTINUE"}})
    assert job["status"] == "Completed" and job["recordsImported"] == 3, job
    assert sorted(engine.fetch("docs", "ns", good + bad).value) == good


def test_abort_fails_on_the_first_bad_row_naming_it(host, engine, tmp_path):
    """DP-IMP-6: abort stops on the first bad record; the job says which and why."""
    make_index(engine, dimension=DIM, name="docs")
    root = tmp_path / "import"
    write(root, "a-first", "ok.parquet", dense_table(0, 500, DIM))
    _bad_rows_file(root)
    job = run_import(host, "docs", {"uri": str(root), "errorMode": {"onError": "abort"}})
    assert job["status"] == "Failed", job
    assert job["error"].startswith("User error: ") and "mixed.parquet row 1: Vector dimension 7 does not match" in \
        job["error"], job["error"]
    assert job["recordsImported"] == 500 and job["percentComplete"] < 100 and "finishedAt" in job
    # The chunk holding the bad row is not written; the file before it is.
    assert engine.stats("docs").value == {"a-first": 500}


def test_cancel_stops_the_import_between_chunks(host, engine, tmp_path, monkeypatch):
    """DP-IMP-10: cancel really stops work; records already written stay."""
    monkeypatch.setattr(imports, "CHUNK_ROWS", 500)
    make_index(engine, dimension=DIM, name="docs")
    root = tmp_path / "import"
    write(root, "ns", "big.parquet", dense_table(0, 100_000, DIM))
    job = bulk.start_import(host, "docs", {"uri": str(root)})
    deadline = time.monotonic() + 60
    while bulk.describe_import(host, "docs", job)["recordsImported"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    bulk.cancel_import(host, "docs", job)
    host.launcher.wait(execution_name(bulk.IMPORT, engine.describe_index("docs").id, job), timeout=60)
    described = bulk.describe_import(host, "docs", job)
    assert described["status"] == "Cancelled" and "finishedAt" in described
    written = engine.stats("docs").value["ns"]
    assert 0 < written < 100_000
    # At most the chunk in flight when the cancel landed is written beyond what was recorded.
    assert described["recordsImported"] <= written <= described["recordsImported"] + 500
    time.sleep(0.3)
    assert engine.stats("docs").value["ns"] == written  # nothing more arrives
    bulk.cancel_import(host, "docs", job)  # cancelling a finished import changes nothing
    assert bulk.describe_import(host, "docs", job)["status"] == "Cancelled"


def test_an_existing_namespace_fails_the_job_with_pinecones_message(host, engine, tmp_path):
    """DP-IMP-4: target namespaces must not exist; the default namespace must be empty."""
    from spruce.engine.records import Record

    make_index(engine, dimension=DIM, name="docs")
    engine.upsert("docs", "taken", [Record("x", np.ones(DIM, np.float32))])
    root = tmp_path / "import"
    write(root, "taken", "a.parquet", dense_table(0, 10, DIM))
    job = run_import(host, "docs", {"uri": str(root)})
    assert job["status"] == "Failed" and job["recordsImported"] == 0
    assert job["error"] == ('User error: The namespace "taken" already exists. Imports are only allowed into '
                            'nonexistent namespaces.')
    engine.upsert("docs", "__default__", [Record("x", np.ones(DIM, np.float32))])
    default_root = tmp_path / "import-default"
    write(default_root, "__default__", "a.parquet", dense_table(0, 10, DIM))
    job = run_import(host, "docs", {"uri": str(default_root)})
    assert job["status"] == "Failed" and "default namespace is not empty" in job["error"]


@pytest.mark.parametrize(("files", "message"), [
    ({}, "No Parquet files found under"),
    ({"ns/a.parquet": pa.table({"id": ["a"], "values": [[0.0] * DIM], "extra": [1]})},
     "has column(s) extra; allowed columns are id, values, sparse_values and metadata"),
    ({"ns/a.parquet": pa.table({"id": ["a"]})}, "needs a `values` column"),
    ({"ns/a.parquet": pa.table({"id": [1], "values": [[0.0] * DIM]})}, "needs an `id` column of strings"),
    ({"ns/a.parquet": pa.table({"id": ["a"], "values": [[0.0] * DIM],
                                "sparse_values": pa.array([None], SPARSE_TYPE)})},
     "sparse values need a sparse index or a dense index with the dotproduct metric"),
])
def test_wrong_files_fail_the_job_saying_what_to_fix(host, engine, tmp_path, files, message):
    """DP-IMP-3/5: the layout and the columns are checked before anything is written."""
    import pyarrow.parquet as pq

    make_index(engine, dimension=DIM, name="docs")
    root = tmp_path / "import"
    root.mkdir()
    for rel, table in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / rel)
    job = run_import(host, "docs", {"uri": str(root)})
    assert job["status"] == "Failed" and job["error"].startswith("User error: ") and message in job["error"], job
    assert engine.stats("docs").value == {}


def test_requests_are_checked_before_a_job_exists(host, engine):
    """DP-IMP-2/6 (400s), unknown index or job (404)."""
    make_index(engine, dimension=DIM, name="docs")
    for body, message in [({}, "`uri` is required"), ({"uri": "gs://bucket/dir"}, "is not supported here"),
                          ({"uri": "x" * 1501}, "1 to 1500 characters"),
                          ({"uri": "s3://b/d", "errorMode": {"onError": "skip"}}, "`abort` or `continue`"),
                          ({"uri": "s3://b/d", "integrationId": "i" * 1001}, "`integrationId`")]:
        with pytest.raises(InvalidArgumentError, match=message):
            bulk.start_import(host, "docs", body)
    with pytest.raises(NotFoundError):
        bulk.start_import(host, "nope", {"uri": "s3://b/d"})
    with pytest.raises(NotFoundError, match="Import 42 not found in index docs"):
        bulk.describe_import(host, "docs", "42")
    with pytest.raises(NotFoundError):
        bulk.cancel_import(host, "docs", "42")
    assert bulk.list_imports(host, "docs", limit=None, token=None) == {"data": []}


def test_list_pages_in_id_order(host, engine, tmp_path):
    """DP-IMP-10: limit 1-100, pagination.next until the last page."""
    make_index(engine, dimension=DIM, name="docs")
    for i in range(12):
        write(tmp_path / f"i{i}", f"ns{i}", "a.parquet", dense_table(0, 3, DIM))
        run_import(host, "docs", {"uri": str(tmp_path / f"i{i}")})
    first = bulk.list_imports(host, "docs", limit="5", token=None)
    assert [d["id"] for d in first["data"]] == ["1", "2", "3", "4", "5"]
    second = bulk.list_imports(host, "docs", limit="5", token=first["pagination"]["next"])
    third = bulk.list_imports(host, "docs", limit="5", token=second["pagination"]["next"])
    assert [d["id"] for d in second["data"] + third["data"]] == [str(i) for i in range(6, 13)]
    assert "pagination" not in third and all(d["status"] == "Completed" for d in third["data"])
    with pytest.raises(InvalidArgumentError):
        bulk.list_imports(host, "docs", limit="101", token=None)


def test_an_interrupted_import_resumes_after_a_restart_without_counting_twice(tmp_path, monkeypatch):
    """Jobs survive a restart of the embedded server: progress is in the job document, and the
    host's start (``bulk.resume``) launches what was left InProgress."""
    monkeypatch.setattr(imports, "CHUNK_ROWS", 1000)
    root = tmp_path / "import"
    write(root, "ns", "a.parquet", dense_table(0, 60_000, DIM))
    with embedded_jobs(tmp_path / "data") as host:
        make_index(host.engine, dimension=DIM, name="docs")
        job = bulk.start_import(host, "docs", {"uri": str(root)})
        while bulk.describe_import(host, "docs", job)["recordsImported"] < 3000:
            time.sleep(0.005)
    # The shutdown stopped it between chunks, part done; the next start resumes it.
    stopped = _stored(tmp_path / "data", "docs", job)
    assert stopped["status"] == "InProgress" and 0 < stopped["recordsImported"] < 60_000
    with embedded_jobs(tmp_path / "data") as host:
        cfg = host.engine.describe_index("docs")
        host.launcher.wait(execution_name(bulk.IMPORT, cfg.id, job), timeout=60)
        done = bulk.describe_import(host, "docs", job)
        assert done["status"] == "Completed" and done["recordsImported"] == 60_000, done
        assert host.engine.stats("docs").value == {"ns": 60_000}
        doc = json.loads(host.jobs.load_job(kind_of("import", cfg.id), job)[1])
        assert doc["rowsRead"] == 60_000


def _stored(data_dir: Path, index: str, job: str) -> dict:
    """A job's document read straight from the SQLite file (no host running)."""
    from spruce.engine.local import open_local

    engine = open_local(data_dir, start=False)
    try:
        return bulk.import_model(bulk.load(engine.job_store, kind_of("import", engine.describe_index(index).id),
                                           job)[1])
    finally:
        engine.close()


def test_sparse_and_hybrid_rows(host, engine, tmp_path):
    """DP-IMP-5: sparse_values as STRUCT<indices, values>; NULL allowed on hybrid (dense dotproduct)."""
    make_index(engine, dimension=None, metric="dotproduct", name="sparse")
    make_index(engine, dimension=DIM, metric="dotproduct", name="hybrid")
    sparse = pa.table({"id": ["s1", "s2", "dup"],
                       "sparse_values": pa.array([{"indices": [1, 5], "values": [0.5, 0.25]},
                                                  {"indices": [7], "values": [1.0]},
                                                  {"indices": [3, 3], "values": [1.0, 2.0]}], SPARSE_TYPE)})
    write(tmp_path / "s", "ns", "a.parquet", sparse)
    job = run_import(host, "sparse", {"uri": str(tmp_path / "s")})
    assert job["status"] == "Completed" and job["recordsImported"] == 2  # duplicate indices: skipped
    got = engine.fetch("sparse", "ns", ["s1"]).value["s1"].sparse
    assert got.indices.tolist() == [1, 5] and got.values.tolist() == [0.5, 0.25]
    hybrid = pa.table({"id": ["h1", "h2"], "values": [[0.5] * DIM, [0.25] * DIM],
                       "sparse_values": pa.array([{"indices": [2], "values": [3.0]}, None], SPARSE_TYPE)})
    write(tmp_path / "h", "ns", "a.parquet", hybrid)
    assert run_import(host, "hybrid", {"uri": str(tmp_path / "h")})["recordsImported"] == 2
    got = engine.fetch("hybrid", "ns", ["h1", "h2"]).value
    assert got["h1"].sparse.indices.tolist() == [2] and got["h2"].sparse is None


def test_deleting_the_index_fails_a_running_import(host, engine, tmp_path, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 200)
    cfg = make_index(engine, dimension=DIM, name="docs")
    write(tmp_path / "import", "ns", "a.parquet", dense_table(0, 50_000, DIM))
    job = bulk.start_import(host, "docs", {"uri": str(tmp_path / "import")})
    while bulk.describe_import(host, "docs", job)["recordsImported"] == 0:
        time.sleep(0.005)
    engine.delete_index("docs")
    host.launcher.wait(execution_name(bulk.IMPORT, cfg.id, job), timeout=60)
    doc = bulk.load(host.jobs, kind_of("import", cfg.id), job)[1]
    assert doc["status"] == "Failed" and doc["error"] == "User error: Index docs was deleted while the import ran."


def test_a_second_import_into_a_namespace_still_loading_fails(host, engine, tmp_path, monkeypatch):
    """DP-IMP-4 also while the first import has not written its first batch yet."""
    monkeypatch.setattr(imports, "CHUNK_ROWS", 200)
    make_index(engine, dimension=DIM, name="docs")
    write(tmp_path / "one", "ns", "a.parquet", dense_table(0, 40_000, DIM))
    write(tmp_path / "two", "ns", "a.parquet", dense_table(0, 10, DIM))
    first = bulk.start_import(host, "docs", {"uri": str(tmp_path / "one")})
    while bulk.describe_import(host, "docs", first)["status"] != "InProgress":
        time.sleep(0.005)
    second = run_import(host, "docs", {"uri": str(tmp_path / "two")})
    assert second["status"] == "Failed" and 'namespace "ns"' in second["error"], second
    bulk.cancel_import(host, "docs", first)


def test_s3_uris_on_the_embedded_host(host, engine, moto_server, monkeypatch):
    """S3 through the process's credentials and endpoint (here the moto server)."""
    import io

    import pyarrow.parquet as pq

    from tests.aws import ACCESS_KEY, REGION, SECRET_KEY, fresh_bucket

    for name, value in {"AWS_ENDPOINT_URL": moto_server.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                        "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    s3 = moto_server.client("s3")
    bucket = fresh_bucket(s3)
    buffer = io.BytesIO()
    pq.write_table(dense_table(0, 1500, DIM), buffer)
    s3.put_object(Bucket=bucket, Key="dir/ns/a.parquet", Body=buffer.getvalue())
    make_index(engine, dimension=DIM, name="docs")
    job = run_import(host, "docs", {"uri": f"s3://{bucket}/dir"})
    assert job["status"] == "Completed" and job["recordsImported"] == 1500, job
    assert engine.stats("docs").value == {"ns": 1500}


def test_the_reader_resumes_mid_row_group_and_streams_across_row_groups_and_files(tmp_path):
    """Load calls continue a file stream (the next chunk read ahead, into the next file too); a
    call elsewhere (a resume) reopens and skips to its row."""
    from spruce.jobs.sources import locate

    first = write(tmp_path, "ns", "a.parquet", dense_table(0, 2500, DIM), row_group_size=1000)
    second = write(tmp_path, "ns", "b.parquet", dense_table(2500, 100, DIM))
    files = [["ns", str(first), 2500], ["ns", str(second), 100]]
    location = locate(str(tmp_path), local_files=True)
    cfg = DOCS
    reader = imports._Reader()
    job = ("import:x", "1")
    seen, at = [], (0, 1050)  # resume inside the second row group
    while at[0] < len(files):
        chunk = reader.chunk(job, location, files, at, 700, cfg)
        assert 0 < chunk.rows <= 700 and not chunk.problems
        assert chunk.records.vectors.shape == (chunk.rows, DIM)
        seen += _ids(chunk)
        at = imports._position(files, at[0], at[1] + chunk.rows)
    assert seen == [f"id-{i}" for i in range(1050, 2600)]
    again = reader.chunk(job, location, files, (0, 10), 5, cfg)  # not where the stream stands: reopened
    assert _ids(again) == [f"id-{i}" for i in range(10, 15)]
    reader.forget(job)


def test_the_plan_step_has_the_first_chunk_read_for_the_first_load_call(tmp_path):
    """``read_first`` (the plan step) reads the first chunk past empty files; the first load call takes it."""
    from spruce.jobs.sources import locate

    empty = write(tmp_path, "ns", "a.parquet", dense_table(0, 0, DIM))
    second = write(tmp_path, "ns", "b.parquet", dense_table(0, 30, DIM))
    files = [["ns", str(empty), 0], ["ns", str(second), 30]]
    cfg = DOCS
    reader = imports._Reader()
    job = ("import:x", "3")
    location = locate(str(tmp_path), local_files=True)
    reader.read_first(job, location, files, 20, cfg)
    key, ahead = reader._ahead[job]
    assert key == (str(second), 0)
    chunk = reader.chunk(job, location, files, (1, 0), 20, cfg)
    assert chunk is ahead.result()[0]  # taken as read, not read again
    assert _ids(chunk) == [f"id-{i}" for i in range(20)]
    reader.forget(job)


def test_a_failed_read_ahead_is_read_again_by_the_call_that_needs_it(tmp_path):
    """A read ahead that failed (a dropped connection, say) is not the chunk: the call that needs
    those rows reads them itself, so an error it meets is its own."""
    from spruce.jobs.sources import locate

    path = write(tmp_path, "ns", "a.parquet", dense_table(0, 20, DIM))
    files = [["ns", str(path), 20]]
    cfg = DOCS
    reader = imports._Reader()
    job = ("import:x", "2")
    location = locate(str(tmp_path), local_files=True)
    first = reader.chunk(job, location, files, (0, 0), 10, cfg)
    assert _ids(first) == [f"id-{i}" for i in range(10)]
    key, ahead = reader._ahead[job]
    assert key == (str(path), 10)
    ahead.result()[1].close()
    reader._ahead[job] = (key, _failed(OSError("connection reset")))
    second = reader.chunk(job, location, files, (0, 10), 10, cfg)
    assert _ids(second) == [f"id-{i}" for i in range(10, 20)]
    assert job not in reader._ahead  # the end of the last file: nothing more to read


def _failed(exc: Exception):
    from concurrent.futures import Future

    future = Future()
    future.set_exception(exc)
    return future


    wide = IndexConfig(name="w", id="w", dimension=20_000, metric="cosine", vector_type="dense", cloud="aws",
                       region="us-east-1")
    assert imports.rows_per_chunk(wide) == 1000  # 80 MB of values per chunk
