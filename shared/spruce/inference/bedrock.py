"""Amazon Bedrock models behind the provider ports (AWS host, opt-in: ``SPRUCE_BEDROCK_MODELS``).

| Spruce name | Bedrock model | API |
|---|---|---|
| ``cohere-rerank-3.5`` (Pinecone's name for the same model) | ``cohere.rerank-v3-5:0`` | bedrock-agent-runtime ``Rerank`` |
| ``amazon.titan-embed-text-v2:0`` | same | bedrock-runtime ``InvokeModel``, one text per call |
| ``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3`` | same | ``InvokeModel``, up to 96 texts per call |

Bedrock counts and truncates tokens itself; the service has validated everything else
against the ``ModelSpec`` here before a request is sent. Bedrock's errors become
Pinecone-shaped ones that say what to fix: a rejected input is 400, throttling 429, anything
about access, availability or the service 503 (never a 500).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from spruce.errors import InvalidArgumentError, ResourceExhaustedError, SpruceError, UnavailableError
from spruce.inference.models import INPUT_TYPE_PARAM, ModelSpec, dimension_param, truncate_param
from spruce.inference.ports import Embeddings, EmbedRequest, RerankRequest

#: Titan takes one text per call: a batch fans out over this many concurrent calls.
TITAN_PARALLEL = 8
#: Titan Text Embeddings V2 refuses inputs over 50,000 characters (and 8,192 tokens).
TITAN_MAX_CHARS = 50_000
TOKEN_COUNT_HEADER = "x-amzn-bedrock-input-token-count"
PROVIDER = "Amazon Bedrock"


def foundation_model_arn(region: str, model_id: str) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


def _call(model: ModelSpec, model_id: str, region: str, send: Callable[[], Any]) -> Any:
    """``send()`` with Bedrock's errors translated."""
    try:
        return send()
    except ClientError as exc:
        raise bedrock_error(exc, model.name, model_id, region) from exc
    except BotoCoreError as exc:
        raise UnavailableError(f"Amazon Bedrock could not be reached for model '{model.name}' ({model_id}, "
                               f"{region}): {exc}. Retry later.") from exc


def bedrock_error(exc: ClientError, name: str, model_id: str, region: str) -> SpruceError:
    code = exc.response.get("Error", {}).get("Code", "")
    detail = exc.response.get("Error", {}).get("Message", "")
    where = f"model '{name}' ({model_id}) in {region}"
    if code == "ValidationException":
        return InvalidArgumentError(f"Amazon Bedrock rejected the request for {where}: {detail}")
    if code in ("ThrottlingException", "ServiceQuotaExceededException"):
        return ResourceExhaustedError(
            f"Request failed. Amazon Bedrock throttled {where}: {detail}. Retry with exponential backoff, or raise "
            "the model's Bedrock quota.")
    if code == "AccessDeniedException":
        return UnavailableError(
            f"Amazon Bedrock denied access to {where}: {detail}. The operator of this server must enable access to "
            f"{model_id} in the Bedrock console (Model access, region {region}) and allow the inference role "
            "bedrock:InvokeModel on it (and bedrock:Rerank for rerank models).")
    if code == "ResourceNotFoundException":
        return UnavailableError(
            f"Amazon Bedrock has no {where}: {detail}. The operator must pick a region where {model_id} is offered "
            "(SPRUCE_BEDROCK_REGION) or remove it from SPRUCE_BEDROCK_MODELS.")
    return UnavailableError(f"Amazon Bedrock failed for {where} ({code or 'error'}): {detail}. Retry later.")


# --- specs ------------------------------------------------------------------------------------------

COHERE_RERANK = ModelSpec(
    name="cohere-rerank-3.5",
    type="rerank",
    short_description=(
        "Cohere Rerank 3.5 (cohere.rerank-v3-5:0) on Amazon Bedrock, through the Bedrock Rerank API. Several rank "
        "fields are sent as one 'field: value' line each, in rank_fields order. Documents over 4,096 tokens are "
        "truncated by the model."
    ),
    provider_name="Cohere (on Amazon Bedrock)",
    max_sequence_length=4096,
    max_batch_size=200,
    max_rank_fields=10,
)

TITAN_V2 = ModelSpec(
    name="amazon.titan-embed-text-v2:0",
    type="embed",
    short_description=(
        "Amazon Titan Text Embeddings V2 on Amazon Bedrock: 100+ languages, 256, 512 or 1024 dimensions, "
        "normalised (normalize=true). input_type is accepted and validated but Titan has none. Titan does not "
        "truncate: truncate END cuts a text at Titan's 50,000 characters; over 8,192 tokens is a 400 either way."
    ),
    provider_name="Amazon (on Amazon Bedrock)",
    vector_type="dense",
    default_dimension=1024,
    supported_dimensions=(256, 512, 1024),
    supported_metrics=("cosine", "dotproduct", "euclidean"),
    max_sequence_length=8192,
    max_batch_size=96,
    supported_parameters=(INPUT_TYPE_PARAM, truncate_param("END"), dimension_param((256, 512, 1024), 1024)),
)


def _cohere_embed_spec(model_id: str, language: str) -> ModelSpec:
    return ModelSpec(
        name=model_id,
        type="embed",
        short_description=(
            f"Cohere Embed v3 {language} on Amazon Bedrock, 1024 dimensions. input_type query/passage is sent as "
            "search_query/search_document; truncate END/NONE as Cohere's END/NONE."
        ),
        provider_name="Cohere (on Amazon Bedrock)",
        vector_type="dense",
        default_dimension=1024,
        supported_dimensions=(1024,),
        supported_metrics=("cosine", "dotproduct"),
        max_sequence_length=512,
        max_batch_size=96,
        supported_parameters=(INPUT_TYPE_PARAM, truncate_param("END"), dimension_param((1024,), 1024)),
    )


COHERE_EMBED_ENGLISH = _cohere_embed_spec("cohere.embed-english-v3", "English")
COHERE_EMBED_MULTILINGUAL = _cohere_embed_spec("cohere.embed-multilingual-v3", "multilingual")


# --- providers --------------------------------------------------------------------------------------


class CohereRerank:
    """``RerankProvider`` over the Bedrock Rerank API (bedrock-agent-runtime)."""

    def __init__(self, spec: ModelSpec, model_id: str, region: str, agent_runtime: Any) -> None:
        self._spec, self._id, self._region, self._client = spec, model_id, region, agent_runtime
        self._arn = foundation_model_arn(region, model_id)

    def rerank(self, request: RerankRequest) -> np.ndarray:
        scores = np.zeros(len(request.documents), dtype=np.float64)
        kwargs: dict[str, Any] = {
            "queries": [{"type": "TEXT", "textQuery": {"text": request.query}}],
            "sources": [{"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": d}}}
                        for d in request.documents],
            "rerankingConfiguration": {"type": "BEDROCK_RERANKING_MODEL", "bedrockRerankingConfiguration": {
                "modelConfiguration": {"modelArn": self._arn}, "numberOfResults": len(request.documents)}},
        }
        while True:
            out = _call(self._spec, self._id, self._region, lambda: self._client.rerank(**kwargs))
            for result in out["results"]:
                scores[result["index"]] = result["relevanceScore"]
            if not out.get("nextToken"):
                return scores
            kwargs["nextToken"] = out["nextToken"]


def _invoke(client: Any, spec: ModelSpec, model_id: str, region: str, body: dict[str, Any]) -> tuple[dict, int | None]:
    """InvokeModel with a JSON body: the JSON answer and Bedrock's input-token count header."""
    out = _call(spec, model_id, region, lambda: client.invoke_model(
        modelId=model_id, body=json.dumps(body), contentType="application/json", accept="application/json"))
    headers = out.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    tokens = headers.get(TOKEN_COUNT_HEADER)
    return json.loads(out["body"].read()), (int(tokens) if tokens is not None else None)


class TitanEmbed:
    """``EmbedProvider`` over Titan Text Embeddings V2 (one InvokeModel per text, in parallel)."""

    def __init__(self, spec: ModelSpec, model_id: str, region: str, runtime: Any) -> None:
        self._spec, self._id, self._region, self._client = spec, model_id, region, runtime
        self._pool = ThreadPoolExecutor(max_workers=TITAN_PARALLEL, thread_name_prefix="spruce-titan")

    def _one(self, text: str, request: EmbedRequest) -> tuple[list[float], int]:
        if request.truncate == "END":
            text = text[:TITAN_MAX_CHARS]
        body = {"inputText": text, "dimensions": request.dimension, "normalize": True}
        out, header_tokens = _invoke(self._client, self._spec, self._id, self._region, body)
        return out["embedding"], int(out.get("inputTextTokenCount", header_tokens or 0))

    def embed(self, request: EmbedRequest) -> Embeddings:
        results = list(self._pool.map(lambda t: self._one(t, request), request.texts))
        return Embeddings(total_tokens=sum(n for _, n in results),
                          dense=np.asarray([v for v, _ in results], dtype=np.float32))


class CohereEmbed:
    """``EmbedProvider`` over Cohere Embed v3 (the whole batch, at most 96 texts, in one call)."""

    INPUT_TYPES = {"query": "search_query", "passage": "search_document"}

    def __init__(self, spec: ModelSpec, model_id: str, region: str, runtime: Any) -> None:
        self._spec, self._id, self._region, self._client = spec, model_id, region, runtime

    def embed(self, request: EmbedRequest) -> Embeddings:
        body = {"texts": request.texts, "input_type": self.INPUT_TYPES[request.input_type],
                "truncate": request.truncate, "embedding_types": ["float"]}
        out, tokens = _invoke(self._client, self._spec, self._id, self._region, body)
        vectors = out["embeddings"]
        if isinstance(vectors, dict):  # response_type "embeddings_by_type"
            vectors = vectors["float"]
        return Embeddings(total_tokens=tokens or 0, dense=np.asarray(vectors, dtype=np.float32))


@dataclass(frozen=True)
class BedrockModel:
    spec: ModelSpec
    model_id: str
    api: str  # the boto3 service it is called through
    provider: type


CATALOGUE: dict[str, BedrockModel] = {m.spec.name: m for m in (
    BedrockModel(COHERE_RERANK, "cohere.rerank-v3-5:0", "bedrock-agent-runtime", CohereRerank),
    BedrockModel(TITAN_V2, "amazon.titan-embed-text-v2:0", "bedrock-runtime", TitanEmbed),
    BedrockModel(COHERE_EMBED_ENGLISH, "cohere.embed-english-v3", "bedrock-runtime", CohereEmbed),
    BedrockModel(COHERE_EMBED_MULTILINGUAL, "cohere.embed-multilingual-v3", "bedrock-runtime", CohereEmbed),
)}


def model_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """``SPRUCE_BEDROCK_MODELS`` (comma-separated): Spruce names from ``CATALOGUE``, or ``all``."""
    if names == ("all",):
        return tuple(CATALOGUE)
    unknown = [n for n in names if n not in CATALOGUE]
    if unknown:
        raise ValueError(f"SPRUCE_BEDROCK_MODELS: unknown model(s) {', '.join(unknown)}; known: "
                         f"{', '.join(CATALOGUE)} (or 'all').")
    return names


def provider(name: str, region: str, client: Callable[[str], Any]) -> Any:
    """The provider of the Bedrock model ``name``; ``client(service)`` gives the process's boto3
    client for ``bedrock-runtime`` / ``bedrock-agent-runtime`` in ``region``."""
    model = CATALOGUE[name]
    return model.provider(model.spec, model.model_id, region, client(model.api))
