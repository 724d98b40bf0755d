"""The ``compaction`` workflow: compact namespaces and collect their garbage, one after another
(``Builder.compact``, as for a settled namespace: merge small slabs, unless the smaller ones
hold under ``settle_share`` of the largest, and slabs that lost many rows, build the ANN index
of a large merged slab, swap the manifest with one conditional commit; then
``Builder.collect_garbage``: delete retired objects past the readers' grace period unless a
backup holds the index).

Input ``{"index": name, "namespaces": [...] (optional: every existing one), "force": bool
(optional: merge everything)}``; without ``index``, every ready index's namespaces, in name
order (the AWS stack starts such a sweep on a schedule: there no builder waits for a namespace
to go quiet, so this is where a bulk load settles; an index deleted during the sweep is passed
over, not counted as a failure). A namespace that fails is recorded in
``failed`` and the others go on; the ``report`` step then fails the run so that alarms see it.
On AWS this is the compaction state machine; the embedded host runs the same steps in-process
(its background builder also compacts by policy after each flush, through the same ``Builder``
calls).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from spruce.engine.model import IndexConfig
from spruce.engine.service import Spruce
from spruce.jobs.workflow import JobHost, State, Step, Workflow, register

log = logging.getLogger("spruce.jobs")

WORKFLOW = "compaction"
#: Failures kept in the state (Step Functions passes at most 256 KB between states).
MAX_FAILURES_KEPT = 20
#: A step takes on another namespace while it has worked less than this (a Lambda task has 15
#: minutes; one large merge with its ANN index build takes a few).
STEP_BUDGET_S = 60.0


class CompactionIncomplete(Exception):
    """At least one namespace failed; the others were compacted."""


def _compact_namespace(host: JobHost, state: State) -> State:
    """Compact namespaces in (index, namespace) order from the cursor ``after`` until none is left
    or the step has worked ``STEP_BUDGET_S``: a sweep pays one invocation per step, not per namespace."""
    engine, builder = host.engine, host.engine.builder
    if builder is None:
        raise RuntimeError("compaction runs on a host that builds slabs")
    done = dict(state)
    started = time.monotonic()
    for cfg, namespace in _pending(engine, state):
        if host.stopping.is_set():  # the embedded server is stopping; compaction is never urgent
            break
        try:
            # Started by hand, or on a schedule: the namespace settles (``BuilderSettings.settle_share``).
            if builder.compact(cfg, namespace, force=bool(done.get("force", False)), settle=True):
                done["compacted"] = done.get("compacted", 0) + 1
            builder.collect_garbage(cfg, namespace)
        except Exception as exc:  # one namespace's failure must not stop the others
            if "index" not in done and engine.index_if_same(cfg.name, cfg.id) is None:
                # The sweep listed an index that was deleted while it ran: nothing is left to compact.
                log.info("skipped %s/%s: the index was deleted during the sweep (%s)", cfg.name, namespace, exc)
            else:
                log.exception("compacting %s/%s failed", cfg.name, namespace)
                done["failures"] = done.get("failures", 0) + 1
                failed = done.get("failed", [])
                if len(failed) < MAX_FAILURES_KEPT:
                    where = {"namespace": namespace} if "index" in done else {"index": cfg.name, "namespace": namespace}
                    failed = failed + [{**where, "error": f"{type(exc).__name__}: {exc}"}]
                done["failed"] = failed
        done["after"] = namespace if "index" in done else [cfg.name, namespace]
        if time.monotonic() - started >= STEP_BUDGET_S:
            return {**done, "more": True}  # the next step finds out whether any is left
    return {**done, "more": False}


def _pending(engine: Spruce, state: State) -> Iterator[tuple[IndexConfig, str]]:
    """The namespaces after the cursor ``state["after"]``, in order: of ``state["index"]`` (its
    ``namespaces``, or every existing one), or, without ``index``, of every ready index in name
    order. Listed once per step (each index's namespaces when the step reaches it), not once
    per namespace."""
    after = state.get("after")
    if "index" in state:
        cfg = engine.describe_index(state["index"])
        wanted = state.get("namespaces") or [r.name for r in engine.namespace_rows(cfg) if r.exists]
        yield from ((cfg, n) for n in sorted(wanted) if after is None or n > after)
        return
    after_index, after_ns = after if after is not None else ("", None)
    for cfg in sorted(engine.list_indexes(), key=lambda c: c.name):
        if cfg.name < after_index or cfg.state != "Ready":
            continue
        names = sorted(r.name for r in engine.namespace_rows(cfg) if r.exists)
        yield from ((cfg, n) for n in names if cfg.name > after_index or after_ns is None or n > after_ns)


def _report(host: JobHost, state: State) -> State:
    if state.get("failures"):
        first = state["failed"][0]
        where = repr(first["namespace"]) if "index" in state else f"{first['index']}/{first['namespace']!r}"
        raise CompactionIncomplete(f"{state['failures']} namespace(s) of {state.get('index', 'the indexes')} "
                                   f"failed, e.g. {where}: {first['error']}")
    return {**state, "more": False}


def _failed(host: JobHost, state: State, error: str) -> None:
    """Compaction keeps no job document: the failed execution (and its alarm) is the record."""
    log.error("compaction of %s failed: %s", state.get("index", "every index"), error)


COMPACTION = register(Workflow(WORKFLOW, (Step("compact_namespace", _compact_namespace, repeats=True),
                                          Step("report", _report)), on_failure=_failed))
