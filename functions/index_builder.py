"""Index builder: triggered by the request log's DynamoDB stream, flushes each namespace's
tail into a new slab on S3 and commits the manifest (then compacts by policy)."""

from typing import Any

from spruce.arrow_memory import use_jemalloc
from spruce.aws.settings import AwsSettings
from spruce.aws.stream import build
from spruce.aws.workers import builder_engine

use_jemalloc()  # slab writes in a fresh container: see spruce.arrow_memory
engine = builder_engine(AwsSettings.from_env())


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return build(engine, event)
