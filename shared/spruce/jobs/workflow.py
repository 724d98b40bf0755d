"""One definition of each workflow, run in-process by the embedded host and by Step Functions on AWS.

A ``Workflow`` is an ordered tuple of ``Step``s. A step is a function ``(host, state) -> state``
over JSON-able state. A *repeating* step does one bounded chunk of work per call and returns
``{"more": True, ...}`` to be called again, so no call nears Lambda's 15-minute limit and a cancel
is noticed between chunks.

- Embedded: ``InProcessRunner`` runs each started workflow on a background thread, step by step.
- AWS: the stack builds one state machine per workflow from the same definition (one Lambda task
  per step, a Choice looping a repeating step while ``$.more``), and the task handler calls
  ``run_step`` with the step's name.

When a step raises, the runner (or the state machine's catch) calls the workflow's ``on_failure``
with the last state and the error text, so the job's document records ``Failed`` and why.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from spruce.engine.model import IndexConfig
from spruce.engine.service import Spruce
from spruce.errors import UnavailableError
from spruce.storage.ports import JobStore

log = logging.getLogger("spruce.jobs")

State = dict[str, Any]


class Launcher(Protocol):
    def start(self, workflow: str, execution: str, state: State) -> None:
        """Start ``workflow`` on ``state``. ``execution`` names this run; starting the same name
        twice runs it once (Step Functions execution names; the runner's own set)."""


@dataclass
class JobHost:
    """What steps run against: the engine, the job documents, and how to start workflows.
    Hosts subclass it to add what their steps need (a file system, an S3 client, ...)."""

    engine: Spruce
    jobs: JobStore
    launcher: Launcher
    #: Steps may read and write this machine's files (``file://`` URIs, paths): the embedded host only.
    local_files: bool = False
    #: Set when the host shuts down: a repeating step returns early and leaves the job's persisted
    #: progress for the next start to resume (a Lambda task never sees it set).
    stopping: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Any, State], State]
    repeats: bool = False


@dataclass(frozen=True)
class Workflow:
    name: str
    steps: tuple[Step, ...]
    on_failure: Callable[[Any, State, str], None]

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"workflow {self.name} has no step {name}")


class JobFailed(Exception):
    """The user's mistake found while a step runs (a bad file, an existing namespace): the job
    fails at once with this message. State machines do not retry it (other errors they retry)."""


REGISTRY: dict[str, Workflow] = {}


def register(workflow: Workflow) -> Workflow:
    if workflow.name in REGISTRY and REGISTRY[workflow.name] is not workflow:
        raise ValueError(f"workflow {workflow.name} is defined twice")
    REGISTRY[workflow.name] = workflow
    return workflow


def start_or_fail(host: JobHost, workflow: str, execution: str, state: State,
                  record_failure: Callable[[str], None]) -> None:
    """Start a job's workflow. A job must not stay Pending with nothing running it: if the start
    fails, ``record_failure`` marks the job Failed with why, and the caller answers 503."""
    try:
        host.launcher.start(workflow, execution, state)
    except Exception as exc:
        record_failure(f"could not start the {workflow} workflow: {type(exc).__name__}: {exc}")
        raise UnavailableError(f"Could not start the {workflow} workflow ({type(exc).__name__}); retry later.") from exc


def live_index(host: JobHost, name: str, index_id: str, gone: Exception) -> IndexConfig:
    """The index ``name`` if it is still the one with ``index_id`` (not deleted, nor deleted and
    created again under the same name); otherwise raises ``gone``."""
    cfg = host.engine.index_if_same(name, index_id)
    if cfg is None:
        raise gone
    return cfg


def run_step(host: JobHost, workflow: str, step: str, state: State) -> State:
    """Run one step once (the Lambda task's body)."""
    return REGISTRY[workflow].step(step).run(host, state)


def fail(host: JobHost, workflow: str, state: State, error: str) -> None:
    """Record a failed run (the state machine's catch calls this through the task handler)."""
    REGISTRY[workflow].on_failure(host, state, error)


def failure_text(error: dict[str, Any]) -> str:
    """A state machine catch's ``{"Error", "Cause"}`` as ``run_to_end`` words a failure:
    ``"<exception type>: <message>"`` (Lambda puts a Python exception's type and message in
    ``Cause`` as JSON; Step Functions' own errors, such as ``States.Timeout``, carry plain text)."""
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return f"{parsed.get('errorType') or error.get('Error')}: {parsed['errorMessage']}"
    return f"{error.get('Error', 'Error')}: {cause}".rstrip(": ")


def run_to_end(host: JobHost, workflow: Workflow, state: State) -> State:
    """Every step in order, a repeating one while it reports ``more``; failures go to ``on_failure``."""
    try:
        for step in workflow.steps:
            state = step.run(host, state)
            while step.repeats and state.get("more"):
                state = step.run(host, state)
        return state
    except Exception as exc:  # the job document must say Failed, whatever went wrong
        log.exception("workflow %s failed", workflow.name)
        workflow.on_failure(host, state, f"{type(exc).__name__}: {exc}")
        return state


class InProcessRunner:
    """The embedded host's launcher: runs workflows on a small thread pool in this process."""

    def __init__(self, host: Callable[[], JobHost], *, max_workers: int = 2) -> None:
        self._host = host
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="spruce-job")
        self._lock = threading.Lock()
        self._runs: dict[str, Future[State]] = {}

    def start(self, workflow: str, execution: str, state: State) -> None:
        with self._lock:
            if execution in self._runs:
                return
            self._runs[execution] = self._pool.submit(run_to_end, self._host(), REGISTRY[workflow], state)

    def wait(self, execution: str, timeout: float | None = None) -> State:
        """Block until a run ends (tests, the CLI)."""
        with self._lock:
            future = self._runs[execution]
        return future.result(timeout)

    def close(self) -> None:
        """Ask running workflows to stop (``JobHost.stopping``: they return between chunks, their
        progress saved) and wait for them; runs not yet started are dropped. The next start of
        the host resumes both from their job documents."""
        self._host().stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
