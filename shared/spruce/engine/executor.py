"""The query executor: answers one router question (``remote.RemoteSlabSet``) about one
group of slabs, read in this process through ``LocalSlabs`` (on AWS: from the EFS cache).

Requests and replies are JSON documents (the Lambda runtime decodes and encodes them). A
reply is ``{"error": ...}`` instead of raising, so the router can tell an executor's
failure from a transport failure and fail the read cleanly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from spruce.engine.base import Hidden, Hit
from spruce.engine.filters import parse_filter
from spruce.engine.manifest import Manifest, SlabRef
from spruce.engine.records import encode_record
from spruce.engine.remote import best_hits, decode_query
from spruce.engine.slabset import LocalSlabs, SlabSet

log = logging.getLogger("spruce.executor")


def serve(slabs: LocalSlabs, req: dict[str, Any]) -> dict[str, Any]:
    """Answer one request (a decoded JSON document; the reply is JSON-ready)."""
    try:
        manifest = Manifest(slabs=tuple(SlabRef(**d) for d in req["slabs"]))
        try:
            reply = _answer(slabs, req, manifest)
        except (OSError, RuntimeError):
            # A cached slab copy can vanish under a long-lived handle (another executor evicted
            # it from the shared cache): forget our views of these slabs, re-open once.
            slabs.forget_slabs(req["index_id"], {ref.slab_id for ref in manifest.slabs})
            reply = _answer(slabs, req, manifest)
    except Exception as exc:  # reported to the router, which fails the read with a 500
        log.exception("executor request failed")
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    return reply


def _answer(slabs: LocalSlabs, req: dict[str, Any], manifest: Manifest) -> dict[str, Any]:
    slab_set = slabs.open(req["index_id"], req["namespace"], manifest, metric=req["metric"],
                          dimension=req["dimension"])
    return _OPS[req["op"]](slab_set, req["args"])


def _hidden(args: dict[str, Any]) -> Hidden:
    return Hidden(frozenset(args["hidden"]))


def _get(s: SlabSet, a: dict[str, Any]) -> dict[str, Any]:
    found = s.get(a["ids"], values=a["values"], metadata=a["metadata"])
    return {"records": [encode_record(rec) for rec in found.values()]}


def _search(s: SlabSet, a: dict[str, Any]) -> dict[str, Any]:
    hits = s.search(decode_query(a["query"]), a["k"], parse_filter(a["filter"], internal=True), _hidden(a))
    return {"hits": [[h.score, h.id, h.slab_id, h.row] for h in best_hits(hits, a["k"], s.metric)]}


def _read_hits(s: SlabSet, a: dict[str, Any]) -> dict[str, Any]:
    hits = [Hit(0.0, "", slab_id, row) for slab_id, row in a["hits"]]
    return {"records": [encode_record(rec) for rec in s.read_hits(hits, values=a["values"],
                                                                   metadata=a["metadata"])]}


_OPS: dict[str, Callable[[SlabSet, dict[str, Any]], dict[str, Any]]] = {
    "get": _get,
    "count_present": lambda s, a: {"count": s.count_present(a["ids"])},
    "ids_matching": lambda s, a: {"ids": sorted(s.ids_matching(parse_filter(a["filter"], internal=True)))},
    "search": _search,
    "read_hits": _read_hits,
    "list_ids": lambda s, a: {"ids": s.list_ids(a["prefix"], a["after"], a["want"], _hidden(a))},
    "matching_ids": lambda s, a: {"ids": s.matching_ids(parse_filter(a["filter"], internal=True), _hidden(a))},
    "metadata_keys": lambda s, a: {"keys": sorted(s.metadata_keys(_hidden(a)))},
}
