"""Starting workflows on the AWS host: one Step Functions execution per job.

The stack gives each function that starts workflows the ARN of each state machine it may start,
as ``SPRUCE_STATE_MACHINE_<NAME>`` (the workflow's name upper-cased, ``-`` → ``_``).
"""

from __future__ import annotations

import json
import os

from spruce.aws.settings import AwsSettings, client
from spruce.engine.service import Spruce
from spruce.jobs.workflow import JobHost, State
from spruce.storage.dynamo_jobs import DynamoJobStore

ENV_PREFIX = "SPRUCE_STATE_MACHINE_"


def machine_env(workflow: str) -> str:
    """The environment variable holding ``workflow``'s state machine ARN."""
    return ENV_PREFIX + workflow.upper().replace("-", "_")


class StepFunctionsLauncher:
    """``Launcher`` over ``states:StartExecution``. The execution name is the job's, so a retried
    start (a client retry, a Lambda retry) finds the execution already there and starts nothing."""

    def __init__(self, sfn_client, machines: dict[str, str]) -> None:
        self._client = sfn_client
        self._machines = machines

    @staticmethod
    def from_env(sfn_client, env: dict[str, str] | None = None) -> StepFunctionsLauncher:
        env = dict(os.environ) if env is None else env
        return StepFunctionsLauncher(sfn_client, {
            name[len(ENV_PREFIX):].lower().replace("_", "-"): arn
            for name, arn in env.items() if name.startswith(ENV_PREFIX) and arn})

    def start(self, workflow: str, execution: str, state: State) -> None:
        arn = self._machines.get(workflow)
        if arn is None:
            raise RuntimeError(f"{machine_env(workflow)} is not set: this function cannot start {workflow}")
        try:
            self._client.start_execution(stateMachineArn=arn, name=execution, input=json.dumps({"state": state}))
        except self._client.exceptions.ExecutionAlreadyExists:
            return


def aws_job_host(engine: Spruce, settings: AwsSettings) -> JobHost:
    """Jobs on the AWS host: documents in the catalog table, each run a Step Functions execution
    (functions that start jobs; the workflow task function runs their steps)."""
    return JobHost(engine=engine, jobs=DynamoJobStore(client("dynamodb"), settings.tables),
                   launcher=StepFunctionsLauncher.from_env(client("stepfunctions")))
