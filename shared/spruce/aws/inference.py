"""Wiring of the Inference API on the AWS API functions: which models the host serves and who
runs them.

- The packaged models (MiniLM, SPLADE, the MiniLM rerank) run in the inference function (the
  worker image: the API functions' lean layer has no model runtime), reached with a synchronous
  Lambda invocation; oversized messages travel through S3 as the executors' do. Without
  ``SPRUCE_INFERENCE_FUNCTION`` they are still listed and answer 503 naming what is missing.
- Amazon Bedrock models named in ``SPRUCE_BEDROCK_MODELS`` run on Bedrock, called from the API
  function itself (region ``SPRUCE_BEDROCK_REGION``, default the function's).
"""

from __future__ import annotations

from functools import partial

from spruce.aws.invoke import LambdaInvoker
from spruce.aws.payloads import PayloadSpill
from spruce.aws.settings import AwsSettings, client
from spruce.inference import bedrock
from spruce.inference.hub import PACKAGED_PROVIDERS, HostedModel, ModelHub
from spruce.inference.models import PACKAGED
from spruce.inference.remote import remote_models
from spruce.inference.service import InferenceService


def aws_inference(settings: AwsSettings) -> InferenceService:
    if settings.inference_function:
        spill = PayloadSpill(client("s3"), settings.bucket)
        models = remote_models(LambdaInvoker(client("lambda"), settings.inference_function, spill))
    else:
        models = [HostedModel(spec, PACKAGED_PROVIDERS[spec.name]) for spec in PACKAGED]
    names = bedrock.model_names(settings.bedrock_models)
    if names:
        region = settings.bedrock_region or client("bedrock-runtime").meta.region_name
        for name in names:
            models.append(HostedModel(bedrock.CATALOGUE[name].spec,
                                      partial(bedrock.provider, name, region, lambda api: client(api, region))))
    return InferenceService(ModelHub(models))
