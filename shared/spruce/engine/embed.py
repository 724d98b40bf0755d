"""The ``embed`` block of an integrated index (BEHAVIOR §3.7, §3.8): which hosted model embeds
the index's text, from which record field, with which parameters.

- ``new_model_index_config``: ``POST /indexes/create-for-model`` → an ``IndexConfig`` whose
  ``extra["embed"]`` holds the block (model, metric, dimension, vector_type, field_map,
  read/write parameters), echoed by describe/list.
- ``configure_embed``: ``PATCH /indexes/{name}`` with ``embed`` — converts an index to
  integrated embedding (the model must fit the index's vector type, dimension and metric,
  CP-CFG-3), or changes ``field_map`` / parameters of an integrated one (the model is fixed,
  CP-CFG-4).

Models come from the host's Inference API service (its model catalogue, which also embeds
the records), so its model checks and messages apply.
"""

from __future__ import annotations

from typing import Any

import orjson

from spruce.engine import indexes
from spruce.engine.model import IndexConfig
from spruce.errors import InvalidArgumentError, NotFoundError
from spruce.inference.models import ModelSpec
from spruce.inference.service import InferenceService

DEFAULT_READ = {"input_type": "query", "truncate": "END"}
DEFAULT_WRITE = {"input_type": "passage", "truncate": "END"}


def embed_of(cfg: IndexConfig) -> dict[str, Any] | None:
    return cfg.extra.get("embed")


def text_field(embed: dict[str, Any]) -> str:
    """The record field whose text is embedded (``field_map.text``)."""
    return embed["field_map"]["text"]


def read_parameters(embed: dict[str, Any]) -> dict[str, Any]:
    return dict(embed.get("read_parameters") or {})


def write_parameters(embed: dict[str, Any]) -> dict[str, Any]:
    return dict(embed.get("write_parameters") or {})


# ----------------------------------------------------------------------------- create


def new_model_index_config(body: Any, models: InferenceService) -> IndexConfig:
    """Validate a ``CreateIndexForModelRequest`` (CP-EMB-1..6) against the host's embed
    models (``models``: the Inference API service, whose unknown / Pinecone-only / rerank
    model messages apply). Type errors and missing required fields are 422 as for ``POST
    /indexes``; disallowed values 400."""
    body = indexes.require_object(body, "", "CreateIndexForModelRequest")
    name = indexes.validate_index_name(indexes.required_field(body, "name", str, "a string"))
    cloud = indexes.required_field(body, "cloud", str, "a string")
    region = indexes.required_field(body, "region", str, "a string")
    embed = indexes.require_object(indexes.required_field(body, "embed", dict, "a JSON object"), "embed",
                                   "CreateIndexForModelRequestEmbed")
    spec = models.model(indexes.required_field(embed, "model", str, "a string", "embed"), "embed")
    field_map = _field_map(indexes.required_field(embed, "field_map", dict, "a map of strings", "embed"))
    metric = indexes.typed_field(embed, "metric", str, "a string", "embed") or spec.supported_metrics[0]
    _check_metric(metric, spec)
    dimension = indexes.typed_field(embed, "dimension", int, "an integer", "embed")
    if spec.vector_type == "sparse":
        if dimension is not None:
            raise InvalidArgumentError(
                f"Model '{spec.name}' produces sparse vectors, which have no dimension: remove `embed.dimension`."
            )
    else:
        dimension = dimension or spec.default_dimension
        if dimension not in spec.supported_dimensions:
            raise InvalidArgumentError(
                f"Dimension {dimension} is not supported by model '{spec.name}'; supported: "
                f"{', '.join(map(str, spec.supported_dimensions))}."
            )
    block = _block(spec, metric=metric, dimension=dimension, field_map=field_map,
                   read=_parameters(embed, "read_parameters", spec), write=_parameters(embed, "write_parameters", spec))
    if region not in indexes.REGIONS.get(cloud, ()):
        raise NotFoundError(f"Resource cloud: {cloud} region: {region} not found.")
    indexes.validate_read_capacity(body.get("read_capacity"), "read_capacity")
    schema = body.get("schema")
    cfg = indexes.index_config(
        body, name=name, dimension=dimension, metric=metric, vector_type=spec.vector_type or "dense", cloud=cloud,
        region=region, schema=None if schema is None else indexes.validate_metadata_schema(schema, "schema"))
    cfg.extra["embed"] = block
    return cfg


# ----------------------------------------------------------------------------- configure


def configure_embed(cfg: IndexConfig, change: dict[str, Any], field: str | None,
                    models: InferenceService) -> dict[str, Any]:
    """The index's new ``embed`` block after ``change`` (a shape-checked
    ``ConfigureIndexRequest.embed``; ``field`` is the 2026-07 ``semantic_text`` field it
    was addressed to). Nothing is written here: every rule is checked first."""
    current = embed_of(cfg)
    if current is None:
        if field is not None:
            raise InvalidArgumentError(
                f"Index {cfg.name} has no semantic_text field `{field}`: it was not created for a model. Convert it "
                "with the `embed` block (PATCH /indexes/{name} with embed.model and embed.field_map)."
            )
        return _convert(cfg, change, models)
    if field is not None and field != text_field(current):
        raise InvalidArgumentError(
            f"Index {cfg.name} has no semantic_text field `{field}`; its text field is `{text_field(current)}`."
        )
    model = change.get("model")
    if model is not None and model != current["model"]:
        raise InvalidArgumentError(
            f"The embedding model of index {cfg.name} is '{current['model']}' and cannot be changed; only "
            "`field_map`, `read_parameters` and `write_parameters` can be updated. To use another model, create "
            "a new index for it."
        )
    metric = change.get("metric")
    if metric is not None and metric != current["metric"]:
        raise InvalidArgumentError(
            f"The metric of index {cfg.name} is `{current['metric']}` and cannot be changed after creation."
        )
    spec = models.model(current["model"], "embed")
    out = dict(current)
    if "field_map" in change:
        out["field_map"] = _field_map(change["field_map"])
    for key, defaults in (("read_parameters", DEFAULT_READ), ("write_parameters", DEFAULT_WRITE)):
        if key in change:
            params = _parameters(change, key, spec)
            _check_dimension(params, key, current.get("dimension"))
            out[key] = {**_defaults(defaults, spec), **params}
    return out


def _convert(cfg: IndexConfig, change: dict[str, Any], models: InferenceService) -> dict[str, Any]:
    """CP-CFG-3: an index without integrated embedding gets a model that fits it."""
    missing = [k for k in ("model", "field_map") if change.get(k) is None]
    if missing:
        raise InvalidArgumentError(
            f"Index {cfg.name} has no integrated embedding yet: to convert it, `embed` needs `model` and "
            f"`field_map` (missing: {', '.join(missing)}), e.g. "
            '{"model": "all-minilm-l6-v2", "field_map": {"text": "chunk_text"}}.'
        )
    spec = models.model(change["model"], "embed")
    if cfg.extra.get("sparse_field"):
        raise InvalidArgumentError(
            f"Index {cfg.name} is a hybrid index (dense and sparse vectors per record), which cannot use "
            "integrated embedding. Create an index for the model with POST /indexes/create-for-model."
        )
    if spec.vector_type != cfg.vector_type:
        raise InvalidArgumentError(
            f"Model '{spec.name}' produces {spec.vector_type} vectors but index {cfg.name} is a {cfg.vector_type} "
            f"index: the index's vector type must match the model's. Choose a {cfg.vector_type} embedding model "
            "(GET /models lists them) or create an index for this model."
        )
    if spec.vector_type == "dense" and cfg.dimension not in spec.supported_dimensions:
        raise InvalidArgumentError(
            f"Index {cfg.name} has dimension {cfg.dimension} but model '{spec.name}' produces "
            f"{', '.join(map(str, spec.supported_dimensions))}-dimensional vectors: the dimensions must match. "
            "Create an index for the model with POST /indexes/create-for-model instead."
        )
    _check_metric(cfg.metric, spec, f"index {cfg.name}'s metric")
    return _block(spec, metric=cfg.metric, dimension=cfg.dimension, field_map=_field_map(change["field_map"]),
                  read=_parameters(change, "read_parameters", spec),
                  write=_parameters(change, "write_parameters", spec))


# ----------------------------------------------------------------------------- rules


def _block(spec: ModelSpec, *, metric: str, dimension: int | None, field_map: dict[str, str],
           read: dict[str, Any], write: dict[str, Any]) -> dict[str, Any]:
    """The stored (and echoed, CP-EMB-6) block; parameters with the defaults filled in
    (CP-EMB-5). ``dimension`` is left out for sparse models rather than null: SDK 7.x rejects
    ``null`` for it."""
    _check_dimension(read, "read_parameters", dimension)
    _check_dimension(write, "write_parameters", dimension)
    block: dict[str, Any] = {"model": spec.name, "metric": metric, "dimension": dimension,
                             "vector_type": spec.vector_type, "field_map": field_map,
                             "read_parameters": {**_defaults(DEFAULT_READ, spec), **read},
                             "write_parameters": {**_defaults(DEFAULT_WRITE, spec), **write}}
    if dimension is None:
        del block["dimension"]
    return block


def _check_dimension(params: dict[str, Any], key: str, dimension: int | None) -> None:
    """A ``dimension`` model parameter must be the index's (records are embedded at it)."""
    if "dimension" in params and params["dimension"] != dimension:
        raise InvalidArgumentError(
            f"`embed.{key}.dimension` ({params['dimension']}) must be the index's dimension ({dimension}), or be "
            "left out."
        )


def _defaults(defaults: dict[str, Any], spec: ModelSpec) -> dict[str, Any]:
    supported = {p["parameter"] for p in spec.supported_parameters}
    return {k: v for k, v in defaults.items() if k in supported}


def _check_metric(metric: str, spec: ModelSpec, what: str | None = None) -> None:
    if metric not in spec.supported_metrics:
        subject = f"Metric `{metric}`" if what is None else f"The {what} `{metric}`"
        raise InvalidArgumentError(
            f"{subject} is not supported by model '{spec.name}'; supported: {', '.join(spec.supported_metrics)}."
        )


def _field_map(field_map: dict[str, Any]) -> dict[str, str]:
    if set(field_map) != {"text"} or not isinstance(field_map["text"], str) or not field_map["text"]:
        raise InvalidArgumentError(
            f"`embed.field_map` must map the model input `text` to the record field holding the text, e.g. "
            f'{{"text": "chunk_text"}}; got {orjson.dumps(field_map).decode()}.'
        )
    return {"text": field_map["text"]}


def _parameters(embed: dict, key: str, spec: ModelSpec) -> dict[str, Any]:
    """Model parameters checked against the model's own ``supported_parameters``."""
    raw = indexes.typed_field(embed, key, dict, "a JSON object", "embed") or {}
    supported = {p["parameter"]: p for p in spec.supported_parameters}
    for name, value in raw.items():
        p = supported.get(name)
        if p is None:
            raise InvalidArgumentError(
                f"Unsupported parameter `embed.{key}.{name}` for model '{spec.name}'; supported: "
                f"{', '.join(supported)}."
            )
        allowed = p.get("allowed_values")
        if allowed is not None and value not in allowed:
            raise InvalidArgumentError(
                f"`embed.{key}.{name}` must be one of {', '.join(map(str, allowed))}; got {value!r}."
            )
    return dict(raw)
