"""The ``SlabStore`` contract (``spruce.storage.ports``), run against every adapter: the
local LanceDB store and the S3 one (against the session's moto server)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pyarrow as pa
import pytest

from spruce.engine.records import Record, SparseVector
from spruce.engine.slabs import SlabData, build_slab_table
from spruce.storage.lance_slabs import LanceSlabStore
from spruce.storage.ports import SlabStore
from spruce.storage.s3_objects import S3Prefixes, index_prefix

NS = "0" * 32


def records(n: int, dim: int, *, seed: int = 0, prefix: str = "r") -> list[Record]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        sparse = SparseVector(np.array([i, i + 7], dtype=np.uint32), np.array([0.5, 1.5], dtype=np.float32))
        out.append(Record(id=f"{prefix}{i}", values=rng.standard_normal(dim).astype(np.float32),
                          sparse=sparse if i % 2 else None,
                          metadata={"genre": "ab"[i % 2], "year": 2000 + i} if i % 3 else None))
    return out


def slab(n: int = 20, dim: int = 8, **kw):
    recs = records(n, dim, **kw)
    return recs, build_slab_table(recs, list(range(1, n + 1)), dim)


@pytest.fixture(params=["local", "local-index-in-child", "s3"])
def store(request, tmp_path) -> Iterator[SlabStore]:
    """``local-index-in-child`` is the embedded host's: ANN indexes are built in a child process."""
    if request.param.startswith("local"):
        local = LanceSlabStore(str(tmp_path / "slabs"), index_in_child=request.param == "local-index-in-child")
        yield local
        local.close()
        return
    from spruce.storage.s3_slabs import open_s3_slab_store
    from tests.aws import fresh_bucket

    server = request.getfixturevalue("moto_server")
    s3 = server.client("s3")
    yield open_s3_slab_store(fresh_bucket(s3), s3_client=s3, storage_options=server.storage_options)


def test_slab_round_trip(store):
    recs, table = slab()
    store.write_slab("idx", NS, "s1", table)
    opened = store.open_slab("idx", NS, "s1")
    assert opened.to_arrow().sort_by("row").equals(table)
    assert opened.schema.metadata == table.schema.metadata  # the metadata layout travels with the slab
    data = SlabData("s1", opened, indexed=False, metric="cosine")
    got = data.read([data.id_to_row[r.id] for r in recs], values=True, sparse=True, metadata=True)
    for want, have in zip(recs, got):
        assert have.id == want.id and have.metadata == want.metadata
        np.testing.assert_array_equal(have.values, want.values)
        assert (have.sparse is None) == (want.sparse is None)
        if want.sparse is not None:
            np.testing.assert_array_equal(have.sparse.indices, want.sparse.indices)


def test_never_overwrites(store):
    _, table = slab(seed=1)
    store.write_slab("idx", NS, "s1", table)
    with pytest.raises(ValueError, match="already exists"):
        store.write_slab("idx", NS, "s1", slab(5, seed=2)[1])
    assert store.open_slab("idx", NS, "s1").to_arrow().sort_by("row").equals(table)


def test_build_vector_index(store):
    recs, table = slab(512, 16)
    store.write_slab("idx", NS, "big", table)
    store.build_vector_index("idx", NS, "big", "cosine", 512)
    opened = store.open_slab("idx", NS, "big")
    assert [i.columns for i in opened.list_indices()] == [["vector"]]
    hits = opened.search(recs[3].values).distance_type("cosine").limit(5).select(["id", "_distance"]).to_arrow()
    assert hits.num_rows == 5


def test_an_index_built_in_a_child_process_is_the_one_readers_open(tmp_path):
    """The embedded host's store builds ANN indexes in a child process (its own LanceDB
    runtime, so flushes go on meanwhile); this process opens the index it wrote."""
    store = LanceSlabStore(str(tmp_path / "slabs"), index_in_child=True)
    try:
        recs, table = slab(512, 16)
        store.write_slab("idx", NS, "big", table)
        store.build_vector_index("idx", NS, "big", "cosine", 512)
        workers = list(store._index_pool._processes.values())  # noqa: SLF001 - where it ran
        assert workers and all(p.pid != os.getpid() for p in workers)
        opened = store.open_slab("idx", NS, "big")
        assert [i.columns for i in opened.list_indices()] == [["vector"]]
        store.write_slab("idx", NS, "other", slab(5, 16, seed=3)[1])  # this process's LanceDB still writes
    finally:
        store.close()
    assert store._index_pool is None  # noqa: SLF001


def test_closing_the_store_kills_an_index_build_still_running(tmp_path):
    """A stopping server does not wait for a merge's ANN index (minutes at 1M rows): close kills
    the child building it, the caller's build raises, and the store builds no more."""
    store = LanceSlabStore(str(tmp_path / "slabs"), index_in_child=True)
    rows, dim = 200_000, 64
    vectors = np.random.default_rng(5).standard_normal((rows, dim), dtype=np.float32)
    store.write_slab("idx", NS, "big", pa.table({
        "id": pa.array([f"r{i}" for i in range(rows)]),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)}))
    store.write_slab("idx", NS, "warm", slab(512, 16)[1])
    store.build_vector_index("idx", NS, "warm", "cosine", 512)  # the child is up: what follows times the build
    with ThreadPoolExecutor(max_workers=1) as pool:
        building = pool.submit(store.build_vector_index, "idx", NS, "big", "cosine", rows)
        time.sleep(1.0)
        assert not building.done()
        started = time.monotonic()
        store.close()
        closed_in = time.monotonic() - started
        with pytest.raises(BrokenProcessPool):
            building.result(timeout=30)
    assert closed_in < 5, closed_in
    with pytest.raises(RuntimeError, match="closed"):
        store.build_vector_index("idx", NS, "warm", "cosine", 512)


@pytest.mark.parametrize("ids", [["a", "b", "ü"], []])
def test_tombstones_round_trip(store, ids):
    store.write_tombstones("idx", NS, "t1", ids)
    assert store.read_tombstones("idx", NS, "t1") == ids
    with pytest.raises(ValueError):
        store.write_tombstones("idx", NS, "t1", ["c"])


def test_list_and_delete_objects(store):
    assert store.list_objects("idx", NS) == []
    store.write_slab("idx", NS, "a", slab(seed=1)[1])
    store.write_slab("idx", NS, "b", slab(seed=2)[1])
    store.write_tombstones("idx", NS, "t", ["r1"])
    store.write_slab("idx", "1" * 32, "other", slab(seed=3)[1])
    assert sorted(store.list_objects("idx", NS)) == ["slab-a", "slab-b", "tomb-t"]
    store.delete_object("idx", NS, "slab-a")
    store.delete_object("idx", NS, "tomb-t")
    assert store.list_objects("idx", NS) == ["slab-b"]
    with pytest.raises(ValueError, match="not found"):
        store.open_slab("idx", NS, "a")
    assert store.list_objects("idx", "1" * 32) == ["slab-other"]


def test_drop_index_removes_that_index_only(store):
    _, table = slab()
    for index_id in ("abc", "abcd"):  # one id a prefix of the other
        store.write_slab(index_id, NS, "s1", table)
        store.write_tombstones(index_id, NS, "t1", ["r1"])
    store.drop_index("abc")
    assert store.list_objects("abc", NS) == []
    with pytest.raises(ValueError):
        store.open_slab("abc", NS, "s1")
    assert sorted(store.list_objects("abcd", NS)) == ["slab-s1", "tomb-t1"]
    assert store.open_slab("abcd", NS, "s1").count_rows() == len(table)
    store.write_slab("abc", NS, "s1", table)  # the id is usable again
    assert store.open_slab("abc", NS, "s1").count_rows() == len(table)


def test_copy_object_makes_the_same_dataset_under_another_index(store):
    recs, table = slab(512, 16)
    store.write_slab("src", NS, "big", table)
    store.build_vector_index("src", NS, "big", "cosine", 512)
    store.write_tombstones("src", NS, "t1", ["r1", "r2"])
    size = store.copy_object("src", NS, "slab-big", "backup")
    assert size > table.nbytes // 2  # the dataset's files, not a name
    assert store.copy_object("src", NS, "tomb-t1", "backup") > 0
    assert sorted(store.list_objects("backup", NS)) == ["slab-big", "tomb-t1"]
    store.drop_index("src")  # the copy stands alone
    copied = store.open_slab("backup", NS, "big")
    assert copied.to_arrow().sort_by("row").equals(table)
    assert [i.columns for i in copied.list_indices()] == [["vector"]]
    assert store.read_tombstones("backup", NS, "t1") == ["r1", "r2"]
    assert store.copy_object("backup", NS, "slab-big", "restored") == size  # again, onward: same bytes
    assert store.copy_object("backup", NS, "slab-big", "restored") == size
    assert store.open_slab("restored", NS, "big").count_rows() == len(table)
    with pytest.raises(FileNotFoundError):
        store.copy_object("src", NS, "slab-big", "elsewhere")


def test_object_store_root_needs_a_cleaner():
    with pytest.raises(ValueError, match="drop_index_objects"):
        LanceSlabStore("s3://bucket/slabs")


def test_s3_delete_prefix_batches_and_stays_inside_the_prefix(moto_server, monkeypatch):
    """More keys than one DeleteObjects request takes (the batch shrunk to keep this fast),
    and a neighbouring index whose id extends the dropped one survives."""
    from spruce.storage import s3_objects
    from tests.aws import fresh_bucket

    monkeypatch.setattr(s3_objects, "_DELETE_BATCH", 10)
    s3 = moto_server.client("s3")
    bucket = fresh_bucket(s3)
    keys = [f"{index_prefix('abc')}{NS}/slab-x.lance/data/{i:03}" for i in range(25)]
    keys.append(f"{index_prefix('abcd')}{NS}/slab-x.lance/data/0")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))
    deletes = []
    s3.meta.events.register("before-parameter-build.s3.DeleteObjects", lambda params, **_: deletes.append(params))
    prefixes = S3Prefixes(s3, bucket)
    prefixes.drop_index("abc")
    assert [len(d["Delete"]["Objects"]) for d in deletes] == [10, 10, 5]
    assert [k for k, _ in prefixes.objects("slabs/")] == [keys[-1]]


@pytest.mark.parametrize("index_in_child", [False, True])
def test_a_local_store_puts_what_it_wrote_on_disk_before_returning(tmp_path, monkeypatch, index_in_child):
    """A flush commits a slab and then truncates the log entries it holds: on a local disk the
    slab's files (and its ANN index, its tombstones, the directory entries naming them) must be
    fsynced by then, or a power loss could lose acknowledged records (invariant 1)."""
    import spruce.storage.lance_slabs as lance_slabs

    synced: set[str] = set()
    real = lance_slabs._fsync
    monkeypatch.setattr(lance_slabs, "_fsync", lambda path: (synced.add(os.path.realpath(path)), real(path)))
    root = tmp_path / "slabs"
    store = LanceSlabStore(str(root), index_in_child=index_in_child)
    try:
        def unsynced(name: str) -> list[str]:
            dataset = root / "idx" / NS / f"{name}.lance"
            wanted = {os.path.realpath(p) for p in [dataset, *dataset.rglob("*")]}
            wanted |= {os.path.realpath(root / "idx" / NS), os.path.realpath(root / "idx"), os.path.realpath(root)}
            return sorted(wanted - synced)

        store.write_slab("idx", NS, "s1", slab(300, 8)[1])
        assert unsynced("slab-s1") == []
        synced.clear()
        store.build_vector_index("idx", NS, "s1", "cosine", 300)
        assert any("_indices" in p for p in synced) and unsynced("slab-s1") == []
        synced.clear()
        store.write_tombstones("idx", NS, "t1", ["r1", "r2"])
        assert unsynced("tomb-t1") == []
    finally:
        store.close()
