"""The compaction workflow run in-process on the embedded host: merges slabs, builds the ANN index
of a large merged slab, swaps manifests without changing a record, collects garbage unless a
backup holds the index, and reports a failing namespace without stopping the others."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from spruce.engine.builder import BuilderSettings
from spruce.engine.holds import GcHolds
from spruce.engine.local import open_local
from spruce.engine.namespaces import namespace_key
from spruce.engine.records import Record
from spruce.jobs import compaction
from spruce.jobs.workflow import InProcessRunner, JobHost
from spruce.storage.lance_slabs import LanceSlabStore
from tests.engine.conftest import make_index


@pytest.fixture
def setup(tmp_path):
    engine = open_local(tmp_path / "d", settings=BuilderSettings(gc_grace_s=0.0, ann_min_rows=400,
                                                                 l0_merge_count=100), start=False)
    cfg = make_index(engine, dimension=16)
    rng = np.random.default_rng(0)
    for ns, batches in (("big", 3), ("small", 2)):
        for b in range(batches):
            engine.upsert("idx", ns, [Record(f"{ns}-{b}-{i}", rng.standard_normal(16).astype(np.float32),
                                             metadata={"b": b}) for i in range(150)])
            engine.flush("idx", ns)
    hosts: list[JobHost] = []
    runner = InProcessRunner(lambda: hosts[0])
    hosts.append(JobHost(engine=engine, jobs=engine.job_store, launcher=runner))
    yield engine, cfg, hosts[0], runner, tmp_path / "d" / "slabs"
    runner.close()
    engine.close()


def _run(host: JobHost, runner: InProcessRunner, state: dict, name: str) -> dict:
    host.launcher.start(compaction.WORKFLOW, name, state)
    return runner.wait(name, timeout=120)


def _everything(engine, ns: str) -> dict:
    ids = engine.list_ids("idx", ns, prefix=None, limit=1000, token=None).value[0]
    return {i: (r.values.tolist(), r.metadata) for i, r in engine.fetch("idx", ns, ids).value.items()}


def _second_index(engine):
    """``idx2`` with one namespace ``n`` of two flushed slabs of 50 records."""
    other = make_index(engine, name="idx2", dimension=16)
    rng = np.random.default_rng(1)
    for b in range(2):
        engine.upsert("idx2", "n", [Record(f"o-{b}-{i}", rng.standard_normal(16).astype(np.float32))
                                    for i in range(50)])
        engine.flush("idx2", "n")
    return other


def test_compaction_merges_indexes_and_collects_without_changing_a_record(setup):
    engine, cfg, host, runner, slabs = setup
    before = {ns: _everything(engine, ns) for ns in ("big", "small")}
    old = {ns: {s.slab_id for s in engine._cache.manifest(cfg.id, ns).slabs} for ns in ("big", "small")}
    state = _run(host, runner, {"index": "idx", "force": True}, "c1")
    assert (state["compacted"], state.get("failures", 0)) == (2, 0)
    for ns, indexed in (("big", True), ("small", False)):
        manifest = engine._cache.manifest(cfg.id, ns)
        [slab] = manifest.slabs
        assert slab.indexed is indexed and slab.rows == len(before[ns])
        assert manifest.retired == ()  # grace 0: collected in the same run
        assert set(LanceSlabStore(str(slabs)).list_objects(cfg.id, namespace_key(ns))) == {f"slab-{slab.slab_id}"}
        assert slab.slab_id not in old[ns]
        assert _everything(engine, ns) == before[ns]
    again = _run(host, runner, {"index": "idx"}, "c2")  # by policy: one slab per namespace, nothing to merge
    assert again.get("compacted", 0) == 0 and again["after"] == "small"


def test_compaction_by_policy_settles_each_namespace(setup):
    """Without ``force``, the workflow merges what a settled namespace merges: the unindexed slabs
    (fewer than ``l0_merge_count`` here) unless the smaller ones hold under ``settle_share`` of the largest."""
    engine, cfg, host, runner, _ = setup
    engine.upsert("idx", "small", [Record("small-tiny", np.ones(16, dtype=np.float32))])
    engine.flush("idx", "small")
    before = _everything(engine, "small")
    state = _run(host, runner, {"index": "idx", "namespaces": ["small"]}, "c1")
    assert state["compacted"] == 1
    assert [(s.rows, s.indexed) for s in engine._cache.manifest(cfg.id, "small").slabs] == [(301, False)]
    engine.upsert("idx", "small", [Record("small-tinier", np.ones(16, dtype=np.float32))])
    engine.flush("idx", "small")
    state = _run(host, runner, {"index": "idx", "namespaces": ["small"]}, "c2")  # 1 < 0.01 × 301
    assert state.get("compacted", 0) == 0
    assert sorted(s.rows for s in engine._cache.manifest(cfg.id, "small").slabs) == [1, 301]
    after = _everything(engine, "small")
    assert len(after) == 302 and {i: after[i] for i in before} == before


def test_a_held_index_keeps_its_retired_objects(setup):
    engine, cfg, host, runner, slabs = setup
    GcHolds(host.jobs).hold(cfg.id, "backup-x")
    _run(host, runner, {"index": "idx", "namespaces": ["big"], "force": True}, "c1")
    manifest = engine._cache.manifest(cfg.id, "big")
    assert len(manifest.retired) == 3  # the three merged L0 slabs wait for the hold
    stored = set(LanceSlabStore(str(slabs)).list_objects(cfg.id, namespace_key("big")))
    assert {r.name for r in manifest.retired} <= stored
    GcHolds(host.jobs).release(cfg.id, "backup-x")
    _run(host, runner, {"index": "idx", "namespaces": ["big"]}, "c2")  # policy: nothing to merge, garbage goes
    assert engine._cache.manifest(cfg.id, "big").retired == ()


def test_a_failing_namespace_is_reported_and_the_others_are_compacted(setup, monkeypatch, caplog):
    engine, cfg, host, runner, _ = setup
    real = engine.builder.compact

    def compact(cfg_, namespace, **kwargs):
        if namespace == "big":
            raise OSError("disk full")
        return real(cfg_, namespace, **kwargs)
    monkeypatch.setattr(engine.builder, "compact", compact)
    state = _run(host, runner, {"index": "idx", "force": True}, "c1")
    assert state["failures"] == 1 and state["failed"] == [{"namespace": "big", "error": "OSError: disk full"}]
    assert state["compacted"] == 1 and len(engine._cache.manifest(cfg.id, "small").slabs) == 1
    assert "compaction of idx failed: CompactionIncomplete: 1 namespace(s) of idx failed" in caplog.text


def test_without_an_index_the_workflow_compacts_every_ready_index(setup):
    """The scheduled sweep (input ``{}``): every namespace of every index, in name order."""
    engine, cfg, host, runner, _ = setup
    other = _second_index(engine)
    state = _run(host, runner, {"force": True}, "sweep")
    assert (state["compacted"], state.get("failures", 0), state["after"]) == (3, 0, ["idx2", "n"])
    for index_id, ns in ((cfg.id, "big"), (cfg.id, "small"), (other.id, "n")):
        assert len(engine._cache.manifest(index_id, ns).slabs) == 1


def test_a_sweep_step_stops_taking_namespaces_after_its_budget(setup, monkeypatch):
    engine, _, host, runner, _ = setup
    monkeypatch.setattr(compaction, "STEP_BUDGET_S", 0.0)  # one namespace per step
    real = compaction._compact_namespace
    state = real(host, {"force": True})
    assert state["more"] is True and state["after"] == ["idx", "big"] and state["compacted"] == 1
    state = real(host, state)
    assert state["more"] is True and state["after"] == ["idx", "small"]
    assert real(host, state)["more"] is False


def test_a_sweep_passes_over_an_index_deleted_while_it_runs(setup, monkeypatch, caplog):
    """The sweep listed ``idx``; it is deleted before its namespace is compacted: that is no failure."""
    engine, _, host, runner, _ = setup
    caplog.set_level(logging.INFO, "spruce.jobs")
    other = _second_index(engine)
    real = engine.builder.compact

    def compact(cfg_, namespace, **kwargs):
        if cfg_.name == "idx":
            engine.delete_index("idx")  # deleted between the sweep's listing and this namespace
            raise FileNotFoundError(f"slabs of {cfg_.id} are gone")
        return real(cfg_, namespace, **kwargs)
    monkeypatch.setattr(engine.builder, "compact", compact)
    state = _run(host, runner, {"force": True}, "sweep-deleted")
    assert state.get("failures", 0) == 0 and state["compacted"] == 1 and state["after"] == ["idx2", "n"]
    assert len(engine._cache.manifest(other.id, "n").slabs) == 1
    assert "the index was deleted during the sweep" in caplog.text

