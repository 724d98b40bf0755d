"""Validation, truncation, limits and usage for the Inference API (BEHAVIOR §7).

The service speaks JSON-shaped dicts in and out and raises ``SpruceError`` subclasses, which
the API edge renders as ``{"error": {"code", "message"}, "status"}``. Statuses follow the
inference OAS: a bad request (unknown model, bad parameter, over a limit) is ``400
INVALID_ARGUMENT`` (INF-E-7), an unknown model in ``GET /models/{name}`` is ``404``
(INF-M-2).

Token counting: the model's own WordPiece tokens of each text, **without** ``[CLS]`` and
``[SEP]`` and after truncation ("What is the maximum diameter of a red pine?" counts 10, as
in Pinecone's example, INF-E-8). The limit ``max_sequence_length`` (256) counts what the
model sees, i.e. including the two special tokens, so a text keeps at most 254 tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spruce.errors import InvalidArgumentError, NotFoundError
from spruce.inference import models
from spruce.inference.models import CATALOGUE, ModelSpec

TRUNCATE_VALUES = ("END", "NONE")
INPUT_TYPES = ("query", "passage")

Provider = Any  # an object implementing ports.Embedder / ports.Reranker


def _default_provider(spec: ModelSpec) -> Provider:
    from spruce.inference import onnx_minilm  # noqa: PLC0415 - imported on first use

    return onnx_minilm.get()


def _available_text(type_: str) -> str:
    names = ", ".join(f"'{n}'" for n in models.available(type_))
    return f"Available {type_} models on this server: {names} (GET /models lists them)."


def _model(name: Any, type_: str) -> ModelSpec:
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"`model` is required: the name of a hosted {type_} model. {_available_text(type_)}")
    spec = CATALOGUE.get(name)
    if spec is not None and spec.type == type_:
        return spec
    if spec is not None:
        raise InvalidArgumentError(
            f"Model '{name}' is a {spec.type} model, not a {type_} model. {_available_text(type_)}"
        )
    if name in models.PINECONE_ONLY:
        raise InvalidArgumentError(
            f"Model '{name}' is hosted by Pinecone but not available on Spruce: its weights do not ship in an "
            f"offline package. {_available_text(type_)}"
        )
    raise InvalidArgumentError(f"Model '{name}' not found. {_available_text(type_)}")


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidArgumentError(f"The {what} request body must be a JSON object.")
    return body


def _parameters(raw: Any, allowed: tuple[str, ...], model: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidArgumentError("`parameters` must be an object.")
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise InvalidArgumentError(
            f"Unsupported parameter(s) {', '.join(unknown)} for model '{model}'; supported: {', '.join(allowed)}."
        )
    return raw


def _truncate(params: dict[str, Any], default: str) -> str:
    value = params.get("truncate", default)
    if not isinstance(value, str) or value.upper() not in TRUNCATE_VALUES:
        raise InvalidArgumentError(f"`truncate` must be one of {', '.join(TRUNCATE_VALUES)}; got {value!r}.")
    return value.upper()


def _fit(ids: list[int], limit: int, truncate: str, spec: ModelSpec, what: str) -> list[int]:
    """Apply the token limit: cut at the end (END) or refuse (NONE)."""
    content = limit - 2  # [CLS] and [SEP]
    if len(ids) <= content:
        return ids
    if truncate == "NONE":
        raise InvalidArgumentError(
            f"{what} is {len(ids) + 2} tokens, over the {limit}-token limit of model '{spec.name}' "
            f"(counting [CLS] and [SEP]), and truncate is NONE. Shorten it or use truncate END."
        )
    return ids[:content]


class InferenceService:
    def __init__(self, provider: Callable[[ModelSpec], Provider] = _default_provider) -> None:
        self._provider = provider

    # --- models -------------------------------------------------------------------------------

    def list_models(self, type_: str | None = None, vector_type: str | None = None) -> dict[str, Any]:
        if type_ is not None and type_ not in ("embed", "rerank"):
            raise InvalidArgumentError(f"`type` must be embed or rerank; got {type_!r}.")
        if vector_type is not None and vector_type not in ("dense", "sparse"):
            raise InvalidArgumentError(f"`vector_type` must be dense or sparse; got {vector_type!r}.")
        out = [
            m.info() for m in CATALOGUE.values()
            if (type_ is None or m.type == type_) and (vector_type is None or m.vector_type == vector_type)
        ]
        return {"models": out}

    def describe_model(self, name: str) -> dict[str, Any]:
        spec = CATALOGUE.get(name)
        if spec is None:
            names = ", ".join(f"'{n}'" for n in CATALOGUE)
            raise NotFoundError(f"Model {name} not found. Models available on this server: {names}.")
        return spec.info()

    # --- embed --------------------------------------------------------------------------------

    def embed(self, body: Any) -> dict[str, Any]:
        body = _object(body, "embed")
        spec = _model(body.get("model"), "embed")
        params = _parameters(body.get("parameters"), ("input_type", "truncate", "dimension"), spec.name)
        input_type = params.get("input_type")
        if input_type is None:
            raise InvalidArgumentError(
                f"`parameters.input_type` is required for model '{spec.name}': query or passage."
            )
        if input_type not in INPUT_TYPES:
            raise InvalidArgumentError(f"`input_type` must be query or passage; got {input_type!r}.")
        truncate = _truncate(params, "END")
        dimension = params.get("dimension", spec.default_dimension)
        if isinstance(dimension, bool) or dimension not in spec.supported_dimensions:
            raise InvalidArgumentError(
                f"`dimension` {dimension!r} is not supported by model '{spec.name}'; supported: "
                f"{', '.join(map(str, spec.supported_dimensions))}."
            )
        inputs = _batch(body, "inputs", spec, 'objects like {"text": "..."}')
        texts = []
        for i, item in enumerate(inputs):
            text = item.get("text") if isinstance(item, dict) else None
            if not isinstance(text, str):
                raise InvalidArgumentError(f"`inputs[{i}]` must be an object with a string `text`.")
            texts.append(text)
        model = self._provider(spec)
        ids = [
            _fit(t.ids, spec.max_sequence_length, truncate, spec, f"inputs[{i}]")
            for i, t in enumerate(model.tokenize(texts))
        ]
        # input_type: all-MiniLM-L6-v2 was trained without query/passage prefixes, so both
        # values embed the text as is (validated above, no effect on the vector).
        vectors = model.embed_ids(ids)
        return {
            "model": spec.name,
            "vector_type": "dense",
            "data": [{"values": row, "vector_type": "dense"} for row in vectors],
            "usage": {"total_tokens": sum(len(x) for x in ids)},
        }

    # --- rerank -------------------------------------------------------------------------------

    def rerank(self, body: Any) -> dict[str, Any]:
        body = _object(body, "rerank")
        spec = _model(body.get("model"), "rerank")
        params = _parameters(body.get("parameters"), ("truncate",), spec.name)
        truncate = _truncate(params, spec.default_truncate)
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise InvalidArgumentError("`query` is required: a non-empty string.")
        documents = _batch(body, "documents", spec, "documents")
        rank_fields = body.get("rank_fields", ["text"])
        if rank_fields is None:
            rank_fields = ["text"]
        if (not isinstance(rank_fields, list) or not rank_fields
                or not all(isinstance(f, str) and f for f in rank_fields)):
            raise InvalidArgumentError("`rank_fields` must be a non-empty list of field names.")
        if len(rank_fields) > spec.max_rank_fields:
            raise InvalidArgumentError(
                f"Model '{spec.name}' supports only {spec.max_rank_fields} rank field; got {len(rank_fields)} "
                f"({', '.join(rank_fields)})."
            )
        field = rank_fields[0]
        docs: list[dict[str, Any]] = []
        texts: list[str] = []
        for i, doc in enumerate(documents):
            if isinstance(doc, str):
                doc = {"text": doc}
            if not isinstance(doc, dict):
                raise InvalidArgumentError(f"`documents[{i}]` must be an object (or a string).")
            value = doc.get(field)
            if not isinstance(value, str):
                raise InvalidArgumentError(
                    f"`documents[{i}]` has no string field '{field}' to rank on (rank_fields: {rank_fields})."
                )
            docs.append(doc)
            texts.append(value)
        top_n = body.get("top_n")
        if top_n is None:
            top_n = len(docs)
        if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
            raise InvalidArgumentError(f"`top_n` must be a positive integer; got {top_n!r}.")
        return_documents = body.get("return_documents", True)
        if not isinstance(return_documents, bool):
            raise InvalidArgumentError("`return_documents` must be true or false.")

        model = self._provider(spec)
        tokens = model.tokenize([query, *texts])
        limit = spec.max_sequence_length
        q = _fit(tokens[0].ids, limit, truncate, spec, "The query")
        d = [_fit(t.ids, limit, truncate, spec, f"documents[{i}].{field}") for i, t in enumerate(tokens[1:])]
        scores = model.score_ids(q, d)
        order = sorted(range(len(docs)), key=lambda i: (-float(scores[i]), i))[:top_n]
        data = []
        for i in order:
            item: dict[str, Any] = {"index": i, "score": float(scores[i])}
            if return_documents:
                item["document"] = docs[i]
            data.append(item)
        # INF-R-6: one request is one rerank unit.
        return {"model": spec.name, "data": data, "usage": {"rerank_units": 1}}


def _batch(body: dict[str, Any], key: str, spec: ModelSpec, what: str) -> list[Any]:
    """The request's list under ``key``: 1 to the model's batch size items."""
    items = body.get(key)
    if not isinstance(items, list) or not items:
        raise InvalidArgumentError(f"`{key}` is required: a list of 1 to {spec.max_batch_size} {what}.")
    if len(items) > spec.max_batch_size:
        raise InvalidArgumentError(
            f"Model '{spec.name}' accepts at most {spec.max_batch_size} {key} per request; got {len(items)}. "
            "Split the batch.")
    return items
