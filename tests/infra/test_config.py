"""Stack properties come from context only; the non-default shape (custom domain, data not
retained, another stage) synthesises, passes cdk-nag and keeps its guarantees."""

from __future__ import annotations

import pytest

from tests.infra.conftest import Synth, require_cdk, synthesize

require_cdk()

from infra.config import SpruceConfig  # noqa: E402

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"


def test_context_values_arrive_as_strings_and_are_converted():
    context = {"spruce:stage": "prod", "spruce:retainData": "false", "spruce:executorMemoryMb": "4096",
               "spruce:logRetentionDays": 90}
    config = SpruceConfig.from_context(context.get)
    assert (config.stage, config.retain_data, config.executor_memory_mb, config.log_retention_days) == (
        "prod", False, 4096, 90)
    assert config.stack_name == "Spruce-prod"
    assert SpruceConfig.from_context({}.get) == SpruceConfig()


@pytest.mark.parametrize("context, message", [
    ({"spruce:domainName": "vectors.example.com"}, "go together"),
    ({"spruce:retainData": "maybe"}, "true or false"),
    ({"spruce:stage": "a b"}, "alphanumeric"),
])
def test_bad_context_is_refused(context, message):
    with pytest.raises(ValueError, match=message):
        SpruceConfig.from_context(context.get)


@pytest.fixture(scope="module")
def variant(tmp_path_factory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-variant") / "cdk.out", **{
        "spruce:stage": "prod", "spruce:retainData": "false", "spruce:domainName": "vectors.example.com",
        "spruce:certificateArn": CERTIFICATE, "spruce:alarmEmail": "ops@example.com",
        "spruce:logRetentionDays": "90", "spruce:dataPlaneMemoryMb": "2048"})


def test_variant_passes_cdk_nag(variant: Synth):
    pytest.importorskip("cdk_nag")
    assert [v["ruleName"] for v in variant.nag_violations] == []


def test_variant_custom_domain_is_tls12_and_the_url_follows_it(variant: Synth):
    assert variant.stack.stack_name == "Spruce-prod"
    variant.template.has_resource_properties("AWS::ApiGatewayV2::DomainName", {
        "DomainName": "vectors.example.com",
        "DomainNameConfigurations": [{"CertificateArn": CERTIFICATE, "EndpointType": "REGIONAL",
                                      "SecurityPolicy": "TLS_1_2"}]})
    variant.template.resource_count_is("AWS::ApiGatewayV2::ApiMapping", 1)
    variant.template.has_resource_properties("AWS::ApiGatewayV2::Api", {"DisableExecuteApiEndpoint": True})
    assert variant.data["Outputs"]["ApiUrl"]["Value"] == "https://vectors.example.com"


def test_variant_props_reach_the_resources(variant: Synth):
    data_plane = variant.data["Resources"][variant.logical_id(variant.stack.planes.data_plane)]["Properties"]
    assert data_plane["MemorySize"] == 2048
    assert {g["Properties"]["RetentionInDays"] for g in variant.resources("AWS::Logs::LogGroup").values()} == {90}
    variant.template.has_resource_properties("AWS::SNS::Subscription", {
        "Protocol": "email", "Endpoint": "ops@example.com"})


def test_variant_without_retained_data_deletes_it_with_the_stack(variant: Synth):
    for kind in ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::EFS::FileSystem"):
        for resource in variant.resources(kind).values():
            assert resource["DeletionPolicy"] == "Delete", kind
    for table in variant.resources("AWS::DynamoDB::Table").values():
        assert table["Properties"]["DeletionProtectionEnabled"] is False
    # Buckets are emptied first, or CloudFormation could not delete them.
    assert len(variant.resources("Custom::S3AutoDeleteObjects")) == 2
