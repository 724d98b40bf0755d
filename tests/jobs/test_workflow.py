"""The workflow frame: steps in order, repeating steps, failures recorded, one run per execution name."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from spruce.jobs.workflow import InProcessRunner, Step, Workflow, register, run_step


def _count(host: Any, state: dict) -> dict:
    done = state.get("done", 0) + 1
    host.seen.append(("count", done))
    return {**state, "done": done, "more": done < state["chunks"]}


def _finish(host: Any, state: dict) -> dict:
    if state.get("explode"):
        raise RuntimeError("disk on fire")
    host.seen.append(("finish", state["done"]))
    return {**state, "finished": True}


class Host:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.failures: list[tuple[dict, str]] = []
        self.stopping = threading.Event()


COUNTING = register(Workflow("test-counting", (Step("count", _count, repeats=True), Step("finish", _finish)),
                             on_failure=lambda host, state, error: host.failures.append((state, error))))


def test_steps_run_in_order_and_a_repeating_step_runs_until_done():
    host = Host()
    runner = InProcessRunner(lambda: host)
    runner.start("test-counting", "run-1", {"chunks": 3})
    assert runner.wait("run-1", timeout=10)["finished"] is True
    assert host.seen == [("count", 1), ("count", 2), ("count", 3), ("finish", 3)]
    assert host.failures == []
    runner.close()


def test_a_failing_step_is_recorded_with_the_last_state():
    host = Host()
    runner = InProcessRunner(lambda: host)
    runner.start("test-counting", "run-2", {"chunks": 2, "explode": True})
    runner.wait("run-2", timeout=10)
    [(state, error)] = host.failures
    assert state["done"] == 2 and error == "RuntimeError: disk on fire"
    runner.close()


def test_an_execution_name_runs_once():
    host = Host()
    gate = threading.Event()
    runner = InProcessRunner(lambda: host)
    register(Workflow("test-gated", (Step("wait", lambda h, s: (gate.wait(5), s)[1]), Step("mark", _mark)),
                      on_failure=lambda *a: None))
    runner.start("test-gated", "same", {})
    runner.start("test-gated", "same", {})
    gate.set()
    runner.wait("same", timeout=10)
    runner.close()
    assert host.seen == [("mark", None)]


def _mark(host: Any, state: dict) -> dict:
    host.seen.append(("mark", None))
    return state


def test_run_step_is_one_call_of_one_step_as_a_lambda_task_makes_it():
    host = Host()
    assert run_step(host, "test-counting", "count", {"chunks": 5}) == {"chunks": 5, "done": 1, "more": True}
    with pytest.raises(KeyError):
        run_step(host, "test-counting", "nope", {})


def test_closing_the_runner_asks_running_workflows_to_stop():
    host = Host()
    runner = InProcessRunner(lambda: host)
    runner.close()
    assert host.stopping.is_set()
