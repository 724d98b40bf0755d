"""Slabs read by query executors: the data-plane router's ``SlabReader``.

The router (an API Lambda that never imports LanceDB or pyarrow) splits a manifest's slabs
into groups of about ``group_rows`` rows, sends each group's question to an executor (a
Lambda with the slabs cached on EFS, see ``executor.serve``) in parallel, and merges the
answers; the log tail never leaves the router. A question carries the slab references
(immutable, so an executor may serve them from any cache) and the ids the tail hides.

Messages are JSON (orjson); vectors travel as base64 little-endian float32 (``records.encode_record``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

import orjson

from spruce.engine.base import Hidden, Hit
from spruce.engine.filters import Filter
from spruce.engine.manifest import Manifest, SlabRef
from spruce.engine.records import Record, decode_record, encode_record
from spruce.engine.scoring import ResolvedQuery, higher_is_better

#: Sends one request to an executor and returns its reply (both JSON bytes).
Invoke = Callable[[bytes], bytes]

#: Default rows per executor group: an executor holding this many 1536-d vectors in RAM
#: needs ~6 GB; ANN-indexed slabs keep no matrix, so they are cheap to group.
DEFAULT_GROUP_ROWS = 1_000_000


class ExecutorError(RuntimeError):
    """An executor failed to answer (the read fails with 500; nothing was written)."""


def group_slabs(slabs: Sequence[SlabRef], group_rows: int) -> list[list[SlabRef]]:
    """Consecutive slabs, cut into groups of at most ``group_rows`` rows (a larger slab
    forms a group of its own)."""
    groups: list[list[SlabRef]] = []
    rows = 0
    for ref in slabs:
        if groups and rows + ref.rows <= group_rows:
            groups[-1].append(ref)
            rows += ref.rows
        else:
            groups.append([ref])
            rows = ref.rows
    return groups


class RemoteSlabs:
    """``SlabAccess`` through executors. Holds no slab state: executors cache the slabs."""

    def __init__(self, invoke: Invoke, *, group_rows: int = DEFAULT_GROUP_ROWS, max_parallel: int = 16) -> None:
        self._invoke = invoke
        self._group_rows = group_rows
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="spruce-fanout")

    def open(self, index_id: str, namespace: str, manifest: Manifest, *, metric: str,
             dimension: int | None) -> RemoteSlabSet:
        return RemoteSlabSet(self, index_id, namespace, manifest, metric, dimension)

    def forget_slabs(self, index_id: str, slab_ids: set[str]) -> None:
        """Nothing cached here."""

    def forget_index(self, index_id: str) -> None:
        """Nothing cached here."""

    def call_all(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send each request to an executor (in parallel when there are several)."""
        if len(requests) == 1:
            return [self._call(requests[0])]
        return list(self._pool.map(self._call, requests))

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        reply = orjson.loads(self._invoke(orjson.dumps(request)))
        if "error" in reply:
            raise ExecutorError(f"query executor failed: {reply['error']}")
        return reply


class RemoteSlabSet:
    """A manifest's slabs as executors see them (a ``SlabReader``)."""

    def __init__(self, remote: RemoteSlabs, index_id: str, namespace: str, manifest: Manifest, metric: str,
                 dimension: int | None) -> None:
        self._remote = remote
        self._metric = metric
        self._groups = group_slabs(manifest.slabs, remote._group_rows)
        self._group_of = {ref.slab_id: i for i, refs in enumerate(self._groups) for ref in refs}
        self._slab_docs = [[asdict(ref) for ref in refs] for refs in self._groups]
        self._head = {"index_id": index_id, "namespace": namespace, "metric": metric, "dimension": dimension}
        self.live_count = sum(ref.live for ref in manifest.slabs)

    def _ask(self, op: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Ask every group the same question."""
        return self._send(op, [(g, args) for g in range(len(self._groups))])

    def _send(self, op: str, per_group: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
        requests = [{**self._head, "op": op, "slabs": self._slab_docs[g], "args": args} for g, args in per_group]
        return self._remote.call_all(requests) if requests else []

    def get(self, ids: Sequence[str], *, values: bool = True, metadata: bool = True) -> dict[str, Record]:
        if not ids:
            return {}
        out: dict[str, Record] = {}
        for reply in self._ask("get", {"ids": list(ids), "values": values, "metadata": metadata}):
            for d in reply["records"]:
                out.setdefault(d["i"], decode_record(d))  # a live id has one live row in the whole set
        return out

    def count_present(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        return sum(reply["count"] for reply in self._ask("count_present", {"ids": list(ids)}))

    def ids_matching(self, flt: Filter) -> set[str]:
        return {rid for reply in self._ask("ids_matching", {"filter": flt.document}) for rid in reply["ids"]}

    def search(self, q: ResolvedQuery, k: int, flt: Filter | None, hidden: Hidden) -> list[Hit]:
        args = {"query": encode_query(q), "k": k, "filter": None if flt is None else flt.document,
                "hidden": sorted(hidden.ids)}
        return [Hit(score, rid, slab_id, row)
                for reply in self._ask("search", args) for score, rid, slab_id, row in reply["hits"]]

    def read_hits(self, hits: Sequence[Hit], *, values: bool, metadata: bool) -> list[Record]:
        by_group: dict[int, list[int]] = {}
        for i, h in enumerate(hits):
            by_group.setdefault(self._group_of[h.slab_id], []).append(i)
        groups = list(by_group)
        replies = self._send("read_hits", [
            (g, {"hits": [[hits[i].slab_id, hits[i].row] for i in by_group[g]], "values": values,
                 "metadata": metadata}) for g in groups])
        out: list[Record | None] = [None] * len(hits)
        for g, reply in zip(groups, replies):
            for i, d in zip(by_group[g], reply["records"]):
                out[i] = decode_record(d)
        return out  # type: ignore[return-value]  # every position was filled by its group

    def list_ids(self, prefix: str, after: str | None, want: int, hidden: Hidden) -> list[str]:
        replies = self._ask("list_ids", {"prefix": prefix, "after": after, "want": want, "hidden": sorted(hidden.ids)})
        return list(heapq.merge(*(reply["ids"] for reply in replies)))[:want]

    def matching_ids(self, flt: Filter, hidden: Hidden) -> list[str]:
        replies = self._ask("matching_ids", {"filter": flt.document, "hidden": sorted(hidden.ids)})
        return [rid for reply in replies for rid in reply["ids"]]

    def metadata_keys(self, hidden: Hidden) -> set[str]:
        return {key for reply in self._ask("metadata_keys", {"hidden": sorted(hidden.ids)}) for key in reply["keys"]}


def encode_query(q: ResolvedQuery) -> dict[str, Any]:
    body = encode_record(Record("", q.dense, q.sparse))
    body.update({"n": float(q.norm), "scan": q.scan_factor, "max": q.max_candidates})
    return body


def decode_query(d: dict[str, Any]) -> ResolvedQuery:
    rec = decode_record({**d, "i": ""})
    return ResolvedQuery(rec.values, d["n"], rec.sparse, d["scan"], d["max"])


def best_hits(hits: list[Hit], k: int, metric: str) -> list[Hit]:
    """The ``k`` best hits, ties broken by id (the order the snapshot merges in)."""
    sign = -1.0 if higher_is_better(metric) else 1.0
    return heapq.nsmallest(k, hits, key=lambda h: (sign * h.score, h.id))
