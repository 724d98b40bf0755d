"""The two kinds of function the stack builds, with what they all share: an explicit log group
with retention, the storage environment, x86_64, and no wildcard permissions beyond what AWS's
basic execution role (logs) and VPC access role (ENIs) carry."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.nag import acknowledge
from infra.packaging import ARCHITECTURE, RUNTIME, Packaging

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS, 180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR, 731: logs.RetentionDays.TWO_YEARS, 1827: logs.RetentionDays.FIVE_YEARS,
}

BASIC_ROLE = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
VPC_ROLE = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"


def retention(days: int) -> logs.RetentionDays:
    try:
        return _RETENTION[days]
    except KeyError:
        raise ValueError(f"spruce:logRetentionDays must be one of {sorted(_RETENTION)}, not {days}") from None


def log_group(scope: Construct, id: str, days: int) -> logs.LogGroup:
    # Logs expire by retention; they do not outlive the stack.
    return logs.LogGroup(scope, id, retention=retention(days), removal_policy=RemovalPolicy.DESTROY)


def zip_function(scope: Construct, id: str, *, packaging: Packaging, handler: str, description: str,
                 memory_mb: int, timeout: Duration, environment: dict[str, str], log_days: int) -> lambda_.Function:
    """A lean function from the code zip + the API dependency layer, outside the VPC."""
    function = lambda_.Function(
        scope, id, runtime=RUNTIME, architecture=ARCHITECTURE, code=packaging.code, handler=handler,
        layers=[packaging.api_layer], memory_size=memory_mb, timeout=timeout, description=description,
        environment=environment, log_group=log_group(scope, f"{id}Logs", log_days))
    _acknowledge_basic_role(function)
    return function


def worker_function(scope: Construct, id: str, *, packaging: Packaging, handler: str, description: str,
                    memory_mb: int, timeout: Duration, environment: dict[str, str], log_days: int,
                    vpc: ec2.IVpc, security_group: ec2.ISecurityGroup, ephemeral_mb: int = 512,
                    filesystem: lambda_.FileSystem | None = None) -> lambda_.DockerImageFunction:
    """A function from the worker image (lancedb + pyarrow), in the VPC's isolated subnets."""
    function = lambda_.DockerImageFunction(
        scope, id, code=packaging.worker_code(handler), architecture=ARCHITECTURE, memory_size=memory_mb,
        timeout=timeout, description=description, environment=environment,
        ephemeral_storage_size=Size.mebibytes(ephemeral_mb),
        vpc=vpc, vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        security_groups=[security_group], filesystem=filesystem,
        log_group=log_group(scope, f"{id}Logs", log_days))
    _acknowledge_basic_role(function)
    acknowledge(function, "AwsSolutions-IAM4",
                "AWSLambdaVPCAccessExecutionRole only manages the function's ENIs in the VPC, which Lambda needs.",
                applies_to=[VPC_ROLE])
    return function


def _acknowledge_basic_role(function: lambda_.Function) -> None:
    acknowledge(function, "AwsSolutions-IAM4",
                "AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch logs.",
                applies_to=[BASIC_ROLE])
