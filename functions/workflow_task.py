"""Workflow task: one step of a ``spruce.jobs.workflow.Workflow`` (the state machines the stack
builds from the same definitions the embedded host runs in-process).

Input ``{"workflow", "step", "state"}`` → the step's new state; ``{"workflow", "state", "error"}``
(the state machine's catch, ``error`` = ``{"Error", "Cause"}``) → the workflow's ``on_failure``.
"""

from typing import Any

import spruce.jobs.backups  # noqa: F401  (registers backup)
import spruce.jobs.compaction  # noqa: F401  (registers compaction)
import spruce.jobs.export  # noqa: F401  (registers bulk-export)
import spruce.jobs.imports  # noqa: F401  (registers bulk-import)
import spruce.jobs.restores  # noqa: F401  (registers restore)
from spruce.arrow_memory import use_jemalloc
from spruce.aws.launcher import aws_job_host
from spruce.aws.settings import AwsSettings
from spruce.aws.workers import builder_engine
from spruce.jobs.workflow import fail, failure_text, run_step

use_jemalloc()  # slab writes in a fresh container: see spruce.arrow_memory
settings = AwsSettings.from_env()
host = aws_job_host(builder_engine(settings), settings)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    if "step" in event:
        return run_step(host, event["workflow"], event["step"], event["state"])
    fail(host, event["workflow"], event["state"], failure_text(event["error"]))
    return {}
