"""Validation, limits and response shapes for the Inference API (BEHAVIOR §7).

The service speaks JSON-shaped dicts in and out and raises ``SpruceError`` subclasses, which
the API edge renders as ``{"error": {"code", "message"}, "status"}``. Statuses follow the
inference OAS: a bad request (unknown model, bad parameter, over a limit) is ``400
INVALID_ARGUMENT`` (INF-E-7), an unknown model in ``GET /models/{name}`` is ``404``
(INF-M-2).

Everything that does not need the model's tokenizer is checked here, against the model's
``ModelSpec`` (its ``supported_parameters`` are the rules), before any provider runs: the
same checks for a model run in-process, in the AWS inference function or on Bedrock. Token
rules (truncation, the per-text token limit, token counts) are the provider's: ``local``
for the models whose tokenizer runs here, the remote model for the others.
"""

from __future__ import annotations

from typing import Any

from spruce.errors import InvalidArgumentError, NotFoundError
from spruce.inference.hub import ModelHub, packaged_hub
from spruce.inference.models import ModelSpec
from spruce.inference.ports import EmbedProvider, EmbedRequest, RerankProvider, RerankRequest


def _available_text(hub: ModelHub, type_: str) -> str:
    names = ", ".join(f"'{n}'" for n in hub.names(type_))
    return f"Available {type_} models on this server: {names} (GET /models lists them)."


def resolve_model(hub: ModelHub, name: Any, type_: str) -> ModelSpec:
    """The spec of the ``type_`` model ``name`` on this hub, or a 400 naming the available ones."""
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(
            f"`model` is required: the name of a hosted {type_} model. {_available_text(hub, type_)}")
    spec = hub.spec(name)
    if spec is not None and spec.type == type_:
        return spec
    if spec is not None:
        raise InvalidArgumentError(
            f"Model '{name}' is a {spec.type} model, not a {type_} model. {_available_text(hub, type_)}"
        )
    if hub.hosted_elsewhere(name):
        raise InvalidArgumentError(
            f"Model '{name}' is hosted by Pinecone but not available on Spruce (this server does not serve it). "
            f"{_available_text(hub, type_)}"
        )
    raise InvalidArgumentError(f"Model '{name}' not found. {_available_text(hub, type_)}")


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidArgumentError(f"The {what} request body must be a JSON object.")
    return body


def _check_value(name: str, value: Any, rule: dict[str, Any]) -> Any:
    """``value`` checked against one ``supported_parameters`` entry; strings match allowed
    values case-insensitively and come back spelled as listed."""
    kind = rule["value_type"]
    if kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    allowed = rule.get("allowed_values")
    if ok and allowed is not None:
        if kind == "string":
            match = [a for a in allowed if a.upper() == value.upper()]
            ok, value = bool(match), (match[0] if match else value)
        else:
            ok = value in allowed
    if not ok:
        expected = f"one of {', '.join(map(str, allowed))}" if allowed is not None else f"a {kind}"
        raise InvalidArgumentError(f"`{name}` must be {expected}; got {value!r}.")
    return value


def parameters(raw: Any, spec: ModelSpec) -> dict[str, Any]:
    """The request's ``parameters`` checked against the model's ``supported_parameters``
    (INF-E-2, INF-E-7), with the defaults filled in."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidArgumentError("`parameters` must be an object.")
    rules = {p["parameter"]: p for p in spec.supported_parameters}
    unknown = sorted(set(raw) - set(rules))
    if unknown:
        raise InvalidArgumentError(
            f"Unsupported parameter(s) {', '.join(unknown)} for model '{spec.name}'; supported: "
            f"{', '.join(rules) or 'none'}."
        )
    out: dict[str, Any] = {}
    for name, rule in rules.items():
        if name in raw and raw[name] is not None:
            out[name] = _check_value(name, raw[name], rule)
        elif rule.get("required"):
            allowed = " or ".join(map(str, rule.get("allowed_values") or ()))
            raise InvalidArgumentError(f"`parameters.{name}` is required for model '{spec.name}': {allowed}.")
        elif "default" in rule:
            out[name] = rule["default"]
    return out


def _batch(body: dict[str, Any], key: str, spec: ModelSpec, what: str) -> list[Any]:
    """The request's list under ``key``: 1 to the model's batch size items (INF-E-4, INF-R-4)."""
    items = body.get(key)
    if not isinstance(items, list) or not items:
        raise InvalidArgumentError(f"`{key}` is required: a list of 1 to {spec.max_batch_size} {what}.")
    if len(items) > spec.max_batch_size:
        raise InvalidArgumentError(
            f"Model '{spec.name}' accepts at most {spec.max_batch_size} {key} per request; got {len(items)}. "
            "Split the batch.")
    return items


class InferenceService:
    """Embed, rerank and the model listing over one host's ``ModelHub``."""

    def __init__(self, hub: ModelHub | None = None) -> None:
        self.hub = hub or packaged_hub()

    def model(self, name: Any, type_: str) -> ModelSpec:
        return resolve_model(self.hub, name, type_)

    # --- models -------------------------------------------------------------------------------

    def list_models(self, type_: str | None = None, vector_type: str | None = None) -> dict[str, Any]:
        if type_ is not None and type_ not in ("embed", "rerank"):
            raise InvalidArgumentError(f"`type` must be embed or rerank; got {type_!r}.")
        if vector_type is not None and vector_type not in ("dense", "sparse"):
            raise InvalidArgumentError(f"`vector_type` must be dense or sparse; got {vector_type!r}.")
        out = [
            m.info() for m in self.hub.specs()
            if (type_ is None or m.type == type_) and (vector_type is None or m.vector_type == vector_type)
        ]
        return {"models": out}

    def describe_model(self, name: str) -> dict[str, Any]:
        spec = self.hub.spec(name)
        if spec is None:
            names = ", ".join(f"'{n}'" for n in self.hub.names())
            raise NotFoundError(f"Model {name} not found. Models available on this server: {names}.")
        return spec.info()

    # --- embed --------------------------------------------------------------------------------

    def embed(self, body: Any) -> dict[str, Any]:
        body = _object(body, "embed")
        spec = self.model(body.get("model"), "embed")
        params = parameters(body.get("parameters"), spec)
        inputs = _batch(body, "inputs", spec, 'objects like {"text": "..."}')
        texts = []
        for i, item in enumerate(inputs):
            text = item.get("text") if isinstance(item, dict) else None
            if not isinstance(text, str):
                raise InvalidArgumentError(f"`inputs[{i}]` must be an object with a string `text`.")
            texts.append(text)
        request = EmbedRequest(
            model=spec.name, texts=texts, input_type=params["input_type"], truncate=params.get("truncate", "END"),
            max_tokens=params.get("max_tokens_per_sequence", spec.max_sequence_length),
            dimension=params.get("dimension", spec.default_dimension),
            return_tokens=params.get("return_tokens", False),
        )
        provider: EmbedProvider = self.hub.provider(spec.name)  # type: ignore[assignment]
        out = provider.embed(request)
        if spec.vector_type == "sparse":
            assert out.sparse is not None
            data = []
            for v in out.sparse:
                item: dict[str, Any] = {"sparse_values": v.values, "sparse_indices": v.indices}
                if request.return_tokens:
                    item["sparse_tokens"] = v.tokens
                item["vector_type"] = "sparse"
                data.append(item)
        else:
            assert out.dense is not None
            data = [{"values": row, "vector_type": "dense"} for row in out.dense]
        return {"model": spec.name, "vector_type": spec.vector_type, "data": data,
                "usage": {"total_tokens": out.total_tokens}}

    # --- rerank -------------------------------------------------------------------------------

    def rerank(self, body: Any) -> dict[str, Any]:
        body = _object(body, "rerank")
        spec = self.model(body.get("model"), "rerank")
        params = parameters(body.get("parameters"), spec)
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
        docs: list[dict[str, Any]] = []
        texts: list[str] = []
        for i, doc in enumerate(documents):
            if isinstance(doc, str):
                doc = {"text": doc}
            if not isinstance(doc, dict):
                raise InvalidArgumentError(f"`documents[{i}]` must be an object (or a string).")
            for field in rank_fields:
                if not isinstance(doc.get(field), str):
                    raise InvalidArgumentError(
                        f"`documents[{i}]` has no string field '{field}' to rank on (rank_fields: {rank_fields})."
                    )
            docs.append(doc)
            # Several rank fields (INF-R-4) reach the model as one "field: value" line each, in priority order.
            texts.append(doc[rank_fields[0]] if len(rank_fields) == 1
                         else "\n".join(f"{f}: {doc[f]}" for f in rank_fields))
        top_n = body.get("top_n")
        if top_n is None:
            top_n = len(docs)
        if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
            raise InvalidArgumentError(f"`top_n` must be a positive integer; got {top_n!r}.")
        return_documents = body.get("return_documents", True)
        if not isinstance(return_documents, bool):
            raise InvalidArgumentError("`return_documents` must be true or false.")

        provider: RerankProvider = self.hub.provider(spec.name)  # type: ignore[assignment]
        scores = provider.rerank(RerankRequest(
            model=spec.name, query=query, documents=texts, truncate=params.get("truncate", spec.default_truncate),
            max_tokens=spec.max_sequence_length))
        order = sorted(range(len(docs)), key=lambda i: (-float(scores[i]), i))[:top_n]
        data = []
        for i in order:
            item: dict[str, Any] = {"index": i, "score": float(scores[i])}
            if return_documents:
                item["document"] = docs[i]
            data.append(item)
        # INF-R-6: one request is one rerank unit.
        return {"model": spec.name, "data": data, "usage": {"rerank_units": 1}}
