"""The bulk import and export state machines are built from their workflow definitions
(``spruce.jobs.imports`` / ``spruce.jobs.export``): states, retries, catches, the task they call,
and who may start them."""

from __future__ import annotations

from tests.infra.conftest import Synth, require_cdk

require_cdk()

from spruce.aws.launcher import machine_env  # noqa: E402
from spruce.jobs import export, imports  # noqa: E402


def test_import_machine_runs_plan_then_loads_in_a_loop_then_finishes(synth: Synth):
    workflows = synth.stack.workflows
    definition, refs = synth.state_machine(workflows.bulk_import)
    task = workflows.task_functions["BulkTask"]
    functions = [ref for ref in refs if "Fn::GetAtt" in ref]
    assert len(functions) == 4 and all(ref == synth.arn(task) for ref in functions)  # all call the bulk task
    states = definition["States"]
    assert definition["StartAt"] == "Plan"
    assert set(states) == {"Plan", "Load", "LoadMore?", "Finish", "Succeeded", "RecordFailure", "WorkflowFailed"}
    for name, step in (("Plan", "plan"), ("Load", "load"), ("Finish", "finish")):
        state = states[name]
        assert state["Type"] == "Task" and state["Resource"] == "__REF__"  # the function's ARN (refs above)
        assert state["Parameters"] == {"workflow": "bulk-import", "step": step, "state.$": "$.state"}
        assert state["ResultPath"] == "$.state"
        # A user error fails at once; throttles and our own failures are retried with backoff.
        assert state["Retry"][0] == {"ErrorEquals": ["JobFailed"], "MaxAttempts": 0}
        retried = {e for r in state["Retry"][1:] for e in r["ErrorEquals"]}
        assert retried >= {"Lambda.TooManyRequestsException", "Lambda.ServiceException", "States.TaskFailed"}
        assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}]
    assert states["Plan"]["Next"] == "Load" and states["Load"]["Next"] == "LoadMore?"
    assert states["LoadMore?"]["Choices"] == [{"Variable": "$.state.more", "BooleanEquals": True, "Next": "Load"}]
    assert states["LoadMore?"]["Default"] == "Finish" and states["Finish"]["Next"] == "Succeeded"
    failure = states["RecordFailure"]
    assert failure["Parameters"] == {"workflow": "bulk-import", "state.$": "$.state", "error.$": "$.error"}
    assert failure["Next"] == "WorkflowFailed" and states["WorkflowFailed"]["Type"] == "Fail"
    assert "Catch" not in failure
    props = synth.data["Resources"][synth.logical_id(workflows.bulk_import)]["Properties"]
    assert props["LoggingConfiguration"]["Level"] == "ALL" and props["TracingConfiguration"] == {"Enabled": True}


def test_export_machine_follows_its_definition_too(synth: Synth):
    definition, _ = synth.state_machine(synth.stack.workflows.bulk_export)
    steps = [s.name for s in export.WORKFLOW.steps]
    assert steps == ["plan", "write", "finish"]
    states = definition["States"]
    assert states["Write"]["Parameters"]["workflow"] == "bulk-export"
    assert states["WriteMore?"]["Choices"][0]["Next"] == "Write" and states["WriteMore?"]["Default"] == "Finish"
    assert [s.name for s in imports.WORKFLOW.steps if s.repeats] == ["load"]


def test_bulk_task_runs_the_generic_workflow_handler(synth: Synth):
    task = synth.data["Resources"][synth.logical_id(synth.stack.workflows.task_functions["BulkTask"])]
    assert task["Properties"]["ImageConfig"]["Command"] == ["functions.workflow_task.handler"]
    assert task["Properties"]["Timeout"] == 900


def _policies_of(synth: Synth, function) -> list[dict]:
    role = synth.stack.resolve(function.role.role_name)["Ref"]
    return [st for r in synth.data["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
            and {"Ref": role} in r["Properties"]["Roles"] for st in r["Properties"]["PolicyDocument"]["Statement"]]


def test_only_the_data_plane_starts_bulk_jobs_and_only_those_two_machines(synth: Synth):
    workflows = synth.stack.workflows
    machines = {synth.logical_id(workflows.bulk_import), synth.logical_id(workflows.bulk_export)}
    starters = set()
    for logical, resource in synth.data["Resources"].items():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for st in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if "states:StartExecution" in actions:
                resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
                refs = {r["Ref"] for r in resources}
                if refs & machines:  # (the control plane starts backups and restores)
                    starters.update(r["Ref"] for r in resource["Properties"]["Roles"])
                    assert refs <= machines, st
    assert starters == {synth.stack.resolve(synth.stack.planes.data_plane.role.role_name)["Ref"]}
    env = synth.data["Resources"][synth.logical_id(synth.stack.planes.data_plane)]["Properties"]["Environment"]
    assert env["Variables"][machine_env("bulk-import")] == {"Ref": synth.logical_id(workflows.bulk_import)}
    assert env["Variables"][machine_env("bulk-export")] == {"Ref": synth.logical_id(workflows.bulk_export)}


def test_job_documents_are_the_only_catalog_items_the_bulk_functions_write(synth: Synth):
    catalog = synth.arn(synth.stack.storage.tables["catalog"])
    for function in (synth.stack.planes.data_plane, synth.stack.workflows.task_functions["BulkTask"]):
        writes = [st for st in _policies_of(synth, function)
                  if "dynamodb:PutItem" in st["Action"] and st["Resource"] == catalog]
        assert len(writes) == 1, function.node.path
        assert writes[0]["Condition"] == {"ForAllValues:StringLike": {
            "dynamodb:LeadingKeys": ["job#import:*", "job#export:*", "counter", "index"]}}


def test_the_bulk_prefix_is_the_only_outside_place_the_task_reads(synth: Synth):
    statements = _policies_of(synth, synth.stack.workflows.task_functions["BulkTask"])
    listing = [st for st in statements if st["Action"] == "s3:ListBucket" and "Condition" in st]
    assert listing and listing[0]["Condition"] == {"StringLike": {"s3:prefix": ["bulk", "bulk/*"]}}
    assert synth.stack.workflows.bulk_source.prefix == "bulk"
