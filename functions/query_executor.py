"""Query executor: answers the data-plane router's questions about one group of slabs,
read from the EFS cache (copied from S3 on first use, LRU-bounded)."""

from typing import Any

from spruce.aws.settings import AwsSettings
from spruce.aws.workers import executor_slabs
from spruce.engine.executor import serve

slabs = executor_slabs(AwsSettings.from_env())


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return serve(slabs, event)
