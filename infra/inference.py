"""Inference on AWS: the packaged models run in the inference function (the worker image: the
API functions' lean layer has no onnxruntime), which the control and data planes invoke
synchronously (``SPRUCE_INFERENCE_FUNCTION``; oversized messages through the payload prefix).
Amazon Bedrock models (``spruce:bedrockModels``) are called by the API functions themselves:
``bedrock:InvokeModel`` on exactly those foundation models, plus ``bedrock:Rerank`` when a rerank
model is on (it has no resource type: IAM's service authorization reference lists none).
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import SpruceConfig
from infra.lambdas import worker_function
from infra.nag import acknowledge
from infra.packaging import Packaging
from infra.planes import grant_invoke
from infra.query import Query
from infra.storage import S3_READ_WRITE, Storage
from spruce.inference import bedrock
from spruce.storage.aws_tables import PAYLOAD_PREFIX


class Inference(Construct):
    def __init__(self, scope: Construct, id: str, *, config: SpruceConfig, packaging: Packaging, storage: Storage,
                 query: Query, control_plane: lambda_.Function, data_plane: lambda_.Function) -> None:
        super().__init__(scope, id)
        # In the workers' isolated subnets: it talks to S3 only (oversized messages).
        self.function = worker_function(
            self, "Function", packaging=packaging, handler="functions.inference.handler",
            description="Spruce inference: the packaged models (MiniLM, SPLADE-tiny, MiniLM rerank) for the API",
            memory_mb=config.inference_memory_mb, timeout=Duration.seconds(25), log_days=config.log_retention_days,
            environment={"SPRUCE_BUCKET": storage.bucket.bucket_name}, vpc=query.vpc,
            security_group=query.workers_sg)
        storage.grant_objects(self.function, PAYLOAD_PREFIX, *S3_READ_WRITE)
        storage.grant_objects(control_plane, PAYLOAD_PREFIX, *S3_READ_WRITE)  # the data plane has it (executors)
        for caller in (control_plane, data_plane):
            caller.add_environment("SPRUCE_INFERENCE_FUNCTION", self.function.function_name)
            grant_invoke(self.function, caller)

        names = bedrock.model_names(tuple(n.strip() for n in config.bedrock_models.split(",") if n.strip()))
        if not names:
            return
        stack = Stack.of(self)
        region = config.bedrock_region or stack.region
        arns = [stack.format_arn(service="bedrock", region=region, account="", resource="foundation-model",
                                 resource_name=bedrock.CATALOGUE[n].model_id) for n in names]
        for caller in (control_plane, data_plane):
            caller.add_environment("SPRUCE_BEDROCK_MODELS", ",".join(names))
            if config.bedrock_region:
                caller.add_environment("SPRUCE_BEDROCK_REGION", config.bedrock_region)
            caller.add_to_role_policy(iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=arns))
            if any(bedrock.CATALOGUE[n].spec.type == "rerank" for n in names):
                caller.add_to_role_policy(iam.PolicyStatement(actions=["bedrock:Rerank"], resources=["*"]))
                acknowledge(caller, "AwsSolutions-IAM5",
                            "bedrock:Rerank has no resource type; the rerank model itself is reached only through "
                            "bedrock:InvokeModel, which names the foundation models.",
                            applies_to=["Resource::*"])
