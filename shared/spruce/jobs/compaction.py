"""The ``compaction`` workflow: compact an index's namespaces and collect their garbage, one
namespace per step (``Builder.compact``, as for a settled namespace: merge small slabs, unless
the smaller ones hold under ``settle_share`` of the largest, and slabs that lost many rows, build the
ANN index of a large merged slab, swap the manifest with one conditional commit; then
``Builder.collect_garbage``: delete retired objects past the readers' grace period unless a
backup holds the index).

Input ``{"index": name, "namespaces": [...] (optional: every existing one), "force": bool
(optional: merge everything)}``. A namespace that fails is recorded in ``failed`` and the others
go on; the ``report`` step then fails the run so that alarms see it. On AWS this is the
compaction state machine; the embedded host runs the same steps in-process (its background
builder also compacts by policy after each flush, through the same ``Builder`` calls).
"""

from __future__ import annotations

import logging

from spruce.jobs.workflow import JobHost, State, Step, Workflow, register

log = logging.getLogger("spruce.jobs")

WORKFLOW = "compaction"
#: Failures kept in the state (Step Functions passes at most 256 KB between states).
MAX_FAILURES_KEPT = 20


class CompactionIncomplete(Exception):
    """At least one namespace failed; the others were compacted."""


def _compact_namespace(host: JobHost, state: State) -> State:
    if host.stopping.is_set():  # the embedded server is stopping; compaction is never urgent
        return {**state, "more": False}
    engine, builder = host.engine, host.engine.builder
    if builder is None:
        raise RuntimeError("compaction runs on a host that builds slabs")
    cfg = engine.describe_index(state["index"])
    wanted = state.get("namespaces") or [r.name for r in engine.namespace_rows(cfg) if r.exists]
    after = state.get("after")
    pending = sorted(n for n in wanted if after is None or n > after)
    if not pending:
        return {**state, "more": False}
    namespace = pending[0]
    done = dict(state)
    try:
        # Started by hand, or on a schedule: the namespace settles (``BuilderSettings.settle_share``).
        if builder.compact(cfg, namespace, force=bool(state.get("force", False)), settle=True):
            done["compacted"] = state.get("compacted", 0) + 1
        builder.collect_garbage(cfg, namespace)
    except Exception as exc:  # one namespace's failure must not stop the others
        log.exception("compacting %s/%s failed", cfg.name, namespace)
        done["failures"] = state.get("failures", 0) + 1
        failed = state.get("failed", [])
        if len(failed) < MAX_FAILURES_KEPT:
            failed = failed + [{"namespace": namespace, "error": f"{type(exc).__name__}: {exc}"}]
        done["failed"] = failed
    return {**done, "after": namespace, "more": len(pending) > 1}


def _report(host: JobHost, state: State) -> State:
    if state.get("failures"):
        raise CompactionIncomplete(f"{state['failures']} namespace(s) of {state['index']} failed, e.g. "
                                   f"{state['failed'][0]['namespace']!r}: {state['failed'][0]['error']}")
    return {**state, "more": False}


def _failed(host: JobHost, state: State, error: str) -> None:
    """Compaction keeps no job document: the failed execution (and its alarm) is the record."""
    log.error("compaction of %s failed: %s", state.get("index"), error)


COMPACTION = register(Workflow(WORKFLOW, (Step("compact_namespace", _compact_namespace, repeats=True),
                                          Step("report", _report)), on_failure=_failed))
