"""Workflow task: one step of a ``spruce.jobs.workflow.Workflow`` (the state machines the stack
builds from the same definitions the embedded host runs in-process).

Input ``{"workflow", "step", "state"}`` → the step's new state; ``{"workflow", "state", "error"}``
(the state machine's catch, ``error`` = ``{"Error", "Cause"}``) → the workflow's ``on_failure``.
"""

from typing import Any

import spruce.jobs.export  # noqa: F401  (registers bulk-export)
import spruce.jobs.imports  # noqa: F401  (registers bulk-import)
from spruce.aws.launcher import StepFunctionsLauncher
from spruce.aws.settings import AwsSettings, client
from spruce.aws.workers import builder_engine
from spruce.jobs.workflow import JobHost, fail, failure_text, run_step
from spruce.storage.dynamo_jobs import DynamoJobStore

settings = AwsSettings.from_env()
host = JobHost(engine=builder_engine(settings), jobs=DynamoJobStore(client("dynamodb"), settings.tables),
               launcher=StepFunctionsLauncher.from_env(client("stepfunctions")))


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    if "step" in event:
        return run_step(host, event["workflow"], event["step"], event["state"])
    fail(host, event["workflow"], event["state"], failure_text(event["error"]))
    return {}
