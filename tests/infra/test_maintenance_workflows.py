"""The compaction, backup and restore state machines are built from their workflow definitions
(``spruce.jobs.compaction`` / ``backups`` / ``restores``): states, retries, catches, the task each
calls, who may start them, and what their task functions may touch."""

from __future__ import annotations

import json

import pytest

from tests.infra.conftest import Synth, require_cdk

require_cdk()

from spruce.aws.launcher import machine_env  # noqa: E402
from spruce.jobs import backups, compaction, restores  # noqa: E402
from spruce.jobs.workflow import Workflow  # noqa: E402


def _policies_of(synth: Synth, function) -> list[dict]:
    role = synth.stack.resolve(function.role.role_name)["Ref"]
    return [st for r in synth.data["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
            and {"Ref": role} in r["Properties"]["Roles"] for st in r["Properties"]["PolicyDocument"]["Statement"]]


@pytest.mark.parametrize("attr, workflow, task, first, repeated, last", [
    ("compaction", compaction.COMPACTION, "CompactionTask", "CompactNamespace", "CompactNamespace", "Report"),
    ("backup", backups.BACKUP, "BackupTask", "CopyNamespace", "CopyNamespace", "Finish"),
    ("restore", restores.RESTORE, "BackupTask", "CopyNamespace", "CopyNamespace", "Finish"),
])
def test_machine_runs_its_definitions_steps_on_its_task(synth: Synth, attr: str, workflow: Workflow, task: str,
                                                        first: str, repeated: str, last: str):
    workflows = synth.stack.workflows
    machine = getattr(workflows, attr)
    definition, refs = synth.state_machine(machine)
    functions = [ref for ref in refs if "Fn::GetAtt" in ref]
    assert len(functions) == len(workflow.steps) + 1  # each step and RecordFailure
    assert all(ref == synth.arn(workflows.task_functions[task]) for ref in functions)
    states = definition["States"]
    assert definition["StartAt"] == first
    assert set(states) == {first, f"{repeated}More?", last, "Succeeded", "RecordFailure", "WorkflowFailed"}
    for name, step in zip((first, last), (s.name for s in workflow.steps)):
        state = states[name]
        assert state["Type"] == "Task" and state["Resource"] == "__REF__"
        assert state["Parameters"] == {"workflow": workflow.name, "step": step, "state.$": "$.state"}
        assert state["ResultPath"] == "$.state"
        retried = {e for r in state["Retry"][1:] for e in r["ErrorEquals"]}
        assert retried >= {"Lambda.TooManyRequestsException", "Lambda.ServiceException", "States.TaskFailed",
                           "States.Timeout"}
        assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}]
    assert states[f"{repeated}More?"]["Choices"] == [
        {"Variable": "$.state.more", "BooleanEquals": True, "Next": repeated}]
    assert states[f"{repeated}More?"]["Default"] == last and states[last]["Next"] == "Succeeded"
    failure = states["RecordFailure"]
    assert failure["Parameters"] == {"workflow": workflow.name, "state.$": "$.state", "error.$": "$.error"}
    assert failure["Next"] == "WorkflowFailed" and states["WorkflowFailed"]["Type"] == "Fail"
    props = synth.data["Resources"][synth.logical_id(machine)]["Properties"]
    assert props["LoggingConfiguration"]["Level"] == "ALL" and props["TracingConfiguration"] == {"Enabled": True}


@pytest.mark.parametrize("task", ["CompactionTask", "BackupTask"])
def test_tasks_run_the_generic_workflow_handler_with_slab_access(synth: Synth, task: str):
    function = synth.stack.workflows.task_functions[task]
    props = synth.data["Resources"][synth.logical_id(function)]["Properties"]
    assert props["ImageConfig"]["Command"] == ["functions.workflow_task.handler"] and props["Timeout"] == 900
    statements = _policies_of(synth, function)
    slab_objects = [st for st in statements if "s3:PutObject" in st["Action"]]
    assert slab_objects and any("slabs/*" in json.dumps(st["Resource"]) for st in slab_objects)


def test_only_the_control_plane_starts_backups_and_restores(synth: Synth):
    workflows = synth.stack.workflows
    machines = {synth.logical_id(workflows.backup), synth.logical_id(workflows.restore)}
    starters = set()
    for resource in synth.data["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for st in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            if "states:StartExecution" in actions and {r.get("Ref") for r in resources} & machines:
                starters.update(r["Ref"] for r in resource["Properties"]["Roles"])
                assert {r["Ref"] for r in resources} <= machines, st
    assert starters == {synth.stack.resolve(synth.stack.planes.control_plane.role.role_name)["Ref"]}
    env = synth.data["Resources"][synth.logical_id(synth.stack.planes.control_plane)]["Properties"]["Environment"]
    assert env["Variables"][machine_env("backup")] == {"Ref": synth.logical_id(workflows.backup)}
    assert env["Variables"][machine_env("restore")] == {"Ref": synth.logical_id(workflows.restore)}
    assert machine_env("compaction") not in env["Variables"]


def test_the_backup_task_writes_only_backup_documents_holds_and_index_configs(synth: Synth):
    catalog = synth.arn(synth.stack.storage.tables["catalog"])
    statements = _policies_of(synth, synth.stack.workflows.task_functions["BackupTask"])
    writes = [st for st in statements if "dynamodb:PutItem" in st["Action"] and st["Resource"] == catalog]
    assert len(writes) == 1 and "dynamodb:DeleteItem" in writes[0]["Action"]
    assert writes[0]["Condition"] == {"ForAllValues:StringLike": {
        "dynamodb:LeadingKeys": ["job#backup", "job#restore", "job#gc-hold", "index"]}}
    compaction_writes = [st for st in _policies_of(synth, synth.stack.workflows.task_functions["CompactionTask"])
                         if "dynamodb:PutItem" in st["Action"] and st["Resource"] == catalog]
    assert compaction_writes == []  # compaction reads index configs and holds, writes no catalog item


def test_a_schedule_starts_the_compaction_of_every_index(synth: Synth):
    rules = synth.resources("AWS::Events::Rule")
    [rule] = [r["Properties"] for r in rules.values() if "compact" in r["Properties"].get("Description", "")]
    assert rule["ScheduleExpression"] == "rate(1 hour)" and rule["State"] == "ENABLED"
    [target] = rule["Targets"]
    assert target["Arn"] == {"Ref": synth.logical_id(synth.stack.workflows.compaction)}
    assert json.loads(target["Input"]) == {"state": {}}  # no index: every ready index
    role = target["RoleArn"]["Fn::GetAtt"][0]
    statements = [st for r in synth.resources("AWS::IAM::Policy").values() if {"Ref": role} in r["Properties"]["Roles"]
                  for st in r["Properties"]["PolicyDocument"]["Statement"]]
    assert statements == [{"Action": "states:StartExecution", "Effect": "Allow",
                           "Resource": {"Ref": synth.logical_id(synth.stack.workflows.compaction)}}]
