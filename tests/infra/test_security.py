"""Least privilege, encryption at rest, TLS only; cdk-nag and cfn-lint on the synthesised template."""

from __future__ import annotations

import json

import pytest

from tests.infra.conftest import Synth, require_cdk

require_cdk()

from infra.nag import MIN_REASON, acknowledgments  # noqa: E402

#: Services that hold or move Spruce's data: no ``*`` action and no ``*`` resource on them.
DATA_SERVICES = ("dynamodb:", "s3:", "lambda:Invoke", "elasticfilesystem:")
#: The one exception, and why: DynamoDB's ListStreams has no resource-level permissions (IAM's
#: service authorization reference lists no resource type for it), returns stream ARNs only, and
#: the Lambda event source mapping of the builder requires it. CDK's stream grant adds it.
RESOURCE_STAR_ALLOWED = {"dynamodb:ListStreams"}
READ_WRITE = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _statements(synth: Synth) -> list[tuple[str, dict]]:
    """(owner logical id, statement) of every IAM policy document in the template."""
    found = []
    for logical, resource in synth.data["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found += [(logical, s) for s in props["PolicyDocument"]["Statement"]]
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found += [(logical, s) for s in policy["PolicyDocument"]["Statement"]]
    return found


def _grants(synth: Synth, function) -> list[dict]:
    """The statements of the policy attached to ``function``'s role."""
    role = synth.stack.resolve(function.role.role_name)["Ref"]
    return [s for policy in synth.resources("AWS::IAM::Policy").values()
            if {"Ref": role} in policy["Properties"]["Roles"]
            for s in policy["Properties"]["PolicyDocument"]["Statement"]]


def _s3_access(synth: Synth, function) -> dict[str, set[str]]:
    """{resource suffix ("bucket", "slabs/*", "log-spill/*"): actions} for the data bucket."""
    bucket = synth.logical_id(synth.stack.storage.bucket)
    access: dict[str, set[str]] = {}
    for statement in _grants(synth, function):
        actions = {a for a in _as_list(statement["Action"]) if a.startswith("s3:")}
        if not actions:
            continue
        for resource in _as_list(statement["Resource"]):
            if resource == {"Fn::GetAtt": [bucket, "Arn"]}:
                key = "bucket"
            else:
                head, suffix = resource["Fn::Join"][1]
                assert head == {"Fn::GetAtt": [bucket, "Arn"]}
                key = suffix.lstrip("/")
            access.setdefault(key, set()).update(actions)
    return access


def _tables_written(synth: Synth, function) -> tuple[set[str], set[str]]:
    """(tables read, tables written) by logical id."""
    read, written = set(), set()
    for statement in _grants(synth, function):
        actions = set(_as_list(statement["Action"]))
        for resource in _as_list(statement["Resource"]):
            if isinstance(resource, dict) and resource.get("Fn::GetAtt", [None, None])[1] == "Arn" and \
                    "dynamodb:GetItem" in actions:
                read.add(resource["Fn::GetAtt"][0])
                if "dynamodb:PutItem" in actions:
                    written.add(resource["Fn::GetAtt"][0])
    return read, written


def test_no_wildcard_action_anywhere(synth: Synth):
    for owner, statement in _statements(synth):
        for action in _as_list(statement.get("Action", [])):
            assert action != "*" and not action.endswith(":*"), (owner, statement)


def test_no_star_resource_on_data_services(synth: Synth):
    for owner, statement in _statements(synth):
        if "*" not in _as_list(statement.get("Resource", [])):
            continue
        data_actions = {a for a in _as_list(statement["Action"]) if a.startswith(DATA_SERVICES)}
        assert data_actions <= RESOURCE_STAR_ALLOWED, (owner, statement)


def test_only_the_builder_lists_streams(synth: Synth):
    builder_role = synth.stack.resolve(synth.stack.query.builder.role.role_name)["Ref"]
    owners = {owner for owner, s in _statements(synth) if "dynamodb:ListStreams" in _as_list(s["Action"])}
    roles = {r["Ref"] for o in owners for r in synth.data["Resources"][o]["Properties"]["Roles"]}
    assert roles == {builder_role}


def test_each_function_gets_exactly_the_storage_it_uses(synth: Synth):
    s = synth.stack
    tables = {role: synth.logical_id(t) for role, t in s.storage.tables.items()}
    catalog, namespaces, manifests, log = (tables[r] for r in ("catalog", "namespaces", "manifests", "log"))
    task = s.workflows.task_functions["CompactionTask"]
    expected = {
        # function: (tables read, tables written, {S3 resource: actions})
        s.planes.control_plane: ({catalog, namespaces, manifests, log}, {catalog, namespaces, manifests, log},
                                 {"bucket": {"s3:ListBucket"}, "slabs/*": {"s3:DeleteObject"},
                                  "log-spill/*": {"s3:DeleteObject"},
                                  "lambda-payloads/*": READ_WRITE}),  # oversized inference messages
        # The catalog write is job documents only (dynamodb:LeadingKeys, test_bulk_workflows).
        s.planes.data_plane: ({catalog, namespaces, manifests, log}, {catalog, namespaces, log},
                              {"bucket": {"s3:ListBucket"}, "log-spill/*": READ_WRITE,
                               "lambda-payloads/*": READ_WRITE}),
        s.inference.function: (set(), set(), {"lambda-payloads/*": READ_WRITE}),
        s.query.executor: (set(), set(), {"bucket": {"s3:ListBucket"}, "slabs/*": {"s3:GetObject"},
                                          "lambda-payloads/*": READ_WRITE}),
    }
    writer = ({catalog, namespaces, manifests, log}, {namespaces, manifests, log},
              {"bucket": {"s3:ListBucket"},
               "slabs/*": READ_WRITE, "log-spill/*": READ_WRITE})
    expected[s.query.builder] = expected[task] = writer
    expected[s.workflows.task_functions["BulkTask"]] = (
        writer[0], writer[1] | {catalog},
        {**writer[2], "bulk/*": {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"}})
    for function, (read, written, s3_access) in expected.items():
        name = function.node.path
        assert _tables_written(synth, function) == (read, written), name
        assert _s3_access(synth, function) == s3_access, name


def test_only_the_data_plane_invokes_the_executor(synth: Synth):
    executor = {"Fn::GetAtt": [synth.logical_id(synth.stack.query.executor), "Arn"]}
    invokers = {owner for owner, st in _statements(synth)
                if "lambda:InvokeFunction" in _as_list(st["Action"]) and executor in _as_list(st["Resource"])}
    planes = synth.stack.planes
    roles = {synth.stack.resolve(planes.data_plane.role.role_name)["Ref"]}
    assert {r["Ref"] for o in invokers for r in synth.data["Resources"][o]["Properties"]["Roles"]} == roles
    inference = {"Fn::GetAtt": [synth.logical_id(synth.stack.inference.function), "Arn"]}
    for owner in invokers:
        for st in synth.data["Resources"][owner]["Properties"]["PolicyDocument"]["Statement"]:
            if "lambda:InvokeFunction" in _as_list(st["Action"]):
                # the executor and the inference function by ARN: no ":*" qualifiers either
                assert sorted(_as_list(st["Resource"]), key=json.dumps) == sorted([executor, inference], key=json.dumps)


def test_efs_mount_grant_names_the_file_system_and_the_access_point(synth: Synth):
    statements = [s for s in _grants(synth, synth.stack.query.executor)
                  if any(a.startswith("elasticfilesystem:") for a in _as_list(s["Action"]))]
    (statement,) = statements
    assert sorted(statement["Action"]) == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    assert "file-system/" in json.dumps(statement["Resource"])
    assert "elasticfilesystem:AccessPointArn" in statement["Condition"]["StringEquals"]


# -- encryption at rest, TLS only ---------------------------------------------------------------


def test_encryption_at_rest_everywhere(synth: Synth):
    for table in synth.resources("AWS::DynamoDB::Table").values():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True
    for bucket in synth.resources("AWS::S3::Bucket").values():
        props = bucket["Properties"]
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    for file_system in synth.resources("AWS::EFS::FileSystem").values():
        assert file_system["Properties"]["Encrypted"] is True
    for queue in synth.resources("AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    for topic in synth.resources("AWS::SNS::Topic").values():
        assert "KmsMasterKeyId" in topic["Properties"]
    for key in synth.resources("AWS::KMS::Key").values():
        assert key["Properties"]["EnableKeyRotation"] is True


def _denies_insecure_transport(document: dict) -> bool:
    return any(s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
               for s in document["Statement"])


def test_tls_only(synth: Synth):
    buckets = synth.resources("AWS::S3::Bucket")
    policies = {p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]
                for p in synth.resources("AWS::S3::BucketPolicy").values()}
    assert set(policies) == set(buckets)
    assert all(_denies_insecure_transport(doc) for doc in policies.values())
    data = synth.data["Resources"][synth.logical_id(synth.stack.storage.bucket)]
    assert any(s.get("Condition") == {"NumericLessThan": {"s3:TlsVersion": 1.2}}
               for s in policies[synth.logical_id(synth.stack.storage.bucket)]["Statement"])
    assert data["Properties"]["LoggingConfiguration"]["DestinationBucketName"] == {
        "Ref": synth.logical_id(synth.stack.storage.access_logs)}
    for kind in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
        for policy in synth.resources(kind).values():
            assert _denies_insecure_transport(policy["Properties"]["PolicyDocument"]), kind


# -- cdk-nag ------------------------------------------------------------------------------------


def test_cdk_nag_aws_solutions_reports_nothing_unacknowledged(synth: Synth):
    pytest.importorskip("cdk_nag")
    findings = [f"{v['ruleName']} at {', '.join(c['constructPath'] for c in v.get('violatingConstructs', []))}"
                for v in synth.nag_violations]
    assert findings == []


def test_every_acknowledgment_carries_a_reason(synth: Synth):
    found = acknowledgments(synth.app)
    ours = [(path, rule_id, reason) for path, rule_id, reason in found if "AwsSolutions-" in rule_id]
    assert ours, "expected the stack's documented cdk-nag acknowledgments"
    for path, rule_id, reason in found:
        # CDK acknowledges a few CloudFormation-Validate rules itself, with its own reasons.
        assert len(reason.strip()) >= (MIN_REASON if "AwsSolutions-" in rule_id else 10), (path, rule_id, reason)


# -- cfn-lint -----------------------------------------------------------------------------------


def test_cfn_lint_finds_nothing(synth: Synth, tmp_path):
    api = pytest.importorskip("cfnlint.api")
    template = tmp_path / "Spruce-dev.template.json"
    template.write_text(json.dumps(synth.data))
    # W3005: CDK adds DependsOn entries that are also implied by references (harmless).
    matches = api.lint_file(template, config=api.ManualArgs(ignore_checks=["W3005"], regions=["us-east-1"]))
    assert [f"{m.rule.id} {m.message} ({m.path})" for m in matches] == []
