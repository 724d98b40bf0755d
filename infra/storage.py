"""Storage: the four DynamoDB tables and the data bucket, shaped by ``spruce.storage.aws_tables``
(the same constants the adapters and the tests use), plus the grants each function needs.

Grants are explicit: table grants are CDK's (fixed action lists on the table ARN), bucket access is
one statement per prefix with exact actions, never a wildcard action or a whole-bucket object ARN.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import acknowledge, arn_of
from spruce.storage.aws_tables import (
    KEY_SCHEMAS, LOG_TTL_ATTRIBUTE, PAYLOAD_PREFIX, SLAB_PREFIX, SPILL_PREFIX, TableNames,
)

_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER, "B": dynamodb.AttributeType.BINARY}

#: Object actions per access level on a prefix (exact actions, no wildcards).
S3_READ = ("s3:GetObject",)
S3_WRITE = ("s3:PutObject", "s3:AbortMultipartUpload")
S3_DELETE = ("s3:DeleteObject",)
S3_READ_WRITE = S3_READ + S3_WRITE + S3_DELETE


class Storage(Construct):
    def __init__(self, scope: Construct, id: str, *, retain_data: bool) -> None:
        super().__init__(scope, id)
        removal = RemovalPolicy.RETAIN if retain_data else RemovalPolicy.DESTROY
        self.tables: dict[str, dynamodb.Table] = {}
        for role, ((pk, pk_type), (sk, sk_type)) in KEY_SCHEMAS.items():
            log = role == "log"
            self.tables[role] = dynamodb.Table(
                self, f"{role.capitalize()}Table",
                partition_key=dynamodb.Attribute(name=pk, type=_TYPES[pk_type]),
                sort_key=dynamodb.Attribute(name=sk, type=_TYPES[sk_type]),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                encryption=dynamodb.TableEncryption.AWS_MANAGED,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True),
                deletion_protection=retain_data,
                removal_policy=removal,
                # The log's stream drives the index builder; it only needs the keys (aws_tables).
                stream=dynamodb.StreamViewType.KEYS_ONLY if log else None,
                time_to_live_attribute=LOG_TTL_ATTRIBUTE if log else None,
            )
        self.names = TableNames(catalog=self.tables["catalog"].table_name,
                                namespaces=self.tables["namespaces"].table_name,
                                manifests=self.tables["manifests"].table_name,
                                log=self.tables["log"].table_name)

        self.access_logs = s3.Bucket(
            self, "AccessLogs", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True, minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=removal, auto_delete_objects=not retain_data)
        acknowledge(self.access_logs, "AwsSolutions-S1",
                    "This is the server access log bucket of the data bucket; logging it to itself would loop.")
        self.bucket = s3.Bucket(
            self, "Data",
            # SSE-S3: the request log writes spills with ServerSideEncryption=AES256.
            encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True, minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs, server_access_logs_prefix="data/",
            # Objects are immutable and deleted on purpose (collected slabs, truncated spills), so
            # versioning would only keep garbage; no expiry either: a spill lives as long as its log
            # entry is unflushed. Lifecycle rules clean up after interrupted uploads, and after
            # oversized Lambda payloads a crash left unread (their reader deletes them at once).
            lifecycle_rules=[
                s3.LifecycleRule(id="abort-incomplete-uploads",
                                 abort_incomplete_multipart_upload_after=Duration.days(1)),
                s3.LifecycleRule(id="expire-unread-lambda-payloads", prefix=f"{PAYLOAD_PREFIX}/",
                                 expiration=Duration.days(1)),
            ],
            removal_policy=removal, auto_delete_objects=not retain_data)

    @property
    def environment(self) -> dict[str, str]:
        """What every function reads (``AwsSettings.from_env``): table names and the bucket."""
        return {**self.names.env(), "SPRUCE_BUCKET": self.bucket.bucket_name}

    # -- grants -------------------------------------------------------------------------------

    def grant_tables(self, grantee: iam.IGrantable, *, read: Iterable[str] = (),
                     read_write: Iterable[str] = ()) -> None:
        for role in read:
            self.tables[role].grant_read_data(grantee)
        for role in read_write:
            self.tables[role].grant_read_write_data(grantee)

    def grant_objects(self, grantee: iam.IGrantable, prefix: str, *actions: str) -> None:
        """Exactly ``actions`` on the objects under ``prefix/`` (one of the prefixes in ``aws_tables``)."""
        assert prefix in (SLAB_PREFIX, SPILL_PREFIX, PAYLOAD_PREFIX), prefix
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=sorted(set(actions)), resources=[self.bucket.arn_for_objects(f"{prefix}/*")]))
        acknowledge(grantee, "AwsSolutions-IAM5",
                    f"Object keys under one prefix of the data bucket ({prefix}/); the actions are listed exactly.",
                    applies_to=[f"Resource::{arn_of(self.bucket)}/{prefix}/*"])

    def grant_list(self, grantee: iam.IGrantable) -> None:
        """ListBucket on the data bucket. Not narrowed by an ``s3:prefix`` condition on purpose:
        S3 answers a GET of a missing key with 404 only to callers allowed to list the bucket
        (403 otherwise), and the adapters rely on NoSuchKey (a truncated spill) as LanceDB does
        (a manifest that is not there yet). The bucket holds nothing but Spruce's objects."""
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]))
