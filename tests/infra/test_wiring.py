"""Every resource the issue lists exists and is wired to the right thing."""

from __future__ import annotations

import json

from tests.infra.conftest import Synth, require_cdk

require_cdk()

from aws_cdk.assertions import Match  # noqa: E402

from infra.nag import acknowledgments  # noqa: E402
from spruce.storage.aws_tables import KEY_SCHEMAS, LOG_TTL_ATTRIBUTE  # noqa: E402


def _ref(synth: Synth, construct) -> dict:
    return {"Ref": synth.logical_id(construct)}


def _arn(synth: Synth, construct) -> dict:
    return {"Fn::GetAtt": [synth.logical_id(construct), "Arn"]}


def _functions(synth: Synth) -> dict[str, object]:
    s = synth.stack
    return {"control_plane": s.planes.control_plane, "data_plane": s.planes.data_plane,
            "query_executor": s.query.executor, "index_builder": s.query.builder,
            "workflow_task": s.workflows.task_functions["BulkTask"]}


# -- storage ------------------------------------------------------------------------------------


def test_tables_follow_the_adapters_key_schemas(synth: Synth):
    tables = synth.resources("AWS::DynamoDB::Table")
    assert len(tables) == len(KEY_SCHEMAS) == 4
    for role, ((pk, pk_type), (sk, sk_type)) in KEY_SCHEMAS.items():
        props = synth.data["Resources"][synth.logical_id(synth.stack.storage.tables[role])]["Properties"]
        assert props["KeySchema"] == [{"AttributeName": pk, "KeyType": "HASH"},
                                      {"AttributeName": sk, "KeyType": "RANGE"}]
        assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
            [{"AttributeName": pk, "AttributeType": pk_type}, {"AttributeName": sk, "AttributeType": sk_type}],
            key=lambda a: a["AttributeName"])
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        if role == "log":
            assert props["StreamSpecification"] == {"StreamViewType": "KEYS_ONLY"}
            assert props["TimeToLiveSpecification"] == {"AttributeName": LOG_TTL_ATTRIBUTE, "Enabled": True}
        else:
            assert "StreamSpecification" not in props and "TimeToLiveSpecification" not in props


def test_tables_and_bucket_are_retained_by_default(synth: Synth):
    for table in synth.resources("AWS::DynamoDB::Table").values():
        assert table["DeletionPolicy"] == "Retain" and table["Properties"]["DeletionProtectionEnabled"] is True
    for bucket in synth.resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"
    assert synth.resources("AWS::EFS::FileSystem").popitem()[1]["DeletionPolicy"] == "Retain"


def test_every_function_reads_the_storage_names_it_needs(synth: Synth):
    storage = synth.stack.storage
    expected = {"SPRUCE_CATALOG_TABLE": storage.tables["catalog"],
                "SPRUCE_NAMESPACES_TABLE": storage.tables["namespaces"],
                "SPRUCE_MANIFESTS_TABLE": storage.tables["manifests"], "SPRUCE_LOG_TABLE": storage.tables["log"],
                "SPRUCE_BUCKET": storage.bucket}
    for name, function in _functions(synth).items():
        env = synth.data["Resources"][synth.logical_id(function)]["Properties"]["Environment"]["Variables"]
        for variable, resource in expected.items():
            assert env[variable] == _ref(synth, resource), (name, variable)
        assert "SPRUCE_PUBLIC_URL" not in env  # index hosts follow the request Host
        if name == "data_plane":
            assert env["SPRUCE_EXECUTOR_FUNCTION"] == _ref(synth, synth.stack.query.executor)
        else:
            assert "SPRUCE_EXECUTOR_FUNCTION" not in env


# -- functions and packaging --------------------------------------------------------------------


def test_api_functions_are_lean_zips_with_the_layer_outside_the_vpc(synth: Synth):
    layer = _ref(synth, synth.stack.packaging.api_layer)
    for name in ("control_plane", "data_plane"):
        props = synth.data["Resources"][synth.logical_id(_functions(synth)[name])]["Properties"]
        assert props["Handler"] == f"functions.{name}.handler"
        assert props["Runtime"] == "python3.14" and props["Architectures"] == ["x86_64"]
        assert props["Layers"] == [layer]
        assert "VpcConfig" not in props and "PackageType" not in props


def test_workers_share_one_image_and_run_in_isolated_subnets(synth: Synth):
    isolated = [_ref(synth, subnet) for subnet in synth.stack.query.vpc.isolated_subnets]
    assert len(isolated) == 2
    images = set()
    for name in ("query_executor", "index_builder", "workflow_task"):
        props = synth.data["Resources"][synth.logical_id(_functions(synth)[name])]["Properties"]
        assert props["PackageType"] == "Image"
        assert props["ImageConfig"] == {"Command": [f"functions.{name}.handler"]}
        images.add(json.dumps(props["Code"], sort_keys=True))
        assert sorted(props["VpcConfig"]["SubnetIds"], key=json.dumps) == sorted(isolated, key=json.dumps)
        assert props["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [
            synth.logical_id(synth.stack.query.workers_sg), "GroupId"]}]
    assert len(images) == 1


def test_every_function_logs_to_its_own_group_with_retention(synth: Synth):
    groups = synth.resources("AWS::Logs::LogGroup")
    assert all(g["Properties"]["RetentionInDays"] == 30 for g in groups.values())
    for function in synth.resources("AWS::Lambda::Function").values():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert group["Ref"] in groups


# -- API ----------------------------------------------------------------------------------------


def test_no_api_gateway_authorizer_routes_go_straight_to_the_planes(synth: Synth):
    """AUTH-1 on AWS: the planes' apps check Api-Key on every request and answer Pinecone's 401
    (tests/e2e/test_aws_handlers.py); an HTTP API authorizer would answer 403/401 bodies of its
    own, so there must be none, on any route."""
    synth.template.resource_count_is("AWS::ApiGatewayV2::Authorizer", 0)
    routes = synth.template.find_resources("AWS::ApiGatewayV2::Route")
    by_key = {r["Properties"]["RouteKey"]: r["Properties"] for r in routes.values()}
    assert set(by_key) == {"$default", "ANY /data/{proxy+}"} and len(routes) == 2
    integrations = synth.template.find_resources("AWS::ApiGatewayV2::Integration")
    targets = {"$default": synth.stack.planes.control_plane, "ANY /data/{proxy+}": synth.stack.planes.data_plane}
    for key, route in by_key.items():
        assert route["AuthorizationType"] == "NONE" and "AuthorizerId" not in route, key
        assert route["ApiId"] == _ref(synth, synth.stack.api.http_api), key
        integration = route["Target"]["Fn::Join"][1][1]["Ref"]
        assert route["Target"] == {"Fn::Join": ["", ["integrations/", {"Ref": integration}]]}, key
        props = integrations[integration]["Properties"]
        assert props["IntegrationType"] == "AWS_PROXY" and props["PayloadFormatVersion"] == "2.0", key
        assert props["IntegrationUri"] == _arn(synth, targets[key]), key
    # And no function is left over for one.
    handlers = [json.dumps(f["Properties"].get("Handler") or f["Properties"]["ImageConfig"])
                for f in synth.resources("AWS::Lambda::Function").values()]
    assert not [h for h in handlers if "authoriz" in h.lower()]
    # cdk-nag's "API without authorization" (APIG4) is acknowledged on the HTTP API, with the reason.
    acknowledged = {(path, rule) for path, rule, _ in acknowledgments(synth.app) if "APIG4" in rule}
    assert acknowledged == {(synth.stack.api.http_api.node.path, "Annotation::AwsSolutions-APIG4")}


def test_api_gateway_may_invoke_only_the_two_planes(synth: Synth):
    permissions = synth.template.find_resources("AWS::Lambda::Permission",
                                                {"Properties": {"Principal": "apigateway.amazonaws.com"}})
    invoked = sorted(json.dumps(p["Properties"]["FunctionName"], sort_keys=True) for p in permissions.values())
    planes = synth.stack.planes
    assert invoked == sorted(json.dumps(_arn(synth, f), sort_keys=True) for f in (planes.control_plane,
                                                                                  planes.data_plane))
    api = synth.logical_id(synth.stack.api.http_api)
    for permission in permissions.values():
        assert permission["Properties"]["Action"] == "lambda:InvokeFunction"
        assert {"Ref": api} in permission["Properties"]["SourceArn"]["Fn::Join"][1]  # this API only


def test_stage_throttles_and_writes_access_logs(synth: Synth):
    synth.template.has_resource_properties("AWS::ApiGatewayV2::Stage", {
        "StageName": "$default", "AutoDeploy": True,
        "DefaultRouteSettings": {"ThrottlingRateLimit": 1000, "ThrottlingBurstLimit": 2000},
        "AccessLogSettings": {"DestinationArn": _arn(synth, synth.stack.api.access_logs),
                              "Format": Match.string_like_regexp(r"\$context\.requestId")},
    })
    (stage,) = synth.resources("AWS::ApiGatewayV2::Stage").values()
    assert "$context.authorizer" not in stage["Properties"]["AccessLogSettings"]["Format"]  # there is none


def test_outputs_name_the_api_url_and_the_first_key(synth: Synth):
    outputs = synth.data["Outputs"]
    # https://<api id>.execute-api.<region>.amazonaws.com, no trailing slash (the SDK appends paths)
    assert outputs["ApiUrl"]["Value"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.api.http_api), "ApiEndpoint"]}
    assert outputs["AdminApiKeySecretArn"]["Value"] == _ref(synth, synth.stack.admin_key.secret)
    synth.template.has_resource_properties("AWS::SecretsManager::Secret", {
        "GenerateSecretString": Match.object_like({"ExcludePunctuation": True, "PasswordLength": 48})})
    synth.template.has_resource_properties("Custom::SpruceAdminApiKey", {
        "ServiceToken": _arn(synth, synth.stack.admin_key.registrar),
        "SecretArn": _ref(synth, synth.stack.admin_key.secret)})
    registrar = synth.data["Resources"][synth.logical_id(synth.stack.admin_key.registrar)]["Properties"]
    assert registrar["Handler"] == "stack_handlers.admin_key.handler"


# -- query: VPC, EFS, executors, builder --------------------------------------------------------


def test_vpc_has_gateway_endpoints_and_no_route_to_the_internet(synth: Synth):
    assert not synth.resources("AWS::EC2::NatGateway")
    assert not synth.resources("AWS::EC2::InternetGateway")
    assert not synth.resources("AWS::EC2::Route")
    endpoints = synth.resources("AWS::EC2::VPCEndpoint")
    services = set()
    route_tables = sorted(json.dumps(synth.stack.resolve(subnet.route_table.route_table_id), sort_keys=True)
                          for subnet in synth.stack.query.vpc.isolated_subnets)
    for endpoint in endpoints.values():
        props = endpoint["Properties"]
        assert props["VpcEndpointType"] == "Gateway"
        services.add(props["ServiceName"]["Fn::Join"][1][-1])
        assert sorted(json.dumps(t, sort_keys=True) for t in props["RouteTableIds"]) == route_tables
    assert services == {".s3", ".dynamodb"}
    for subnet in synth.resources("AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    synth.template.resource_count_is("AWS::EC2::FlowLog", 1)


def test_executors_mount_the_efs_access_point(synth: Synth):
    query = synth.stack.query
    executor = synth.data["Resources"][synth.logical_id(query.executor)]["Properties"]
    (config,) = executor["FileSystemConfigs"]
    assert config["LocalMountPath"] == "/mnt/slabs" == executor["Environment"]["Variables"]["SPRUCE_EFS_ROOT"]
    assert {"Ref": synth.logical_id(query.access_point)} in config["Arn"]["Fn::Join"][1]
    assert int(executor["Environment"]["Variables"]["SPRUCE_EFS_MAX_BYTES"]) == 200 * 2**30
    synth.template.has_resource_properties("AWS::EFS::AccessPoint", {
        "FileSystemId": _ref(synth, query.file_system),
        "PosixUser": {"Uid": "1000", "Gid": "1000"},
        "RootDirectory": {"Path": "/slabs",
                          "CreationInfo": {"OwnerUid": "1000", "OwnerGid": "1000", "Permissions": "750"}}})
    synth.template.resource_count_is("AWS::EFS::MountTarget", 2)
    # NFS from the workers' security group into the file system's.
    workers = {"Fn::GetAtt": [synth.logical_id(query.workers_sg), "GroupId"]}
    synth.template.has_resource_properties("AWS::EC2::SecurityGroupIngress", {
        "IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049, "SourceSecurityGroupId": workers})
    # Only the executors mount the cache.
    mounted = [k for k, f in synth.resources("AWS::Lambda::Function").items() if "FileSystemConfigs" in f["Properties"]]
    assert mounted == [synth.logical_id(query.executor)]


def test_builder_runs_on_the_log_stream_inserts_with_partial_batch_failures(synth: Synth):
    query = synth.stack.query
    (mapping,) = synth.resources("AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.storage.tables["log"]), "StreamArn"]}
    assert props["FunctionName"] == _ref(synth, query.builder)
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert [json.loads(f["Pattern"]) for f in props["FilterCriteria"]["Filters"]] == [{"eventName": ["INSERT"]}]
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == _arn(synth, query.builder_dlq)
    assert props["StartingPosition"] == "TRIM_HORIZON"


# -- observability ------------------------------------------------------------------------------


def test_alarms_cover_errors_throttles_builder_lag_and_workflows(synth: Synth):
    alarms = list(synth.resources("AWS::CloudWatch::Alarm").values())
    topic = _ref(synth, synth.stack.observability.topic)

    def watched(metric: str) -> set[str]:
        return {a["Properties"]["Dimensions"][0]["Value"]["Ref"] for a in alarms
                if a["Properties"]["MetricName"] == metric and a["Properties"]["Namespace"] == "AWS/Lambda"}

    functions = {synth.logical_id(f) for f in [*_functions(synth).values(), synth.stack.inference.function,
                                               *synth.stack.workflows.task_functions.values()]}
    assert watched("Errors") == functions and watched("Throttles") == functions
    (lag,) = [a["Properties"] for a in alarms if a["Properties"]["MetricName"] == "IteratorAge"]
    assert lag["Dimensions"][0]["Value"] == _ref(synth, synth.stack.query.builder)
    assert lag["Statistic"] == "Maximum" and lag["Threshold"] == 300_000
    assert any(a["Properties"]["MetricName"] == "ExecutionsFailed" for a in alarms)
    assert all(a["Properties"]["AlarmActions"] == [topic] for a in alarms)
    (policy,) = synth.resources("AWS::SNS::TopicPolicy").values()
    assert any(s["Effect"] == "Allow" and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
               and s["Action"] == "sns:Publish" for s in policy["Properties"]["PolicyDocument"]["Statement"])


def test_unread_lambda_payloads_expire_and_interrupted_uploads_are_aborted(synth: Synth):
    synth.template.has_resource_properties("AWS::S3::Bucket", {"LifecycleConfiguration": {"Rules": Match.array_with([
        Match.object_like({"Id": "abort-incomplete-uploads", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}),
        Match.object_like({"Id": "expire-unread-lambda-payloads", "Prefix": "lambda-payloads/", "ExpirationInDays": 1,
                           "Status": "Enabled"}),
    ])}})


def test_the_slab_cache_refuses_clients_without_tls(synth: Synth):
    (fs,) = synth.resources("AWS::EFS::FileSystem").values()
    assert fs["Properties"]["Encrypted"] is True
    statements = fs["Properties"]["FileSystemPolicy"]["Statement"]
    assert {"Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": {"AWS": "*"},
            "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientRootAccess",
                       "elasticfilesystem:ClientWrite"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}} in statements
