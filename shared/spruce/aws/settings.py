"""What a function learns from its environment (set by the CDK stack), read once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from botocore.config import Config

from spruce.storage.aws_tables import TableNames

#: Standard retry mode with keep-alive: clients live as long as the container.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, tcp_keepalive=True,
                       connect_timeout=5, read_timeout=60)


@dataclass(frozen=True, slots=True)
class AwsSettings:
    tables: TableNames
    bucket: str
    executor_function: str | None  # the query-executor Lambda (API functions only)
    public_url: str | None  # None: index hosts follow the request's Host
    group_rows: int | None  # rows per executor group (None: engine.remote's default)
    efs_root: str  # the executors' slab cache mount
    efs_max_bytes: int
    inference_function: str | None = None  # the inference Lambda running the packaged models (API functions)
    bedrock_models: tuple[str, ...] = ()  # Spruce names of the Bedrock models served (SPRUCE_BEDROCK_MODELS)
    bedrock_region: str | None = None  # None: the function's own region

    @staticmethod
    def from_env(env: dict[str, str] | None = None) -> AwsSettings:
        env = dict(os.environ) if env is None else env
        return AwsSettings(
            tables=TableNames.from_env(env),
            bucket=env["SPRUCE_BUCKET"],
            executor_function=env.get("SPRUCE_EXECUTOR_FUNCTION"),
            public_url=env.get("SPRUCE_PUBLIC_URL") or None,
            group_rows=int(env["SPRUCE_EXECUTOR_GROUP_ROWS"]) if env.get("SPRUCE_EXECUTOR_GROUP_ROWS") else None,
            efs_root=env.get("SPRUCE_EFS_ROOT", "/mnt/slabs"),
            efs_max_bytes=int(env.get("SPRUCE_EFS_MAX_BYTES", 200 * 2**30)),
            inference_function=env.get("SPRUCE_INFERENCE_FUNCTION") or None,
            bedrock_models=tuple(n.strip() for n in env.get("SPRUCE_BEDROCK_MODELS", "").split(",") if n.strip()),
            bedrock_region=env.get("SPRUCE_BEDROCK_REGION") or None,
        )


@cache
def client(service: str, region: str | None = None):
    """One boto3 client per service (and region) per process (endpoint and credentials from the
    environment; ``region`` None: the environment's)."""
    import boto3

    return boto3.client(service, region_name=region, config=CLIENT_CONFIG)
