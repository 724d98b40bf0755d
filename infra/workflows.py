"""Workflows: Step Functions state machines whose tasks are worker functions from ``functions/``.

Every state machine gets the same frame (``_state_machine``): CloudWatch logging of ALL events with
execution data, X-Ray tracing, a timeout; every task the same retries (``_invoke``). Today:

- **compaction**: input ``{"index": name, "namespaces": [ns, ...], "force": bool (optional)}``;
  a Map runs ``functions.compaction_task`` per namespace (at most 4 at once). A namespace that still
  fails after retries is recorded (``failed``, ``error``, ``cause``) without stopping the others; the
  execution then fails with ``CompactionIncomplete`` so alarms see it.

Pending (issue 7, no task functions yet): bulk import (Map over the import's files), backup,
restore. Each slots in as one more ``_state_machine`` built from the same task helper, with its task
function created through ``_task_function``.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.config import SpruceConfig
from infra.lambdas import log_group, worker_function
from infra.nag import acknowledge, arn_of
from infra.packaging import Packaging
from infra.query import Query, grant_slab_writer
from infra.storage import Storage

#: Errors worth retrying on any Lambda task (throttles and service hiccups) and on ours.
SERVICE_ERRORS = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                  "Lambda.TooManyRequestsException", "Lambda.ClientExecutionTimeoutException"]
MAP_CONCURRENCY = 4


class Workflows(Construct):
    def __init__(self, scope: Construct, id: str, *, config: SpruceConfig, packaging: Packaging, storage: Storage,
                 query: Query) -> None:
        super().__init__(scope, id)
        self._config, self._packaging, self._storage, self._query = config, packaging, storage, query
        self.task_functions: dict[str, lambda_.IFunction] = {}
        self.state_machines: dict[str, sfn.StateMachine] = {}

        compaction_task = self._task_function("CompactionTask", "functions.compaction_task.handler",
                                              "Spruce workflow task: compact one namespace",
                                              memory_mb=config.compaction_memory_mb)
        self.compaction = self._state_machine("Compaction", self._compaction_definition(compaction_task),
                                              timeout=Duration.hours(6))

    # -- definitions ------------------------------------------------------------------------------

    def _compaction_definition(self, task_function: lambda_.IFunction) -> sfn.IChainable:
        defaults = sfn.Pass(self, "ApplyDefaults", parameters={
            "args.$": "States.JsonMerge(States.StringToJson('{\"force\": false}'), $, false)"})
        compact = self._invoke("CompactNamespace", task_function, payload={
            "index.$": "$.index", "namespace.$": "$.namespace", "force.$": "$.force"}, result_path="$.result")
        compacted = sfn.Pass(self, "NamespaceCompacted", parameters={
            "namespace.$": "$.namespace", "compacted.$": "$.result.compacted", "failed": False})
        failed = sfn.Pass(self, "NamespaceFailed", parameters={
            "namespace.$": "$.namespace", "compacted": False, "failed": True,
            "error.$": "$.error.Error", "cause.$": "$.error.Cause"})
        compact.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        each_namespace = sfn.Map(
            self, "EachNamespace", items_path="$.args.namespaces", max_concurrency=MAP_CONCURRENCY,
            item_selector={"index.$": "$.args.index", "namespace.$": "$$.Map.Item.Value", "force.$": "$.args.force"},
            result_path="$.results")
        each_namespace.item_processor(compact.next(compacted))
        flags = sfn.Pass(self, "CollectFailures", parameters={
            "index.$": "$.args.index", "results.$": "$.results", "flags.$": "$.results[*].failed"})
        tally = sfn.Pass(self, "Tally", parameters={
            "index.$": "$.index", "results.$": "$.results", "anyFailed.$": "States.ArrayContains($.flags, true)"})
        incomplete = sfn.Fail(self, "CompactionIncomplete", error="CompactionIncomplete",
                              cause="at least one namespace failed after retries; see the execution's results")
        return (defaults.next(each_namespace).next(flags).next(tally).next(
            sfn.Choice(self, "AnyFailed?")
            .when(sfn.Condition.boolean_equals("$.anyFailed", True), incomplete)
            .otherwise(sfn.Succeed(self, "Compacted"))))

    # -- the shared frame ---------------------------------------------------------------------------

    def _task_function(self, id: str, handler: str, description: str, *, memory_mb: int) -> lambda_.IFunction:
        """A workflow task: a worker function (slab access) in the VPC, recorded by name."""
        function = worker_function(
            self, id, packaging=self._packaging, handler=handler, description=description, memory_mb=memory_mb,
            timeout=Duration.minutes(15), environment=self._storage.environment,
            log_days=self._config.log_retention_days, vpc=self._query.vpc, security_group=self._query.workers_sg,
            ephemeral_mb=self._config.worker_ephemeral_mb)
        grant_slab_writer(self._storage, function)
        self.task_functions[id] = function
        return function

    def _invoke(self, id: str, function: lambda_.IFunction, *, payload: dict, result_path: str) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self, id, lambda_function=function, payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True, retry_on_service_exceptions=False, result_path=result_path)
        acknowledge(self, "AwsSolutions-IAM5",
                    "Step Functions may invoke versions and aliases of this one task function (CDK's grant).",
                    applies_to=[f"Resource::{arn_of(function)}:*"])
        task.add_retry(errors=SERVICE_ERRORS, interval=Duration.seconds(2), max_attempts=6, backoff_rate=2,
                       jitter_strategy=sfn.JitterType.FULL)
        # Our own failures (a manifest commit race, a timeout): a few spaced attempts.
        task.add_retry(errors=["States.TaskFailed", "States.Timeout"], interval=Duration.seconds(30),
                       max_attempts=2, backoff_rate=2)
        return task

    def _state_machine(self, id: str, definition: sfn.IChainable, *, timeout: Duration) -> sfn.StateMachine:
        machine = sfn.StateMachine(
            self, id, definition_body=sfn.DefinitionBody.from_chainable(definition), timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group(self, f"{id}Logs", self._config.log_retention_days),
                                level=sfn.LogLevel.ALL, include_execution_data=True))
        acknowledge(machine, "AwsSolutions-IAM5",
                    "Step Functions log delivery and X-Ray actions do not support resource-level permissions.",
                    applies_to=["Resource::*"])
        self.state_machines[id] = machine
        return machine
