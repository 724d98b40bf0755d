"""Query: the network the workers run in, the EFS slab cache, the query executors and the index
builder on the request log's stream.

- VPC: two isolated subnets (no internet route, no NAT gateway); S3 and DynamoDB are reached through
  gateway endpoints, which is all the workers talk to. Flow logs go to CloudWatch.
- Workers have their own security group: out to 443 (only the endpoints are routable) and NFS to
  the file system; nothing in.
- EFS: encrypted, one access point (uid/gid 1000, ``/slabs``) that the executors mount at
  ``/mnt/slabs`` (``SPRUCE_EFS_ROOT``).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import SpruceConfig
from infra.lambdas import log_group, worker_function
from infra.nag import acknowledge
from infra.packaging import Packaging
from infra.storage import S3_READ, S3_READ_WRITE, Storage
from spruce.storage.aws_tables import PAYLOAD_PREFIX, SLAB_PREFIX, SPILL_PREFIX

EFS_MOUNT = "/mnt/slabs"
EFS_UID = "1000"


class Query(Construct):
    def __init__(self, scope: Construct, id: str, *, config: SpruceConfig, packaging: Packaging,
                 storage: Storage) -> None:
        super().__init__(scope, id)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY

        self.vpc = ec2.Vpc(
            self, "Vpc", max_azs=2, nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(
                name="workers", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24)],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
            flow_logs={"All": ec2.FlowLogOptions(
                destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                    log_group(self, "FlowLogs", config.log_retention_days)),
                traffic_type=ec2.FlowLogTrafficType.REJECT)},
        )
        self.workers_sg = ec2.SecurityGroup(
            self, "Workers", vpc=self.vpc, allow_all_outbound=False,
            description="Spruce workers: HTTPS to the S3/DynamoDB gateway endpoints, NFS to the slab cache")
        # Isolated subnets route nowhere but the gateway endpoints, so 443 "anywhere" is S3 + DynamoDB.
        self.workers_sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "S3 and DynamoDB gateway endpoints")

        self.file_system = efs.FileSystem(
            self, "SlabCache", vpc=self.vpc, encrypted=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE, throughput_mode=efs.ThroughputMode.ELASTIC,
            # A cache: S3 holds the slabs, so no backups; it may still be kept with the data.
            enable_automatic_backups=False, removal_policy=removal)
        # Encryption in transit: the file system refuses any client that does not mount over TLS
        # (Lambda's EFS mounts use TLS).
        self.file_system.add_to_resource_policy(iam.PolicyStatement(
            sid="DenyWithoutTls", effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()],
            actions=["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite",
                     "elasticfilesystem:ClientRootAccess"],
            conditions={"Bool": {"aws:SecureTransport": "false"}}))
        self.access_point = self.file_system.add_access_point(
            "Slabs", path="/slabs",
            create_acl=efs.Acl(owner_uid=EFS_UID, owner_gid=EFS_UID, permissions="750"),
            posix_user=efs.PosixUser(uid=EFS_UID, gid=EFS_UID))
        # NFS from the workers to the mount targets (both sides of the rule).
        self.file_system.connections.allow_default_port_from(self.workers_sg, "Spruce workers mount the slab cache")

        # The executors answer the data plane's slab questions from the EFS copy of each slab.
        self.executor = worker_function(
            self, "Executor", packaging=packaging, handler="functions.query_executor.handler",
            description="Spruce query executor: slab questions, answered from the EFS slab cache",
            memory_mb=config.executor_memory_mb, timeout=Duration.seconds(25), log_days=config.log_retention_days,
            environment={**storage.environment, "SPRUCE_EFS_ROOT": EFS_MOUNT,
                         "SPRUCE_EFS_MAX_BYTES": str(config.efs_cache_gib * 2**30)},
            vpc=self.vpc, security_group=self.workers_sg,
            filesystem=self._mount())
        storage.grant_objects(self.executor, SLAB_PREFIX, *S3_READ)
        storage.grant_objects(self.executor, PAYLOAD_PREFIX, *S3_READ_WRITE)  # oversized questions and answers
        storage.grant_list(self.executor)

        # The index builder: every INSERT on the log flushes its namespace's tail into a slab.
        self.builder = worker_function(
            self, "Builder", packaging=packaging, handler="functions.index_builder.handler",
            description="Spruce index builder: log stream -> slabs on S3 + manifests",
            memory_mb=config.builder_memory_mb, timeout=Duration.minutes(5), log_days=config.log_retention_days,
            environment=storage.environment, vpc=self.vpc, security_group=self.workers_sg,
            ephemeral_mb=config.worker_ephemeral_mb)
        grant_slab_writer(storage, self.builder)

        # Batches that keep failing after retries land here (the log entries themselves stay in
        # the table: the next write to the namespace flushes them again).
        self.builder_dlq = sqs.Queue(
            self, "BuilderFailures", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            retention_period=Duration.days(14))
        acknowledge(self.builder_dlq, "AwsSolutions-SQS3",
                    "This queue is itself the on-failure destination of the builder's stream mapping.")
        acknowledge(self.builder, "AwsSolutions-IAM5",
                    "dynamodb:ListStreams has no resource-level permissions; the stream mapping needs it (it reads "
                    "no data); GetRecords/GetShardIterator/DescribeStream are limited to the log's stream.",
                    applies_to=["Resource::*"])
        self.builder.add_event_source(sources.DynamoEventSource(
            storage.tables["log"], starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=config.builder_batch_size, max_batching_window=Duration.seconds(config.builder_batch_window_s),
            report_batch_item_failures=True, retry_attempts=10, bisect_batch_on_error=True,
            max_record_age=Duration.hours(6), on_failure=sources.SqsDlq(self.builder_dlq),
            filters=[lambda_.FilterCriteria.filter({"eventName": lambda_.FilterRule.is_equal("INSERT")})]))

    def _mount(self) -> lambda_.FileSystem:
        """``FileSystem.from_efs_access_point`` with its grant narrowed: CDK allows ClientMount on
        ``*`` (conditioned on the access point); here both actions name the file system."""
        file_system_arn = Stack.of(self).format_arn(
            service="elasticfilesystem", resource="file-system", resource_name=self.file_system.file_system_id)
        return lambda_.FileSystem(
            arn=self.access_point.access_point_arn, local_mount_path=EFS_MOUNT,
            connections=self.file_system.connections, dependency=[self.file_system.mount_targets_available],
            policies=[iam.PolicyStatement(
                actions=["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                resources=[file_system_arn],
                conditions={"StringEquals": {"elasticfilesystem:AccessPointArn": self.access_point.access_point_arn}})])


def grant_slab_writer(storage: Storage, function: lambda_.IFunction) -> None:
    """What the index builder and the workflow tasks touch: they flush the log into slabs, commit
    manifests and truncate the log (TTL stamps, spill deletion), and compact/collect slabs."""
    storage.grant_tables(function, read=("catalog",), read_write=("namespaces", "log", "manifests"))
    storage.grant_objects(function, SLAB_PREFIX, *S3_READ_WRITE)
    storage.grant_objects(function, SPILL_PREFIX, *S3_READ_WRITE)
    storage.grant_list(function)
