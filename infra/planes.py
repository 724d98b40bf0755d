"""Planes: the API functions (control plane, data plane) with exactly the access each one's
code uses; each checks every request's ``Api-Key`` itself (``infra/api.py``). They run outside
the VPC (see ``infra/README.md``): they reach DynamoDB, S3 and, for the data plane, the query
executor (``lambda:InvokeFunction``) over AWS's public endpoints with TLS, so the VPC needs
neither a NAT gateway nor a Lambda interface endpoint.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import SpruceConfig
from infra.lambdas import zip_function
from infra.packaging import Packaging
from infra.storage import S3_DELETE, S3_READ_WRITE, Storage
from spruce.storage.aws_tables import PAYLOAD_PREFIX, SLAB_PREFIX, SPILL_PREFIX

#: API Gateway's HTTP API gives up on an integration after 30 s.
API_TIMEOUT = Duration.seconds(29)


class Planes(Construct):
    def __init__(self, scope: Construct, id: str, *, config: SpruceConfig, packaging: Packaging, storage: Storage,
                 executor: lambda_.IFunction) -> None:
        super().__init__(scope, id)
        # Indexes, keys; delete_index also clears the index's log, manifests, slabs and spills.
        # It never reads slabs, so it neither knows nor may invoke the executor.
        self.control_plane = zip_function(
            self, "ControlPlane", packaging=packaging, handler="functions.control_plane.handler",
            description="Spruce control plane (indexes): FastAPI via Mangum", memory_mb=config.control_plane_memory_mb,
            timeout=API_TIMEOUT, environment=storage.environment, log_days=config.log_retention_days)
        storage.grant_tables(self.control_plane, read_write=("catalog", "namespaces", "manifests", "log"))
        storage.grant_objects(self.control_plane, SLAB_PREFIX, *S3_DELETE)
        storage.grant_objects(self.control_plane, SPILL_PREFIX, *S3_DELETE)
        storage.grant_list(self.control_plane)

        # /data/{index}/...: appends to the log (LSN counter on namespaces), spills big payloads,
        # merges the log tail with the executors' answers.
        self.data_plane = zip_function(
            self, "DataPlane", packaging=packaging, handler="functions.data_plane.handler",
            description="Spruce data plane router (/data/{index}/...): FastAPI via Mangum",
            memory_mb=config.data_plane_memory_mb, timeout=API_TIMEOUT,
            environment={**storage.environment, "SPRUCE_EXECUTOR_FUNCTION": executor.function_name},
            log_days=config.log_retention_days)
        storage.grant_tables(self.data_plane, read=("catalog", "manifests"), read_write=("namespaces", "log"))
        storage.grant_objects(self.data_plane, SPILL_PREFIX, *S3_READ_WRITE)
        storage.grant_objects(self.data_plane, PAYLOAD_PREFIX, *S3_READ_WRITE)  # oversized executor messages
        storage.grant_list(self.data_plane)
        grant_invoke(executor, self.data_plane)


def grant_invoke(function: lambda_.IFunction, grantee: iam.IGrantable) -> None:
    """``lambda:InvokeFunction`` on the function itself (CDK's ``grant_invoke`` adds ``<arn>:*``)."""
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["lambda:InvokeFunction"], resources=[function.function_arn]))
