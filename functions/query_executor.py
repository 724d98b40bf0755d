"""Query executor: answers the data-plane router's questions about one group of slabs,
read from the EFS cache (copied from S3 on first use, LRU-bounded). Questions and answers over
Lambda's payload limit travel through S3 (``spruce.aws.payloads``)."""

from typing import Any

from spruce.aws.payloads import PayloadSpill
from spruce.aws.settings import AwsSettings, client
from spruce.aws.workers import executor_slabs
from spruce.engine.executor import serve

settings = AwsSettings.from_env()
slabs = executor_slabs(settings)
spill = PayloadSpill(client("s3"), settings.bucket)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return spill.pack_document(serve(slabs, spill.unpack_document(event)))
