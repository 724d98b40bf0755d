"""The executors' EFS slab cache against the session's moto server: copies on a miss,
serves later opens from disk, stays under its bound and survives other containers."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from spruce.engine.records import Record
from spruce.engine.slabs import SlabData, build_slab_table
from spruce.storage.efs_cache import EfsSlabCache
from spruce.storage.s3_objects import S3Prefixes, dataset_prefix

IDX = "idx"
NS = "0" * 32


class Env:
    """A bucket written through the S3 slab store, and a call-counting client for caches."""

    def __init__(self, server, tmp_path: Path) -> None:
        from spruce.storage.s3_slabs import open_s3_slab_store
        from tests.aws import fresh_bucket

        writer_s3 = server.client("s3")
        self.bucket = fresh_bucket(writer_s3)
        self.store = open_s3_slab_store(self.bucket, s3_client=writer_s3, storage_options=server.storage_options)
        self.objects = S3Prefixes(writer_s3, self.bucket)
        self.s3 = server.client("s3")
        self.calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        self.s3.meta.events.register("before-call.s3", self._count)
        self.root = tmp_path / "efs"
        self.caches: list[EfsSlabCache] = []

    def _count(self, model, **_) -> None:
        with self._calls_lock:
            self.calls[model.name] += 1

    def cache(self, max_bytes: int = 1 << 30) -> EfsSlabCache:
        cache = EfsSlabCache(self.root, s3_client=self.s3, bucket=self.bucket, max_bytes=max_bytes)
        self.caches.append(cache)
        return cache

    def write_slab(self, slab_id: str, n: int = 64, dim: int = 16, *, index: bool = False) -> list[Record]:
        rng = np.random.default_rng(abs(hash(slab_id)) % 2**32)
        recs = [Record(id=f"{slab_id}-{i}", values=rng.standard_normal(dim).astype(np.float32),
                       metadata={"n": i} if i % 2 else None) for i in range(n)]
        self.store.write_slab(IDX, NS, slab_id, build_slab_table(recs, list(range(1, n + 1)), dim))
        if index:
            self.store.build_vector_index(IDX, NS, slab_id, "cosine", n)
        return recs

    def object_count(self, name: str) -> int:
        return sum(1 for _ in self.objects.objects(dataset_prefix(IDX, NS, name)))

    def cached(self, name: str) -> Path:
        return self.root / IDX / NS / f"{name}.lance"


@pytest.fixture
def env(moto_server, tmp_path):
    env = Env(moto_server, tmp_path)
    yield env
    for cache in env.caches:
        cache.close()


def disk_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in (root / IDX).rglob("*") if f.is_file())


def test_first_open_copies_then_serves_from_disk(env):
    recs = env.write_slab("s1", 300, index=True)
    cache = env.cache()
    table = cache.open_slab(IDX, NS, "s1")
    assert env.calls["GetObject"] == env.object_count("slab-s1") > 0
    assert env.cached("slab-s1").is_dir()
    original = env.store.open_slab(IDX, NS, "s1")
    assert table.to_arrow().sort_by("row").equals(original.to_arrow().sort_by("row"))
    assert [i.columns for i in table.list_indices()] == [["vector"]]
    hits = table.search(recs[7].values).distance_type("cosine").limit(3).select(["id", "_distance"]).to_arrow()
    assert hits.column("id")[0].as_py() == "s1-7"
    data = SlabData("s1", table, indexed=True, metric="cosine")
    got = data.read([data.id_to_row[r.id] for r in recs], values=True, sparse=False, metadata=True)
    assert [(g.id, g.metadata) for g in got] == [(r.id, r.metadata) for r in recs]
    np.testing.assert_array_equal(np.stack([g.values for g in got]), np.stack([r.values for r in recs]))

    env.calls.clear()
    cache.open_slab(IDX, NS, "s1")
    other_container = env.cache()
    assert other_container.open_slab(IDX, NS, "s1").count_rows() == 300
    assert env.calls == Counter()
    assert other_container.used_bytes == cache.used_bytes == disk_bytes(env.root)


def test_tombstones_through_the_cache(env):
    env.store.write_tombstones(IDX, NS, "t1", ["a", "b"])
    cache = env.cache()
    assert cache.read_tombstones(IDX, NS, "t1") == ["a", "b"]
    env.calls.clear()
    assert cache.read_tombstones(IDX, NS, "t1") == ["a", "b"]
    assert env.calls == Counter()


def test_missing_dataset(env):
    cache = env.cache()
    with pytest.raises(FileNotFoundError):
        cache.open_slab(IDX, NS, "nope")
    assert not env.cached("slab-nope").exists()
    assert list((env.root / ".incoming").iterdir()) == []


def test_lru_eviction_keeps_recently_used_under_the_bound(env):
    for slab_id in "abcd":
        env.write_slab(slab_id)
    probe = env.cache()
    probe.open_slab(IDX, NS, "a")
    one = probe.used_bytes
    cache = env.cache(max_bytes=int(2.5 * one))
    cache.open_slab(IDX, NS, "a")
    cache.open_slab(IDX, NS, "b")
    cache.open_slab(IDX, NS, "a")  # now b is the least recently used
    cache.open_slab(IDX, NS, "c")
    assert [env.cached(f"slab-{s}").is_dir() for s in "abc"] == [True, False, True]
    assert disk_bytes(env.root) == cache.used_bytes <= cache.max_bytes
    cache.open_slab(IDX, NS, "d")  # a (used before c) goes
    assert [env.cached(f"slab-{s}").is_dir() for s in "abcd"] == [False, False, True, True]
    assert disk_bytes(env.root) <= cache.max_bytes
    assert list((env.root / ".trash").iterdir()) == []


def test_a_slab_bigger_than_the_bound_is_still_served(env):
    env.write_slab("a")
    env.write_slab("big", 400)
    cache = env.cache(max_bytes=1)
    cache.open_slab(IDX, NS, "a")
    assert cache.open_slab(IDX, NS, "big").count_rows() == 400
    assert not env.cached("slab-a").exists()


def test_concurrent_opens_copy_once(env):
    env.write_slab("s1", 200)
    cache = env.cache()
    start = threading.Barrier(8)

    def open_it(_):
        start.wait()
        return cache.open_slab(IDX, NS, "s1").to_arrow().sort_by("row")

    with ThreadPoolExecutor(8) as pool:
        tables = list(pool.map(open_it, range(8)))
    assert all(t.equals(tables[0]) and t.num_rows == 200 for t in tables)
    assert env.calls["GetObject"] == env.object_count("slab-s1")
    assert list((env.root / ".incoming").iterdir()) == []


def test_containers_racing_to_copy_install_one_copy(env):
    env.write_slab("s1", 200)
    caches = [env.cache() for _ in range(4)]  # separate processes: no shared locks
    start = threading.Barrier(len(caches))

    def open_it(cache):
        start.wait()
        return cache.open_slab(IDX, NS, "s1").to_arrow().sort_by("row")

    with ThreadPoolExecutor(len(caches)) as pool:
        tables = list(pool.map(open_it, caches))
    assert all(t.equals(tables[0]) and t.num_rows == 200 for t in tables)
    assert [p.name for p in (env.root / IDX / NS).iterdir()] == ["slab-s1.lance"]
    assert list((env.root / ".incoming").iterdir()) == []
    assert disk_bytes(env.root) == caches[0].used_bytes


def test_recopies_what_another_container_evicted(env, monkeypatch):
    env.write_slab("s1")
    env.store.write_tombstones(IDX, NS, "t1", ["s1-1"])
    cache = env.cache()
    before = cache.open_slab(IDX, NS, "s1").to_arrow()
    assert cache.read_tombstones(IDX, NS, "t1") == ["s1-1"]

    shutil.rmtree(env.cached("slab-s1"))  # evicted before our next open
    env.calls.clear()
    assert cache.open_slab(IDX, NS, "s1").to_arrow().equals(before)
    assert env.calls["GetObject"] == env.object_count("slab-s1")

    real_db = cache._db
    evicted = []

    def evicting_db(ns_dir):  # evicted between our existence check and our read
        if not evicted:
            evicted.append(True)
            shutil.rmtree(env.cached("tomb-t1"))
        return real_db(ns_dir)

    monkeypatch.setattr(cache, "_db", evicting_db)
    assert cache.read_tombstones(IDX, NS, "t1") == ["s1-1"]
    assert evicted and env.cached("tomb-t1").is_dir()


def test_start_up_clears_what_dead_containers_left(env):
    (env.root / ".trash" / "x" / "data").mkdir(parents=True)
    stale = env.root / ".incoming" / "stale"
    fresh = env.root / ".incoming" / "fresh"
    stale.mkdir(parents=True)
    fresh.mkdir()
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    env.cache()
    assert list((env.root / ".trash").iterdir()) == []
    assert [p.name for p in (env.root / ".incoming").iterdir()] == ["fresh"]
