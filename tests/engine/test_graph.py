"""In-RAM graphs of slabs (engine.graph): built in the background after a slab's first
search, then serving dense queries with exact scores, the filter's and the deletes' semantics
intact, and recall@10 ≥ 0.95 against brute force."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from spruce.engine.builder import BuilderSettings
from spruce.engine.filters import parse_filter
from spruce.engine.graph import GraphSettings, SlabGraph, SlabGraphs
from spruce.engine.local import open_local
from spruce.engine.model import QuerySpec
from spruce.engine.records import Record
from tests.engine.conftest import make_index

N, DIM = 12_000, 48


def clustered(seed: int, n: int = N) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n // 200, DIM)).astype(np.float32)
    return centres[rng.integers(0, len(centres), n)] + 0.4 * rng.normal(size=(n, DIM)).astype(np.float32)


def exact_scores(metric: str, X: np.ndarray, q: np.ndarray) -> np.ndarray:
    if metric == "cosine":
        return (X @ q) / (np.linalg.norm(X, axis=1) * np.linalg.norm(q))
    if metric == "dotproduct":
        return X @ q
    return ((X - q) ** 2).sum(1)


def exact_top(metric: str, X: np.ndarray, q: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[int]:
    s = exact_scores(metric, X, q).astype(np.float64)
    if allowed is not None:
        s = np.where(allowed, s, np.inf if metric == "euclidean" else -np.inf)
    order = np.argsort(s if metric == "euclidean" else -s, kind="stable")
    return order[:k].tolist()


def wait_for_graphs(eng, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not eng.graphs.idle():
        assert time.monotonic() < deadline, "graph build did not finish"
        time.sleep(0.02)


@pytest.fixture
def loaded(tmp_path, request):
    """An index of N clustered records (metadata ``cat`` = i % 100) in one flushed slab, its
    graph built after a first search."""
    metric = request.param
    X = clustered(0)
    eng = open_local(tmp_path, settings=BuilderSettings(ann_min_rows=10**9), start=False)
    make_index(eng, dimension=DIM, metric=metric)
    eng.upsert("idx", "ns", [Record(f"v{i}", X[i], metadata={"cat": i % 100}) for i in range(N)])
    eng.flush("idx", "ns")
    eng.query("idx", "ns", QuerySpec(top_k=10, vector=X[0]))
    wait_for_graphs(eng)
    yield eng, X, metric
    eng.close()


def one_slab(tmp_path, X: np.ndarray, graphs: GraphSettings | None = None):
    """An engine (builder run by hand) whose cosine index holds ``X`` in one flushed slab,
    searched once (which queues its graph, if it is large enough for one)."""
    eng = open_local(tmp_path, settings=BuilderSettings(ann_min_rows=10**9), start=False, graphs=graphs)
    make_index(eng, dimension=DIM, metric="cosine")
    eng.upsert("idx", "ns", [Record(f"v{i}", X[i]) for i in range(len(X))])
    eng.flush("idx", "ns")
    eng.query("idx", "ns", QuerySpec(top_k=10, vector=X[0]))
    return eng


def two_slabs(tmp_path, X: np.ndarray, graphs: GraphSettings | None = None):
    """An engine (builder run by hand) whose cosine index holds ``X`` in two flushed slabs."""
    eng = open_local(tmp_path, settings=BuilderSettings(ann_min_rows=10**9, l0_merge_count=10), start=False,
                     graphs=graphs)
    make_index(eng, dimension=DIM, metric="cosine")
    half = len(X) // 2
    for part in (range(0, half), range(half, len(X))):
        eng.upsert("idx", "ns", [Record(f"v{i}", X[i]) for i in part])
        eng.flush("idx", "ns")
    return eng


def slab_data(eng):
    """The one slab's process-wide data, as the query path sees it."""
    cfg = eng.describe_index("idx")
    slabs = eng._cache.slabs.open(cfg.id, "ns", eng._cache.manifest(cfg.id, "ns"), metric=cfg.metric)
    [view] = slabs.views
    return view.data


def recall(eng, X, metric, queries, *, flt=None, allowed=None, scan_factor=None) -> float:
    hits = 0
    for q in queries:
        got = eng.query("idx", "ns", QuerySpec(top_k=10, vector=q, filter=parse_filter(flt),
                                               **({} if scan_factor is None else {"scan_factor": scan_factor}))).value
        want = {f"v{j}" for j in exact_top(metric, X, q, 10, allowed)}
        hits += len({m.id for m in got} & want)
    return hits / (10 * len(queries))


@pytest.mark.parametrize("loaded", ["cosine", "euclidean", "dotproduct"], indirect=True)
def test_graph_answers_with_exact_scores_and_high_recall(loaded):
    eng, X, metric = loaded
    assert slab_data(eng).graph is not None
    Q = X[np.random.default_rng(1).integers(0, N, 100)] + 0.05
    assert recall(eng, X, metric, Q) >= 0.95
    got = eng.query("idx", "ns", QuerySpec(top_k=10, vector=Q[0])).value
    rows = [int(m.id[1:]) for m in got]
    np.testing.assert_allclose([m.score for m in got], exact_scores(metric, X[rows], Q[0]), rtol=1e-4, atol=1e-4)
    assert [m.score for m in got] == sorted([m.score for m in got], reverse=metric != "euclidean")


@pytest.mark.parametrize("loaded", ["cosine"], indirect=True)
def test_filters_and_deletes_keep_their_meaning_on_the_graph(loaded):
    eng, X, metric = loaded
    cats = np.arange(N) % 100
    Q = X[np.random.default_rng(2).integers(0, N, 60)] + 0.05
    assert recall(eng, X, metric, Q, flt={"cat": {"$lt": 10}}, allowed=cats < 10) >= 0.95
    # 1% selectivity: a pass over the few matching rows (exactly the brute-force answer)
    for q in Q[:10]:
        got = eng.query("idx", "ns", QuerySpec(top_k=10, vector=q, filter=parse_filter({"cat": 7}))).value
        assert [m.id for m in got] == [f"v{j}" for j in exact_top(metric, X, q, 10, cats == 7)]
    # deleted records are never returned, before and after the delete reaches the slab
    q = Q[0]
    gone = [m.id for m in eng.query("idx", "ns", QuerySpec(top_k=10, vector=q)).value[:5]]
    eng.delete("idx", "ns", ids=gone)
    alive = ~np.isin(np.arange(N), [int(i[1:]) for i in gone])
    for _ in range(2):
        got = [m.id for m in eng.query("idx", "ns", QuerySpec(top_k=10, vector=q)).value]
        assert not set(got) & set(gone)
        assert len(set(got) & {f"v{j}" for j in exact_top(metric, X, q, 10, alive)}) >= 9
        eng.flush("idx", "ns")


@pytest.mark.parametrize("loaded", ["cosine"], indirect=True)
def test_a_top_k_near_the_row_count_is_answered_exactly(loaded):
    eng, X, metric = loaded
    got = eng.query("idx", "ns", QuerySpec(top_k=5000, vector=X[3])).value
    assert [m.id for m in got] == [f"v{j}" for j in exact_top(metric, X, X[3], 5000)]


@pytest.mark.parametrize("loaded", ["cosine"], indirect=True)
def test_a_narrower_scan_factor_still_answers(loaded):
    eng, X, metric = loaded
    Q = X[np.random.default_rng(3).integers(0, N, 50)] + 0.05
    assert recall(eng, X, metric, Q, scan_factor=0.5) >= 0.8


def test_a_slab_no_longer_searched_gets_no_graph(tmp_path):
    """A slab queued for a graph but not searched since (compaction replaced it) is skipped."""
    eng = one_slab(tmp_path, clustered(4, 5000), graphs=GraphSettings(idle_s=0.0))
    wait_for_graphs(eng)
    data = slab_data(eng)
    assert data.graph is None and not data.graph_queued  # queued again by the next search
    eng.close()


def test_small_slabs_are_scored_exactly(tmp_path):
    eng = one_slab(tmp_path, clustered(5, 1000))
    assert eng.graphs.idle() and slab_data(eng).graph is None and not slab_data(eng).graph_queued
    eng.close()


def test_a_beam_as_costly_as_a_pass_over_the_slab_is_not_taken(tmp_path, monkeypatch):
    """A slab of a few thousand rows gets a graph, but only a narrow beam searches it: the
    default scanFactor's beam would cost more than scoring its rows exactly."""
    X = clustered(11, 3000)
    eng = one_slab(tmp_path, X)
    wait_for_graphs(eng)
    assert slab_data(eng).graph is not None
    beams: list[int] = []
    search = SlabGraph.candidates
    monkeypatch.setattr(SlabGraph, "candidates", lambda self, q, want, ef, allowed: beams.append(ef) or search(
        self, q, want, ef, allowed))
    q = X[5] + 0.01
    got = eng.query("idx", "ns", QuerySpec(top_k=10, vector=q, scan_factor=4.0)).value
    assert beams == [] and [m.id for m in got] == [f"v{j}" for j in exact_top("cosine", X, q, 10)]
    got = eng.query("idx", "ns", QuerySpec(top_k=10, vector=q, scan_factor=0.5)).value
    assert beams == [40] and len(got) == 10  # the 40 candidates re-scored, beam 20 raised to them
    eng.close()


def test_an_ann_indexed_slab_gets_a_graph_too(tmp_path):
    """On a host that keeps graphs, a slab compaction gave a LanceDB ANN index is graphed as
    well: its vectors are read into RAM for the graph, and queries go through the graph with
    exact scores (until then, through the ANN index)."""
    X = clustered(6)
    eng = open_local(tmp_path, settings=BuilderSettings(ann_min_rows=N), start=False)
    make_index(eng, dimension=DIM, metric="cosine")
    eng.upsert("idx", "ns", [Record(f"v{i}", X[i], metadata={"cat": i % 100}) for i in range(N)])
    eng.flush("idx", "ns")
    eng.compact("idx", "ns", force=True)
    data = slab_data(eng)
    assert data.indexed and data.matrix is None and data.graph is None
    Q = X[np.random.default_rng(7).integers(0, N, 60)] + 0.05
    before = recall(eng, X, "cosine", Q)  # LanceDB's index; queues the graph
    wait_for_graphs(eng)
    assert data.graph is not None and data.matrix.shape == (N, DIM)
    assert recall(eng, X, "cosine", Q) >= max(0.95, before - 0.02)
    got = eng.query("idx", "ns", QuerySpec(top_k=10, vector=Q[0], include_values=True)).value
    rows = [int(m.id[1:]) for m in got]
    np.testing.assert_allclose([m.score for m in got], exact_scores("cosine", X[rows], Q[0]), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.stack([m.values for m in got]), X[rows], rtol=1e-6)
    cats = np.arange(N) % 100
    assert recall(eng, X, "cosine", Q, flt={"cat": {"$lt": 10}}, allowed=cats < 10) >= 0.95
    for q in Q[:10]:  # 1%: a pass over the few matching rows of the held matrix (brute force's answer)
        got = eng.query("idx", "ns", QuerySpec(top_k=10, vector=q, filter=parse_filter({"cat": 7}))).value
        assert [m.id for m in got] == [f"v{j}" for j in exact_top("cosine", X, q, 10, cats == 7)]
    eng.close()


def test_slabs_compaction_replaced_get_no_graph(tmp_path):
    """A slab compaction merged away is marked retired: no graph is queued (or built) for it,
    while the merged slab gets one on its first search."""
    X = clustered(8, 10_000)
    eng = two_slabs(tmp_path, X)
    cfg = eng.describe_index("idx")
    old = [v.data for v in eng._cache.slabs.open(cfg.id, "ns", eng._cache.manifest(cfg.id, "ns"),
                                                 metric=cfg.metric).views]
    eng.compact("idx", "ns", force=True)
    assert len(old) == 2 and all(d.retired for d in old)
    assert all(eng.graphs.lookup(d) is None and not d.graph_queued for d in old)
    eng.query("idx", "ns", QuerySpec(top_k=10, vector=X[0]))
    wait_for_graphs(eng)
    merged = slab_data(eng)
    assert merged.rows == 10_000 and merged.graph is not None and not merged.retired
    eng.close()


def test_one_search_graphs_every_slab_even_when_builds_queue_up(tmp_path, monkeypatch):
    """Time a queued slab waits behind other builds does not count as idle: one query that
    fans out to two slabs gets both graphed, though the first build outlasts ``idle_s``."""
    from spruce.engine import graph as graph_module
    build = graph_module.SlabGraph.build

    def slow_build(data, settings, stop):
        time.sleep(0.6)
        return build(data, settings, stop)

    monkeypatch.setattr(graph_module.SlabGraph, "build", staticmethod(slow_build))
    X = clustered(9, 10_000)
    eng = two_slabs(tmp_path, X, graphs=GraphSettings(idle_s=0.3))
    eng.query("idx", "ns", QuerySpec(top_k=10, vector=X[0]))
    wait_for_graphs(eng)
    cfg = eng.describe_index("idx")
    views = eng._cache.slabs.open(cfg.id, "ns", eng._cache.manifest(cfg.id, "ns"), metric=cfg.metric).views
    assert len(views) == 2 and all(v.data.graph is not None for v in views)
    eng.close()


def test_the_beam_widens_with_the_scan_factor_the_filter_and_the_slab_size():
    graphs = SlabGraphs(GraphSettings(ef_search=160, ef_rows=200_000, min_share=0.05))
    assert graphs.beam(1.0, 1.0, 50_000) == graphs.beam(1.0, 1.0, 200_000) == 160
    assert graphs.beam(0.25, 1.0, 200_000) == 40
    assert graphs.beam(1.0, 0.25, 200_000) == 320  # a quarter of the rows allowed: twice the beam
    assert graphs.beam(1.0, 0.01, 200_000) == graphs.beam(1.0, 0.05, 200_000)  # exact pass below min_share
    assert graphs.beam(1.0, 1.0, 800_000) == 320  # four times the rows: twice the beam
    graphs.close()


def test_a_merge_of_graphed_slabs_commits_with_its_graph_built(tmp_path):
    """Queries go from the replaced slabs' graphs straight to the merged slab's: the builder
    builds its graph before the commit, so no query meets the merged slab without one."""
    X = clustered(10, 10_000)
    eng = two_slabs(tmp_path, X)
    eng.query("idx", "ns", QuerySpec(top_k=10, vector=X[0]))
    wait_for_graphs(eng)
    assert eng.compact("idx", "ns", force=True)
    merged = slab_data(eng)
    assert merged.rows == 10_000 and merged.graph is not None
    q = X[123] + 0.01
    got = eng.query("idx", "ns", QuerySpec(top_k=10, vector=q)).value
    assert [m.id for m in got][:5] == [f"v{j}" for j in exact_top("cosine", X, q, 5)]
    eng.close()


@pytest.mark.parametrize("replaced_graphs", ["built", "queued"])
def test_a_merge_builds_its_graph_while_its_ann_index_builds(tmp_path, monkeypatch, replaced_graphs):
    """A merge into an ANN-indexed slab that replaces slabs whose graphs searches wanted (built,
    or still being built) costs the longer of the index build and its own graph build, not their
    sum: the index build here waits until the merged slab's graph build has begun, which it never
    would if the two ran one after the other."""
    from spruce.engine import graph as graph_module
    from spruce.storage.lance_slabs import LanceSlabStore

    merged_graph_started = threading.Event()
    overlapped: list[bool] = []
    build_index, points = LanceSlabStore.build_vector_index, graph_module._points

    def graph_points(data, rows):
        if data.rows == 10_000:
            merged_graph_started.set()
        elif replaced_graphs == "queued":
            time.sleep(0.5)  # the replaced slabs' builds are still going when the merge is planned
        return points(data, rows)

    def index(self, *args):
        overlapped.append(merged_graph_started.wait(timeout=20))
        return build_index(self, *args)

    X = clustered(11, 10_000)
    eng = two_slabs(tmp_path, X)
    monkeypatch.setattr(graph_module, "_points", graph_points)
    monkeypatch.setattr(LanceSlabStore, "build_vector_index", index)
    eng.query("idx", "ns", QuerySpec(top_k=10, vector=X[0]))
    if replaced_graphs == "built":
        wait_for_graphs(eng)
    eng.builder.settings.ann_min_rows = 10_000
    assert eng.compact("idx", "ns", force=True)
    merged = slab_data(eng)
    assert overlapped == [True] and merged.indexed and merged.graph is not None
    q = X[321] + 0.01
    got = eng.query("idx", "ns", QuerySpec(top_k=10, vector=q)).value
    assert [m.id for m in got][:5] == [f"v{j}" for j in exact_top("cosine", X, q, 5)]
    eng.close()


def test_a_merge_stops_the_graph_builds_of_the_slabs_it_replaces_and_queues_its_own(tmp_path, monkeypatch):
    """A search queued both slabs' graphs; a merge commits while the first is being built. That
    build stops at its next chunk, the second is never built, and the merged slab's graph is
    queued at the commit: no second search is needed for it."""
    from spruce.engine import graph as graph_module

    started = threading.Event()
    chunks: list[int] = []
    points = graph_module._points

    def slow_points(data, rows):
        chunks.append(data.rows)
        started.set()
        time.sleep(0.05)
        return points(data, rows)

    X = clustered(12, 10_000)
    eng = two_slabs(tmp_path, X)
    cfg = eng.describe_index("idx")
    old = [v.data for v in eng._cache.slabs.open(cfg.id, "ns", eng._cache.manifest(cfg.id, "ns"),
                                                 metric=cfg.metric).views]
    monkeypatch.setattr(graph_module, "ADD_ROWS", 500)
    monkeypatch.setattr(graph_module, "_points", slow_points)
    eng.query("idx", "ns", QuerySpec(top_k=10, vector=X[0]))
    assert started.wait(timeout=20)
    assert eng.compact("idx", "ns", force=True)
    wait_for_graphs(eng)
    merged = slab_data(eng)
    assert all(d.retired and d.graph is None for d in old)
    assert merged.rows == 10_000 and merged.graph is not None
    assert chunks.count(5_000) < 1 + 5_000 // 500  # the training sample and some chunks, not all of them
    assert chunks.count(10_000) == 1 + 10_000 // 500
    q = X[77] + 0.01
    got = eng.query("idx", "ns", QuerySpec(top_k=10, vector=q)).value
    assert [m.id for m in got][:5] == [f"v{j}" for j in exact_top("cosine", X, q, 5)]
    eng.close()


def test_closing_the_engine_stops_a_merge_building_its_graph(tmp_path, monkeypatch):
    """A merge builds its graph on the compaction thread before it commits; closing the engine
    stops that build at its next chunk of rows (a build left running in faiss at interpreter exit
    aborts the process). The merge still commits: its slab is whole, and a graph is in-RAM state
    that a later start builds on the slab's first search."""
    from spruce.engine import graph as graph_module

    X = clustered(13, 10_000)
    eng = two_slabs(tmp_path, X)
    eng.query("idx", "ns", QuerySpec(top_k=10, vector=X[0]))
    wait_for_graphs(eng)  # the replaced slabs have graphs, so the merge builds its own before committing
    chunks: list[int] = []
    points = graph_module._points

    def closing_points(data, rows):
        chunks.append(len(rows))
        if len(chunks) == 3:  # training sample, first chunk, then the host closes
            eng.graphs.close()
        return points(data, rows)

    monkeypatch.setattr(graph_module, "ADD_ROWS", 500)
    monkeypatch.setattr(graph_module, "_points", closing_points)
    assert eng.compact("idx", "ns", force=True)
    assert len(chunks) == 3, chunks  # not 1 + 10_000 / 500
    merged = slab_data(eng)
    assert merged.rows == 10_000 and merged.graph is None
    q = X[77] + 0.01
    got = eng.query("idx", "ns", QuerySpec(top_k=10, vector=q)).value  # scored exactly
    assert [m.id for m in got] == [f"v{j}" for j in exact_top("cosine", X, q, 10)]
    eng.close()
