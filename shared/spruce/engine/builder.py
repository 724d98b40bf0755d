"""Background maintenance: flush the log tail into L0 slabs, compact slabs, collect garbage.

Flush: resolve the tail over the current slabs (the same ``Overlay`` the read path uses),
write the live tail records as a new immutable slab, write new tombstone sets for the
older slabs they shadow, commit the next manifest conditionally, then truncate the log.
A crash at any point leaves either the old manifest (the log still has every entry) or
the new one (the log entries are redundant); objects written for a commit that never
happened are swept later.

Ingest: a bulk import writes its records as a slab first, then logs an ``Ingest`` entry naming
it; the flush that reaches the entry commits that slab as it is (no second copy of the data),
its rows at the entry's LSN.

Compaction: merge small (L0) slabs, or slabs that lost many rows, into one slab with no
tombstones; a merged slab of at least ``ann_min_rows`` rows gets an ANN index before the
manifest that lists it is committed.

Garbage: objects a commit stops referencing are listed in that manifest as retired, and a
later commit deletes them once ``gc_grace_s`` has passed (readers of older manifests may
still read them until then), and only while no backup is copying the index (``holds``). The
list lives in the manifest, so collection survives any process (a Lambda container, the
server) going away.

Backups: ``copy_out`` flushes a namespace and copies the objects of its manifest under the
backup's id, where they are the backup's own (the source may compact, collect or be deleted);
``copy_in`` copies them into a new index and commits that manifest as its first.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spruce.engine.manifest import Manifest, Retired, SlabRef
from spruce.engine.model import IndexConfig
from spruce.engine.namespaces import NamespaceCache, namespace_key
from spruce.engine.records import Ingest, decode_op
from spruce.engine.slabs import RecordColumns, SlabView, build_slab_table, merge_slab_tables, slab_table
from spruce.engine.slabset import LocalSlabs
from spruce.engine.snapshot import Snapshot
from spruce.storage.ports import ManifestStore, RequestLog, SlabStore

log = logging.getLogger("spruce.builder")

#: How many flushes ``flush_through`` tries before giving up on a namespace (each loses only to a
#: concurrent flush, which also moves the manifest forward).
_FLUSH_ATTEMPTS = 10
#: How many commits ``install_compaction`` tries (each loses only to another process's commit).
_INSTALL_ATTEMPTS = 10


@dataclass(slots=True)
class BuilderSettings:
    flush_records: int = 5_000  # flush as soon as the tail holds this many entries' records
    flush_interval_s: float = 1.0  # ... or when the oldest unflushed write is this old
    # Unindexed slabs merge once there are this many, from the largest that the slabs smaller than
    # it hold ``l0_share`` of: a merge rewrites a slab only when it grows by that share, so trickle
    # writes do not rewrite a namespace's largest slab every few flushes.
    l0_merge_count: int = 4
    l0_share: float = 0.3
    # A namespace no flush touched for ``settle_s`` settles: its unindexed slabs merge from the
    # largest that the smaller hold ``settle_share`` of. Every slab costs every query another
    # search (a slab of 2,600 rows beside one of 197,400: +0.2–0.3 ms in process, 40–60% more,
    # bench/peers/slab_layouts.py), and the last flushes of a bulk load would otherwise stay slabs
    # of their own until more writes come; the share bounds what a write now and then (one flush
    # per settle) rewrites: the largest slab at most once per 1% it grew.
    settle_s: float = 2.0
    settle_share: float = 0.01
    max_dead_fraction: float = 0.3  # rewrite a slab once this share of its rows is shadowed
    # Merge the ANN-indexed slabs into one once those besides the largest hold this share of its
    # live rows: every query searches every slab, and at 1M rows one graph answers in ~40% less
    # time than two (bench/RESULTS.md). Each rewrite grows the largest slab by at least this
    # share, so a row is re-indexed at most ~1 + 1/share times as a namespace grows.
    tier_share: float = 0.3
    # ... but slabs of this many live rows are left as they are: a merge (and its index and graph)
    # stays within what one builder run can hold in memory and finish (a few million rows).
    tier_max_rows: int = 2_000_000
    ann_min_rows: int = 250_000  # slabs at least this large get an ANN index; below, exact numpy is faster (bench/)
    gc_grace_s: float = 30.0  # keep unreferenced objects this long for readers of older manifests
    poll_s: float = 0.1


class Builder:
    """``holds(index_id)`` is true while a backup of the index is copying its objects: garbage
    collection then deletes nothing of that index (the retired list keeps it for later).

    ``warm``: ``local`` is also the readers' slab cache (the embedded host). The builder then
    opens what it writes before committing it, so no read pays for opening a new slab (reading
    its ids and vectors is where stalled reads were sampled, ``bench/read_stall.py``). A merge
    that replaces slabs with graphs gets its graph before its commit too, so queries go from the
    old graphs to the new one, never through the merged slab's ANN index meanwhile. Elsewhere
    the readers are other processes, and it would only cost the builder memory."""

    def __init__(self, log_store: RequestLog, manifests: ManifestStore, slabs: SlabStore, local: LocalSlabs,
                 cache: NamespaceCache, settings: BuilderSettings,
                 holds: Callable[[str], bool] | None = None, *, warm: bool = False) -> None:
        self._warm = warm
        self._holds = holds or (lambda index_id: False)
        self._log = log_store
        self._manifests = manifests
        self._slabs = slabs
        self._local = local  # the builder reads slabs in this process, whatever the readers use
        self._cache = cache
        self.settings = settings
        self._first_seen: dict[tuple[str, str], float] = {}
        self._ns_locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def lock(self, index_id: str, namespace: str) -> threading.Lock:
        with self._locks_lock:
            return self._ns_locks.setdefault((index_id, namespace), threading.Lock())

    # ------------------------------------------------------------------ flush

    def flush(self, cfg: IndexConfig, namespace: str) -> bool:
        """Flush the whole tail of a namespace. Returns False when there was nothing to do (or
        another process's commit won). An ``Ingest`` entry splits the tail: the entries before
        it are flushed first, then its slab is committed as it is (``_flush_ingest``), then the
        entries after it, each a commit of its own."""
        with self.lock(cfg.id, namespace):
            flushed = False
            while True:
                snap = self._cache.snapshot(cfg.id, namespace, metric=cfg.metric, dimension=cfg.dimension)
                overlay = snap.overlay
                if overlay.entry_count == 0:
                    return flushed
                if not overlay.ingests:
                    return self._flush_tail(cfg, namespace, snap) or flushed
                ingest = overlay.ingests[0]
                if ingest == overlay.flushed_lsn + 1:
                    done = self._flush_ingest(cfg, namespace, snap.manifest, ingest)
                else:
                    before = self._cache.resolve_through(cfg.id, namespace, snap, ingest - 1)
                    done = before is not None and self._flush_tail(cfg, namespace, before)
                if not done:
                    return flushed
                flushed = True

    def flush_through(self, cfg: IndexConfig, namespace: str, lsn: int) -> None:
        """Flush until the manifest holds every entry up to ``lsn``; raise if it still does not
        after ``_FLUSH_ATTEMPTS`` flushes."""
        for _ in range(_FLUSH_ATTEMPTS):
            if self._cache.manifest(cfg.id, namespace).flushed_lsn >= lsn:
                return
            self.flush(cfg, namespace)
        if self._cache.manifest(cfg.id, namespace).flushed_lsn < lsn:
            raise RuntimeError(f"namespace {namespace!r} of {cfg.name} did not flush to LSN {lsn}")

    def _flush_tail(self, cfg: IndexConfig, namespace: str, snap: Snapshot) -> bool:
        """Write the live records of ``snap``'s tail as one slab, tombstone what they shadow in
        the older slabs and commit; False on a lost race."""
        started = time.monotonic()
        overlay, manifest = snap.overlay, snap.manifest
        ns_key = namespace_key(namespace)
        replaced: list[str] = []
        slabs: list[SlabRef] = []
        written: list[str] = []
        if overlay.base_cleared:
            replaced = [name for ref in manifest.slabs for name in _objects(ref)]
        else:
            views = self._local.open(cfg.id, namespace, manifest, metric=cfg.metric).views
            slabs = self._shadow_all(cfg.id, ns_key, manifest, views, ShadowedIds(overlay.shadowed_ids()), replaced,
                                     written)
        tail = overlay.live(cfg.dimension)
        if tail.row_of:
            slab_id = _new_id(overlay.max_lsn)
            rows = tail.live_rows()
            lsns = [tail.lsns[row] for row in rows]
            vectors = None if tail.matrix is None else tail.matrix[rows]
            table = build_slab_table([tail.records[row] for row in rows], lsns, cfg.dimension, vectors=vectors)
            self._slabs.write_slab(cfg.id, ns_key, slab_id, table)
            written.append(f"slab-{slab_id}")
            flushed = SlabRef(slab_id, len(rows), min(lsns), max(lsns))
            if self._warm:  # the commit opens the new manifest's slabs: this one from memory
                self._local.seed(cfg.id, namespace, flushed, cfg.metric, table, vectors)
            slabs.append(flushed)
            del table
        nxt = manifest.next(flushed_lsn=overlay.max_lsn, record_count=snap.record_count, slabs=tuple(slabs))
        if not self._commit(cfg, namespace, manifest, nxt, replaced):
            log.warning("lost a manifest race on %s/%s; will retry", cfg.name, namespace)
            self._delete(cfg.id, ns_key, written)  # never referenced: no reader can hold them
            return False
        self._log.truncate(cfg.id, namespace, overlay.max_lsn)
        log.debug("flushed %d entries (%d records) of %s/%s in %.2fs", overlay.entry_count, len(overlay.touched),
                  cfg.name, namespace, time.monotonic() - started)
        return True

    def _flush_ingest(self, cfg: IndexConfig, namespace: str, manifest: Manifest, lsn: int) -> bool:
        """Commit the slab of the ``Ingest`` entry at ``lsn`` (the next after ``manifest``) as it
        was written, its rows at that LSN, with the rows it shadows tombstoned in the older slabs;
        False on a lost race. The slab is never deleted here: the log entry names it."""
        entries = self._log.read_tail(cfg.id, namespace, lsn - 1).entries
        if not entries or entries[0].lsn != lsn:
            return False  # flushed meanwhile (another process)
        op = decode_op(entries[0].kind, entries[0].payload)
        assert isinstance(op, Ingest), entries[0].kind
        ns_key = namespace_key(namespace)
        ingested = SlabRef(op.slab_id, op.rows, lsn, lsn)
        views = self._local.open(cfg.id, namespace, manifest.next(slabs=(*manifest.slabs, ingested)),
                                 metric=cfg.metric).views
        replaced: list[str] = []
        written: list[str] = []
        slabs = self._shadow_all(cfg.id, ns_key, manifest, views[:-1], ShadowedIds(views[-1].data.id_array),
                                 replaced, written)
        slabs.append(ingested)
        nxt = manifest.next(flushed_lsn=lsn, record_count=sum(ref.live for ref in slabs), slabs=tuple(slabs))
        if not self._commit(cfg, namespace, manifest, nxt, replaced):
            log.warning("lost a manifest race on %s/%s; will retry", cfg.name, namespace)
            self._delete(cfg.id, ns_key, written)
            return False
        self._log.truncate(cfg.id, namespace, lsn)
        log.debug("committed ingested slab %s (%d records) of %s/%s at LSN %d", op.slab_id, op.rows, cfg.name,
                  namespace, lsn)
        return True

    def _shadow_all(self, index_id: str, ns_key: str, manifest: Manifest, views: list[SlabView],
                    shadowed: ShadowedIds, replaced: list[str], written: list[str]) -> list[SlabRef]:
        """The manifest's slabs with the rows in ``shadowed`` tombstoned; the objects that stop
        being referenced go to ``replaced``, the tombstone sets written to ``written``."""
        slabs: list[SlabRef] = []
        for ref, view, hidden in zip(manifest.slabs, views, shadowed.rows_in(views), strict=True):
            new_ref = self._shadow(index_id, ns_key, ref, view, hidden)
            if new_ref is None:
                replaced += _objects(ref)
            else:
                if new_ref is not ref:
                    written.append(f"tomb-{new_ref.tombstones}")
                    if ref.tombstones:
                        replaced.append(f"tomb-{ref.tombstones}")
                slabs.append(new_ref)
        return slabs

    def write_ingest_slab(self, cfg: IndexConfig, namespace: str, records: RecordColumns) -> SlabRef:
        """Write ``records`` (unique ids; their vectors are handed over: the slab's cached view
        keeps them) as a slab for an ``Ingest`` entry, before the entry is logged. Its ``lsn``
        column holds 0: the entry's LSN is the reference's (``min_lsn``/``max_lsn``), known only
        once it is logged."""
        if pc.count_distinct(records.ids).as_py() != len(records):
            raise ValueError("an ingested slab holds each id once")
        slab_id = _new_id(0)
        table = slab_table(records, np.zeros(len(records), dtype=np.int64))
        self._slabs.write_slab(cfg.id, namespace_key(namespace), slab_id, table)
        ref = SlabRef(slab_id, len(records), 0, 0)
        if self._warm:  # the flush that commits it opens it: from memory
            self._local.seed(cfg.id, namespace, ref, cfg.metric, table, records.vectors)
        return ref

    def drop_ingest_slab(self, cfg: IndexConfig, namespace: str, ref: SlabRef) -> None:
        """Delete a slab ``write_ingest_slab`` wrote when its entry could not be logged."""
        self._delete(cfg.id, namespace_key(namespace), [f"slab-{ref.slab_id}"])

    def _shadow(self, index_id: str, ns_key: str, ref: SlabRef, view: SlabView, hidden: np.ndarray) -> SlabRef | None:
        """``ref`` with its live rows ``hidden`` tombstoned (None when no row is left)."""
        if not len(hidden):
            return ref
        alive = view.alive.copy()
        alive[hidden] = False
        live = int(alive.sum())
        if live == 0:
            return None
        name = f"{ref.slab_id}-{uuid.uuid4().hex[:12]}"
        self._slabs.write_tombstones(index_id, ns_key, name, view.data.ids[~alive].tolist())
        return replace(ref, tombstones=name, dead=ref.rows - live)

    # ------------------------------------------------------------------ compaction

    def compact(self, cfg: IndexConfig, namespace: str, *, force: bool = False, settle: bool = False) -> bool:
        """Merge slabs per the policy (or all of them with ``force``; ``settle``: the namespace
        has had no flush for ``settle_s``). Returns True if it did."""
        plan = self.plan_compaction(cfg, namespace, force=force, settle=settle)
        return plan is not None and self.install_compaction(plan)

    def plan_compaction(self, cfg: IndexConfig, namespace: str, *, force: bool = False,
                        settle: bool = False) -> Compaction | None:
        """Write the merged slab (and its ANN index) of the slabs the policy chooses, without
        holding the namespace lock: flushes go on meanwhile, so the log tail stays short while a
        large slab is indexed. ``install_compaction`` then commits it. None: nothing to merge."""
        manifest = self._cache.manifest(cfg.id, namespace)
        chosen = self._choose(manifest, force, settle)
        if not chosen:
            return None
        ns_key = namespace_key(namespace)
        base = self._local.open(cfg.id, namespace, manifest, metric=cfg.metric)
        views = {ref.slab_id: view for ref, view in zip(manifest.slabs, base.views)}
        table = merge_slab_tables([views[ref.slab_id].data.live_rows(views[ref.slab_id].alive) for ref in chosen],
                                  cfg.dimension)
        rows = table.num_rows
        slab_id = _new_id(max(ref.max_lsn for ref in chosen))
        self._slabs.write_slab(cfg.id, ns_key, slab_id, table)
        indexed = cfg.dimension is not None and rows >= self.settings.ann_min_rows
        merged = SlabRef(slab_id, rows, min(r.min_lsn for r in chosen), max(r.max_lsn for r in chosen),
                         indexed=indexed)
        if self._warm:  # here, not at the commit, which holds the namespace lock
            self._local.seed(cfg.id, namespace, merged, cfg.metric, table)
        del table
        try:
            # The merged slab's graph is built before the commit when a replaced slab has one (so
            # queries go from graph to graph), or when searches want one and the ANN index is built
            # anyway: LanceDB builds the index on its own threads (in a child process on the
            # embedded host) and faiss the graph here, both without the GIL, so the merge costs the
            # longer of the two rather than their sum. Otherwise it is queued at the commit.
            replaced = [views[ref.slab_id].data for ref in chosen]
            graph = any(d.graph is not None or (indexed and d.graph_wanted) for d in replaced)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="spruce-ann") as pool:
                index = pool.submit(self._build_index, cfg, namespace, merged) if indexed else None
                if self._warm:
                    self._local.warm(cfg.id, namespace, merged, cfg.metric, graph=graph)
                if index is not None:
                    index.result()
        except BaseException:
            self._local.forget_slabs(cfg.id, {slab_id})  # never committed: no reader needs it
            raise
        return Compaction(cfg, namespace, tuple(chosen), {ref.slab_id: views[ref.slab_id] for ref in chosen}, merged)

    def _build_index(self, cfg: IndexConfig, namespace: str, ref: SlabRef) -> None:
        started = time.monotonic()
        self._slabs.build_vector_index(cfg.id, namespace_key(namespace), ref.slab_id, cfg.metric, ref.rows)
        log.info("built ANN index on %d rows of %s/%s in %.1fs", ref.rows, cfg.name, namespace,
                 time.monotonic() - started)

    def install_compaction(self, plan: Compaction) -> bool:
        """Commit a planned merge on the namespace's current manifest. Writes committed since the
        plan was made shadowed some merged rows in the slabs it replaces (new tombstone sets);
        the same rows are tombstoned in the merged slab, so the commit neither brings back a
        deleted or overwritten record nor loses one. The merge is dropped (False) when a chosen
        slab left the manifest meanwhile (another compaction, a delete-all, every row of it shadowed)."""
        cfg, namespace = plan.cfg, plan.namespace
        ns_key = namespace_key(namespace)
        with self.lock(cfg.id, namespace):
            for _ in range(_INSTALL_ATTEMPTS):
                manifest = self._cache.manifest(cfg.id, namespace)
                current = {ref.slab_id: ref for ref in manifest.slabs}
                chosen = [current.get(ref.slab_id) for ref in plan.chosen]
                if any(ref is None for ref in chosen):
                    break
                merged, written = self._catch_up(plan, manifest, chosen)
                kept = [ref for ref in manifest.slabs if ref.slab_id not in plan.views]
                nxt = manifest.next(slabs=tuple(kept + [merged]))
                if self._commit(cfg, namespace, manifest, nxt, [name for ref in chosen for name in _objects(ref)]):
                    # Free the replaced slabs' matrices (and graphs) now, not at garbage
                    # collection: a query in flight keeps its own references, and a reader of
                    # an older manifest reads them again from their files, kept for the grace period.
                    self._local.forget_slabs(cfg.id, set(plan.views))
                    if self._warm and any(view.data.graph_wanted for view in plan.views.values()):
                        # Searches wanted the replaced slabs' graphs: the merged slab's is queued
                        # now (if the plan did not build it), not at the next search.
                        self._local.want_graph(cfg.id, namespace, merged, cfg.metric)
                    return True
                self._delete(cfg.id, ns_key, written)
            log.info("dropped a merge of %d slabs of %s/%s: the manifest moved on", len(plan.chosen), cfg.name,
                     namespace)
            self._delete(cfg.id, ns_key, [f"slab-{plan.merged.slab_id}"])
            return False

    def _catch_up(self, plan: Compaction, manifest: Manifest, chosen: list[SlabRef]) -> tuple[SlabRef, list[str]]:
        """The merged slab's reference with the rows tombstoned that commits after the plan hid in
        the chosen slabs, and the objects it wrote for that. Some row is always left: a flush
        drops a slab from the manifest once every row of it is hidden."""
        cfg, merged = plan.cfg, plan.merged
        if all(now.tombstones == then.tombstones for now, then in zip(chosen, plan.chosen)):
            return merged, []
        base = self._local.open(cfg.id, plan.namespace, manifest, metric=cfg.metric)
        views = {ref.slab_id: view for ref, view in zip(manifest.slabs, base.views)}
        hidden: list[str] = []
        for ref in chosen:
            then, now = plan.views[ref.slab_id], views[ref.slab_id]
            hidden += then.data.ids[then.alive & ~now.alive].tolist()
        name = f"{merged.slab_id}-{uuid.uuid4().hex[:12]}"
        self._slabs.write_tombstones(cfg.id, namespace_key(plan.namespace), name, hidden)
        return replace(merged, tombstones=name, dead=len(hidden)), [f"tomb-{name}"]

    def _choose(self, manifest: Manifest, force: bool, settle: bool) -> list[SlabRef]:
        s = self.settings
        if force:
            return list(manifest.slabs) if len(manifest.slabs) > 1 or any(
                r.dead or (not r.indexed and r.rows >= s.ann_min_rows) for r in manifest.slabs) else []
        chosen = {r.slab_id: r for r in manifest.slabs if r.dead > s.max_dead_fraction * r.rows}
        small = sorted((r for r in manifest.slabs if not r.indexed), key=lambda r: r.live, reverse=True)
        if sum(r.live for r in small) >= s.ann_min_rows:  # together they make an indexed slab
            chosen.update({r.slab_id: r for r in small})
        elif len(small) >= s.l0_merge_count:  # else the smaller ones, which keeps them under the count
            chosen.update({r.slab_id: r for r in _tier(small, s.l0_share) or small[1:]})
        elif settle:
            chosen.update({r.slab_id: r for r in _tier(small, s.settle_share)})
        # The indexed slabs merge once those besides the largest hold the tier share of it. The slab
        # this merge makes counts among them: were it to make that merge due, the next merge would
        # rewrite it at once, so the tier's slabs join this one instead (at the end of a 1M load the
        # last unindexed rows and the indexed slab become one slab, with one ANN index and one graph).
        made = sum(r.live for r in chosen.values())
        tier = [r for r in manifest.slabs if r.indexed and r.live < s.tier_max_rows and r.slab_id not in chosen]
        sizes = [r.live for r in tier] + ([made] if s.ann_min_rows <= made < s.tier_max_rows else [])
        if len(sizes) > 1 and sum(sizes) - max(sizes) >= s.tier_share * max(sizes):
            chosen.update({r.slab_id: r for r in tier})
        return sorted(chosen.values(), key=lambda r: r.min_lsn)

    # ------------------------------------------------------------------ garbage

    def _commit(self, cfg: IndexConfig, namespace: str, manifest: Manifest, nxt: Manifest,
                retiring: list[str]) -> bool:
        """Commit ``nxt`` with ``retiring`` added to its retired objects; objects retired more
        than the grace period ago are deleted first and leave the list. Deleting before the
        commit means a crash or a lost race can only delete twice (harmless), never leak."""
        now = time.time()
        grace = self.settings.gc_grace_s
        due = [r.name for r in manifest.retired if r.at + grace <= now]
        if due and self._holds(cfg.id):
            due = []
        kept = tuple(r for r in manifest.retired if r.name not in due)
        self._delete(cfg.id, namespace_key(namespace), due)
        nxt = replace(nxt, retired=kept + tuple(Retired(name, now) for name in retiring))
        if self._warm:
            self._local.open(cfg.id, namespace, nxt, metric=cfg.metric)
        return self._manifests.commit_manifest(cfg.id, namespace, manifest.version, nxt.encode())

    def collect_garbage(self, cfg: IndexConfig, namespace: str) -> bool:
        """Delete the namespace's retired objects whose grace period is over (a commit of its
        own, for namespaces no flush or compaction touches). True if it committed."""
        with self.lock(cfg.id, namespace):
            manifest = self._cache.manifest(cfg.id, namespace)
            now = time.time()
            if not any(r.at + self.settings.gc_grace_s <= now for r in manifest.retired) or self._holds(cfg.id):
                return False
            return self._commit(cfg, namespace, manifest, manifest.next(), [])

    def _delete(self, index_id: str, ns_key: str, names: list[str]) -> None:
        for name in names:
            try:
                self._slabs.delete_object(index_id, ns_key, name)
            except Exception:  # already gone (deleted before a lost race, or the index was dropped)
                log.debug("garbage %s/%s/%s already gone", index_id, ns_key, name)
        self._local.forget_slabs(index_id, {n[len("slab-"):] for n in names if n.startswith("slab-")})

    def sweep_orphans(self, cfg: IndexConfig, namespace: str) -> None:
        """Delete objects the manifest neither references nor retired nor an ``Ingest`` entry of
        the log names (left by a crash between writing them and committing or logging them)."""
        manifest = self._cache.manifest(cfg.id, namespace)
        ns_key = namespace_key(namespace)
        live = {name for ref in manifest.slabs for name in _objects(ref)} | {r.name for r in manifest.retired}
        live |= {f"slab-{op.slab_id}" for op in (decode_op(e.kind, e.payload) for e in
                 self._log.read_tail(cfg.id, namespace, manifest.flushed_lsn).entries if e.kind == "ingest")}
        try:
            stored = self._slabs.list_objects(cfg.id, ns_key)
        except Exception:
            return
        for name in stored:
            if name not in live:
                self._slabs.delete_object(cfg.id, ns_key, name)

    # ------------------------------------------------------------------ backups

    def copy_out(self, cfg: IndexConfig, namespace: str, backup_id: str) -> tuple[Manifest, int]:
        """Flush every write acknowledged before this call, copy the objects of the manifest that
        holds them under ``backup_id`` and store that manifest there; returns it and the bytes
        copied. Idempotent (a retried copy writes the same bytes and finds the same manifest)."""
        row = self._log.namespace(cfg.id, namespace)
        self.flush_through(cfg, namespace, row.last_lsn if row else 0)
        ns_key = namespace_key(namespace)
        with self.lock(cfg.id, namespace):
            manifest = self._cache.manifest(cfg.id, namespace)  # flushed at least as far: it only grows
            copy = replace(manifest, retired=())
            size = sum(self._slabs.copy_object(cfg.id, ns_key, name, backup_id)
                       for ref in copy.slabs for name in _objects(ref))
        self._install(backup_id, namespace, copy)
        return copy, size

    def copy_in(self, cfg: IndexConfig, namespace: str, backup_id: str, schema: bytes | None) -> Manifest:
        """Copy a backed-up namespace's objects into ``cfg``'s (new) index, commit its manifest
        there as the first, and create the namespace with ``schema`` and its LSN counter where the
        backup's stopped. Idempotent, for retried restore steps."""
        stored = self._manifests.load_manifest(backup_id, namespace)
        if stored is None:
            raise RuntimeError(f"backup {backup_id} holds no manifest for namespace {namespace!r}")
        manifest = Manifest.decode(*stored)
        ns_key = namespace_key(namespace)
        with self.lock(cfg.id, namespace):
            for ref in manifest.slabs:
                for name in _objects(ref):
                    self._slabs.copy_object(backup_id, ns_key, name, cfg.id)
            self._install(cfg.id, namespace, manifest)
            if not self._log.restore_namespace(cfg.id, namespace, manifest.flushed_lsn, schema):
                row = self._log.namespace(cfg.id, namespace)
                if row is None or (row.last_lsn, row.exists, row.schema) != (manifest.flushed_lsn, True, schema):
                    raise RuntimeError(f"namespace {namespace!r} of {cfg.name} was written during its restore")
        return manifest

    def _install(self, index_id: str, namespace: str, manifest: Manifest) -> None:
        body = manifest.encode()
        if not self._manifests.commit_manifest(index_id, namespace, 0, body):
            stored = self._manifests.load_manifest(index_id, namespace)
            if stored is None or stored[1] != body:
                raise RuntimeError(f"{index_id}/{namespace!r} already has another manifest")

    # ------------------------------------------------------------------ scheduling

    def due(self, key: tuple[str, str], tail_records: int) -> bool:
        now = time.monotonic()
        first = self._first_seen.setdefault(key, now)
        return tail_records >= self.settings.flush_records or now - first >= self.settings.flush_interval_s

    def flushed(self, key: tuple[str, str]) -> None:
        self._first_seen.pop(key, None)


class ShadowedIds:
    """Ids a write wrote, to find among the live rows of the older slabs it shadows. In a slab
    much larger than the set, each id is looked up in the slab's id → row dict; otherwise the
    slabs' ids are matched all at once by Arrow (``is_in`` hashes the set once, then scans the
    ids without the GIL). Each 50k-row chunk of a 1M-row import looked up one id at a time in
    the chunks before it took 1.3 s of the import's 7–10 s, holding the GIL its parsing of the
    next chunk needed (py-spy, 2026-12-06)."""

    #: A slab is probed id by id when it holds more than this many rows per id.
    PROBE_ROWS_PER_ID = 4

    def __init__(self, ids: set[str] | pa.Array) -> None:
        self._ids: set[str] | list[str] | pa.Array = ids

    def rows_in(self, views: list[SlabView]) -> list[np.ndarray]:
        """For each view, its live rows whose id is in the set (int64 row numbers)."""
        if not len(self._ids):
            return [_NO_ROWS] * len(views)
        scan = [v.data.rows < self.PROBE_ROWS_PER_ID * len(self._ids) for v in views]
        scanned = iter(self._scan([v for v, s in zip(views, scan) if s]))
        return [next(scanned) if s else self._probe(v) for v, s in zip(views, scan)]

    def _scan(self, views: list[SlabView]) -> list[np.ndarray]:
        if not views:
            return []
        values = self._ids if isinstance(self._ids, pa.Array) else pa.array(list(self._ids), pa.string())
        mask = pc.is_in(pa.chunked_array([v.data.id_array for v in views], pa.string()), value_set=values).to_numpy()
        bounds = np.cumsum([0] + [v.data.rows for v in views])
        return [np.flatnonzero(mask[a:b] & v.alive) for v, a, b in zip(views, bounds[:-1], bounds[1:])]

    def _probe(self, view: SlabView) -> np.ndarray:
        if isinstance(self._ids, pa.Array):  # once: later probes reuse the Python strings
            self._ids = self._ids.to_pylist()
        hit = np.fromiter((r for r in map(view.data.id_to_row.get, self._ids) if r is not None), dtype=np.int64)
        return hit[view.alive[hit]]


_NO_ROWS = np.empty(0, dtype=np.int64)


@dataclass(slots=True)
class Compaction:
    """A merged slab written but not yet committed: the slabs it replaces as the plan saw them
    (references and views, whose alive masks say which rows it holds)."""

    cfg: IndexConfig
    namespace: str
    chosen: tuple[SlabRef, ...]
    views: dict[str, SlabView]  # by slab id
    merged: SlabRef


def _tier(slabs: list[SlabRef], share: float) -> list[SlabRef]:
    """``slabs`` (largest first) from the first one that the slabs after it hold ``share`` of
    (in live rows); empty when none is."""
    after = sum(r.live for r in slabs)
    for i, ref in enumerate(slabs[:-1]):
        after -= ref.live
        if after >= share * ref.live:
            return slabs[i:]
    return []


def _new_id(lsn: int) -> str:
    return f"{lsn:016d}-{uuid.uuid4().hex[:12]}"


def _objects(ref: SlabRef) -> list[str]:
    """Storage object names a slab reference keeps alive."""
    return [f"slab-{ref.slab_id}"] + ([f"tomb-{ref.tombstones}"] if ref.tombstones else [])
