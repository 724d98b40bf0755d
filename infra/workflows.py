"""Workflows: Step Functions state machines whose tasks are worker functions from ``functions/``.

Every state machine gets the same frame (``_state_machine``): CloudWatch logging of ALL events with
execution data, X-Ray tracing, a timeout; every task the same retries (``_invoke``). Every state
machine is built from a ``spruce.jobs.workflow.Workflow`` (``workflow_machine``), the one definition
both hosts run: compaction (``CompactionTask``), backup and restore (``BackupTask``), bulk import
and export (``BulkTask``).

- **from a ``Workflow``**: Input ``{"state": {...}}``; one task per step calls ``functions.workflow_task`` with
  ``{"workflow", "step", "state"}`` and stores its answer at ``$.state``; a repeating step loops
  through a Choice while ``$.state.more`` is true. Any step that still fails after the retries is
  caught: a ``RecordFailure`` task calls the workflow's ``on_failure`` (``{"workflow", "state",
  "error"}``) and the execution ends in ``Fail`` (``WorkflowFailed``) so alarms see it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.config import SpruceConfig
from infra.lambdas import log_group, worker_function
from infra.nag import acknowledge, arn_of
from infra.packaging import Packaging
from infra.query import Query, grant_slab_writer
from infra.storage import Storage
from spruce.aws.launcher import machine_env
from spruce.jobs import backups, compaction, export, imports, restores
from spruce.jobs.workflow import JobFailed, Workflow

#: Errors worth retrying on any Lambda task (throttles and service hiccups) and on ours.
SERVICE_ERRORS = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                  "Lambda.TooManyRequestsException", "Lambda.ClientExecutionTimeoutException"]
#: Job kinds (``spruce.jobs.bulk.kind_of``) the bulk functions may read and write.
BULK_JOB_KINDS = ("import", "export")
#: Catalog partitions the backup and restore functions read and write: their job documents, the
#: GC holds of indexes being backed up, and index configs (a restore creates and readies one).
BACKUP_PARTITIONS = (f"job#{backups.KIND}", f"job#{restores.KIND}", "job#gc-hold", "index")


class Workflows(Construct):
    def __init__(self, scope: Construct, id: str, *, config: SpruceConfig, packaging: Packaging, storage: Storage,
                 query: Query) -> None:
        super().__init__(scope, id)
        self._config, self._packaging, self._storage, self._query = config, packaging, storage, query
        self.task_functions: dict[str, lambda_.IFunction] = {}
        self.state_machines: dict[str, sfn.StateMachine] = {}

        # Compaction and garbage collection (spruce.jobs.compaction), also started on a schedule.
        compaction_task = self._task_function("CompactionTask", "functions.workflow_task.handler",
                                              "Spruce workflow task: compaction and garbage collection steps",
                                              memory_mb=config.compaction_memory_mb)
        self.compaction = self.workflow_machine(compaction.COMPACTION, compaction_task, timeout=Duration.hours(6))
        if config.compaction_schedule_minutes > 0:
            # Every index, input {}: the stream builder flushes but never waits for a namespace to go
            # quiet, so this is where a bulk load's slabs settle. The rule's role may start this machine only.
            events.Rule(self, "CompactionSchedule", description="Spruce: compact and collect every index",
                        schedule=events.Schedule.rate(Duration.minutes(config.compaction_schedule_minutes)),
                        targets=[events_targets.SfnStateMachine(
                            self.compaction, input=events.RuleTargetInput.from_object({"state": {}}))])

        # Backups and restores (spruce.jobs.backups / restores): a namespace's slabs per step, copied
        # under the backup's id and back into the restored index.
        backup_task = self._task_function("BackupTask", "functions.workflow_task.handler",
                                          "Spruce workflow task: backup / restore steps",
                                          memory_mb=config.compaction_memory_mb)
        grant_backup_documents(storage, backup_task)
        self.backup = self.workflow_machine(backups.BACKUP, backup_task, timeout=Duration.hours(24))
        self.restore = self.workflow_machine(restores.RESTORE, backup_task, timeout=Duration.hours(24))

        # Bulk import and export: one task function (its own role) runs both workflows' steps.
        bulk_task = self._task_function("BulkTask", "functions.workflow_task.handler",
                                        "Spruce workflow task: bulk import / export steps",
                                        memory_mb=config.bulk_memory_mb)
        grant_job_documents(storage, bulk_task, BULK_JOB_KINDS)
        self.bulk_source = bulk_source(config, storage)
        self.bulk_source.grant(bulk_task)
        self.bulk_import = self.workflow_machine(imports.WORKFLOW, bulk_task, timeout=Duration.hours(24))
        self.bulk_export = self.workflow_machine(export.WORKFLOW, bulk_task, timeout=Duration.hours(24))

    def grant_start_bulk(self, function: lambda_.Function) -> None:
        """What the data plane needs to start bulk jobs: their documents, and StartExecution on
        exactly the import and export state machines (their ARNs in its environment)."""
        grant_job_documents(self._storage, function, BULK_JOB_KINDS)
        for workflow, machine in ((imports.WORKFLOW, self.bulk_import), (export.WORKFLOW, self.bulk_export)):
            machine.grant_start_execution(function)
            function.add_environment(machine_env(workflow.name), machine.state_machine_arn)

    def grant_start_backups(self, function: lambda_.Function) -> None:
        """What the control plane needs to start backups and restores: StartExecution on exactly
        those two state machines (their ARNs in its environment). Their documents, the GC holds
        and index configs are in the catalog table it already reads and writes."""
        for workflow, machine in ((backups.BACKUP, self.backup), (restores.RESTORE, self.restore)):
            machine.grant_start_execution(function)
            function.add_environment(machine_env(workflow.name), machine.state_machine_arn)

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

    def workflow_machine(self, workflow: Workflow, task_function: lambda_.IFunction, *,
                         timeout: Duration) -> sfn.StateMachine:
        """A state machine running ``workflow``'s steps in order on ``task_function`` (whose handler
        is ``functions.workflow_task.handler``), registered under the workflow's CamelCase name."""
        name = _camel(workflow.name)
        scope = Construct(self, f"{name}States")
        record_failure = self._invoke("RecordFailure", task_function, scope=scope, payload={
            "workflow": workflow.name, "state.$": "$.state", "error.$": "$.error"}, result_path=sfn.JsonPath.DISCARD)
        record_failure.next(sfn.Fail(scope, "WorkflowFailed", error="WorkflowFailed",
                                     cause=f"a step of {workflow.name} failed after retries; the job records why"))
        start: sfn.IChainable | None = None
        attach: Callable[[sfn.IChainable], object] | None = None  # wires the previous step to the next
        for step in workflow.steps:
            task = self._invoke(_camel(step.name), task_function, scope=scope, payload={
                "workflow": workflow.name, "step": step.name, "state.$": "$.state"}, result_path="$.state",
                fatal=[JobFailed.__name__])
            task.add_catch(record_failure, errors=["States.ALL"], result_path="$.error")
            if attach is None:
                start = task
            else:
                attach(task)
            if step.repeats:
                more = sfn.Choice(scope, f"{_camel(step.name)}More?")
                task.next(more.when(sfn.Condition.boolean_equals("$.state.more", True), task))
                attach = more.otherwise
            else:
                attach = task.next
        assert start is not None and attach is not None, f"workflow {workflow.name} has no steps"
        attach(sfn.Succeed(scope, "Succeeded"))
        return self._state_machine(name, start, timeout=timeout)

    def _invoke(self, id: str, function: lambda_.IFunction, *, payload: dict, result_path: str,
                scope: Construct | None = None, fatal: list[str] | None = None) -> tasks.LambdaInvoke:
        """A Lambda task with the shared retries; errors named in ``fatal`` (the user's mistakes)
        are never retried."""
        task = tasks.LambdaInvoke(
            scope or self, id, lambda_function=function, payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True, retry_on_service_exceptions=False, result_path=result_path)
        acknowledge(self, "AwsSolutions-IAM5",
                    "Step Functions may invoke versions and aliases of this one task function (CDK's grant).",
                    applies_to=[f"Resource::{arn_of(function)}:*"])
        if fatal:
            task.add_retry(errors=fatal, max_attempts=0)
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


def _camel(name: str) -> str:
    """``bulk-import`` / ``load_chunk`` → ``BulkImport`` / ``LoadChunk`` (construct ids, state names)."""
    return "".join(part.capitalize() for part in re.split(r"[-_\s]+", name) if part)


def grant_job_documents(storage: Storage, grantee: iam.IGrantable, operations: tuple[str, ...]) -> None:
    """Read and write the job documents (and id counters) of ``operations`` in the catalog table,
    and read index configs: item access narrowed by ``dynamodb:LeadingKeys`` to those partitions
    (``job#<operation>:<index id>``, ``counter``, ``index``), so the grantee cannot touch API keys."""
    keys = [f"job#{operation}:*" for operation in operations] + ["counter", "index"]
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"],
        resources=[storage.tables["catalog"].table_arn],
        conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": keys}}))


def grant_backup_documents(storage: Storage, grantee: iam.IGrantable) -> None:
    """Items of ``BACKUP_PARTITIONS`` in the catalog table (``dynamodb:LeadingKeys``), deletes
    included: a finished backup releases its GC hold, a failed one drops what it copied."""
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                 "dynamodb:Query"],
        resources=[storage.tables["catalog"].table_arn],
        conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(BACKUP_PARTITIONS)}}))


class BulkSource:
    """The S3 prefix bulk jobs may read (imports) and write (exports): ``spruce:bulkBucket`` (default:
    the stack's data bucket) under ``spruce:bulkPrefix``; nothing else in any bucket."""

    def __init__(self, bucket: s3.IBucket, prefix: str, *, nag_arn: str) -> None:
        self.bucket, self.prefix, self._nag_arn = bucket, prefix.strip("/"), nag_arn

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket.bucket_name}/{self.prefix}/"

    def grant(self, grantee: iam.IGrantable) -> None:
        principal = grantee.grant_principal
        principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[self.bucket.arn_for_objects(f"{self.prefix}/*")]))
        principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [self.prefix, f"{self.prefix}/*"]}}))
        acknowledge(grantee, "AwsSolutions-IAM5",
                    f"Bulk import/export files: object keys under {self.prefix}/ of the bulk bucket only.",
                    applies_to=[f"Resource::{self._nag_arn}/{self.prefix}/*"])


def bulk_source(config: SpruceConfig, storage: Storage) -> BulkSource:
    if config.bulk_bucket:
        return BulkSource(s3.Bucket.from_bucket_name(storage, "BulkBucket", config.bulk_bucket), config.bulk_prefix,
                          nag_arn=f"arn:<AWS::Partition>:s3:::{config.bulk_bucket}")
    return BulkSource(storage.bucket, config.bulk_prefix, nag_arn=arn_of(storage.bucket))
