"""Inference function: runs the packaged models (MiniLM, SPLADE, the MiniLM rerank) for the API
functions, whose lean layer has no model runtime. Requests arrive validated (``spruce.inference.remote``);
messages over Lambda's payload limit travel through S3 (``spruce.aws.payloads``). The models
load on their first request, once per container."""

import os
from typing import Any

from spruce.aws.payloads import PayloadSpill
from spruce.aws.settings import client
from spruce.inference.hub import packaged_hub
from spruce.inference.remote import serve

spill = PayloadSpill(client("s3"), os.environ["SPRUCE_BUCKET"])
hub = packaged_hub()


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return spill.pack_document(serve(hub, spill.unpack_document(event)))
