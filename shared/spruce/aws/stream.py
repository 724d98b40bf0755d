"""The index builder's input: batches of the request log's DynamoDB stream.

The stream is ordered per partition key, and a log partition is one namespace, so a batch
names namespaces with new entries in order. The builder does not trust the batch's
content: it flushes each namespace's whole tail from the log, so a redelivered or
overlapping batch finds nothing new and changes nothing (idempotent by construction).
"""

from __future__ import annotations

import logging
from typing import Any

from spruce.engine.service import Spruce
from spruce.errors import NotFoundError

log = logging.getLogger("spruce.builder")


def namespaces_in(event: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """(index id, namespace) → sequence numbers of its new entries, in stream order. Only
    inserts count: MODIFY (truncation stamping TTL) and REMOVE (TTL expiry) carry no writes."""
    found: dict[tuple[str, str], list[str]] = {}
    for record in event.get("Records", []):
        if record.get("eventName") != "INSERT":
            continue
        change = record["dynamodb"]
        index_id, _, namespace = change["Keys"]["stream"]["S"].partition("#")
        found.setdefault((index_id, namespace), []).append(change["SequenceNumber"])
    return found


def build(engine: Spruce, event: dict[str, Any]) -> dict[str, Any]:
    """Flush (then compact, by policy, and collect garbage) every namespace in the batch. A namespace that fails
    is reported with its sequence numbers so Lambda retries from there; the others are done."""
    builder = engine.builder
    if builder is None:
        raise RuntimeError("the index builder needs an engine that builds slabs")
    pending = namespaces_in(event)
    by_id = {cfg.id: cfg for cfg in engine.list_indexes()} if pending else {}
    failures: list[dict[str, str]] = []
    for (index_id, namespace), sequence_numbers in pending.items():
        cfg = by_id.get(index_id)
        if cfg is None:
            continue  # the index was deleted: its log went with it
        try:
            # Compact even when the flush found nothing: a bulk import's task commits its own
            # slabs (``Spruce.ingest``), and this is where they merge. Nothing due costs one read.
            builder.flush(cfg, namespace)
            builder.compact(cfg, namespace)
            builder.collect_garbage(cfg, namespace)
        except NotFoundError:
            continue
        except Exception:
            log.exception("building %s/%s failed; the batch will be retried", cfg.name, namespace)
            failures += [{"itemIdentifier": seq} for seq in sequence_numbers]
    return {"batchItemFailures": failures}
