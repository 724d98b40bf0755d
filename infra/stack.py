"""The Spruce stack: composes the constructs; every property comes from ``SpruceConfig``."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.api import AdminKey, Api
from infra.config import SpruceConfig
from infra.inference import Inference
from infra.observability import Observability
from infra.packaging import Packaging
from infra.planes import Planes
from infra.query import Query
from infra.storage import Storage
from infra.workflows import Workflows


class SpruceStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: SpruceConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, description=f"Spruce ({config.stage}): a vector database speaking the Pinecone "
                                                "REST API", **kwargs)
        Tags.of(self).add("spruce:stage", config.stage)
        self.config = config
        self.packaging = Packaging(self, "Packaging")
        self.storage = Storage(self, "Storage", retain_data=config.retain_data)
        self.query = Query(self, "Query", config=config, packaging=self.packaging, storage=self.storage)
        self.planes = Planes(self, "Planes", config=config, packaging=self.packaging, storage=self.storage,
                             executor=self.query.executor)
        self.inference = Inference(self, "Inference", config=config, packaging=self.packaging, storage=self.storage,
                                   query=self.query, control_plane=self.planes.control_plane,
                                   data_plane=self.planes.data_plane)
        self.api = Api(self, "Api", config=config, planes=self.planes)
        self.admin_key = AdminKey(self, "AdminKey", config=config, packaging=self.packaging, storage=self.storage)
        self.workflows = Workflows(self, "Workflows", config=config, packaging=self.packaging, storage=self.storage,
                                   query=self.query)
        self.workflows.grant_start_bulk(self.planes.data_plane)
        self.workflows.grant_start_backups(self.planes.control_plane)
        self.observability = Observability(
            self, "Observability",
            functions={"ControlPlane": self.planes.control_plane, "DataPlane": self.planes.data_plane,
                       "Executor": self.query.executor, "Builder": self.query.builder,
                       "Inference": self.inference.function, **self.workflows.task_functions},
            builder=self.query.builder, builder_dlq=self.query.builder_dlq, builder_lag_s=config.builder_lag_alarm_s,
            state_machines=self.workflows.state_machines, api=self.api.http_api, alarm_email=config.alarm_email)

        CfnOutput(self, "ApiUrl", value=self.api.url,
                  description="The SDK's host: Pinecone(api_key=..., host=<this>)")
        CfnOutput(self, "AdminApiKeySecretArn", value=self.admin_key.secret.secret_arn,
                  description="Secrets Manager secret holding the first API key (aws secretsmanager "
                              "get-secret-value --secret-id <this> --query SecretString --output text)")
        CfnOutput(self, "CompactionStateMachine", value=self.workflows.compaction.state_machine_arn,
                  description='Start with {"state": {"index": ..., "namespaces": [...] (optional), "force": false}}')
        CfnOutput(self, "DataBucket", value=self.storage.bucket.bucket_name)
        CfnOutput(self, "BulkUri", value=self.workflows.bulk_source.uri,
                  description="Import from / export to s3 URIs under this prefix (bulk import/export)")
        CfnOutput(self, "AlarmTopic", value=self.observability.topic.topic_arn)
