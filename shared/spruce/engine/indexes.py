"""Control-plane rules for creating and configuring indexes (BEHAVIOR §3.1–3.6, §3.8).

Status codes, decided once for every control-plane body (ERR-4, CP-CFG-7):

- **422 UNPROCESSABLE_ENTITY** when the body cannot be deserialised into the request type:
  not a JSON object, a required field missing (``name``, ``spec``, ``spec.serverless.cloud``
  / ``region``), or a field of the wrong JSON type (``"dimension": "8"``). Messages follow
  Pinecone's serde wording: ``Failed to deserialize the JSON body into the target type:
  missing field `name` ``.
- **400 INVALID_ARGUMENT** when every field has the right type but a value is not allowed:
  a bad index name, a dimension out of range, an unknown metric / vector type / deletion
  protection value, a pod or BYOC spec, a malformed tag, a field PATCH cannot change.
- **404 NOT_FOUND** for a cloud/region pair Spruce does not serve (CP-SPEC-2).

``null`` is treated as an absent field everywhere (serde ``Option``), and unknown top-level
fields of a create request are ignored so newer clients keep working (BEHAVIOR §12 D1).

Two request shapes create an index, told apart by their fields whatever the API version:
2025-04/2025-10 (``dimension``, ``metric``, ``vector_type``, ``spec``) and 2026-07 (``schema``
with the reserved vector fields ``_values`` / ``_sparse_values``, and ``deployment``), which
SDK 10.x sends even for its legacy ``create_index(dimension=…, spec=…)`` call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from spruce.engine.model import IndexConfig
from spruce.errors import InvalidArgumentError, NotFoundError, UnprocessableEntityError

MAX_DIMENSION = 20_000
METRICS = ("cosine", "euclidean", "dotproduct")
VECTOR_TYPES = ("dense", "sparse")
DELETION_PROTECTION = ("enabled", "disabled")
REGIONS: dict[str, tuple[str, ...]] = {
    "aws": ("us-east-1", "us-west-2", "eu-west-1"),
    "gcp": ("us-central1", "europe-west4"),
    "azure": ("eastus2",),
}

NAME_MESSAGE = (
    "Index name must contain only lowercase alphanumeric characters or hyphens, "
    "and must not begin or end with a hyphen."
)
_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_TAG_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,80}")
_TAG_VALUE_RE = re.compile(r"[A-Za-z0-9;@_\-.+ ]{0,120}")
_CONFIGURABLE = ("deletion_protection", "tags", "embed", "spec", "read_capacity", "schema")
_EMBED_CONFIGURABLE = ("model", "field_map", "read_parameters", "write_parameters")
_SEMANTIC_TEXT_KEYS = ("type", "model", "metric", "description", "read_parameters", "write_parameters")
DENSE_FIELD = "_values"
SPARSE_FIELD = "_sparse_values"
_METADATA_TYPES = ("string", "integer", "float", "boolean", "string_list")
_DEFAULT_DEPLOYMENT = ("aws", "us-east-1")


@dataclass(slots=True, frozen=True)
class ConfigureRequest:
    """A validated ``PATCH /indexes/{name}``; ``None`` means "leave unchanged"."""

    deletion_protection: str | None = None
    tags: dict[str, str] | None = None
    #: the ``embed`` block (shape-checked; ``spruce.engine.embed`` checks it against the index)
    embed: dict[str, Any] | None = None
    #: 2026-07: the ``semantic_text`` field the change was addressed to (must be the index's text field)
    embed_field: str | None = None


def new_index_config(body: Any) -> IndexConfig:
    """Validate a ``POST /indexes`` body and build the config the catalog stores."""
    body = require_object(body, "", "CreateIndexRequest")
    if body.get("schema") is not None or body.get("deployment") is not None:
        return _new_index_config_2026(body)
    name = validate_index_name(required_field(body, "name", str, "a string"))
    vector_type = _enum(body, "vector_type", VECTOR_TYPES) or "dense"
    dimension = typed_field(body, "dimension", int, "an integer")
    metric = _enum(body, "metric", METRICS)
    if vector_type == "dense":
        if dimension is None:
            raise InvalidArgumentError(
                "Dense indexes need a `dimension`: set it to the length of your vectors (1 to 20000)."
            )
        if not 1 <= dimension <= MAX_DIMENSION:
            raise InvalidArgumentError(f"Dimension must be between 1 and {MAX_DIMENSION}; got {dimension}.")
        metric = metric or "cosine"
    else:
        if dimension is not None:
            raise InvalidArgumentError("Sparse indexes must not set `dimension`: remove it from the request.")
        metric = metric or "dotproduct"
        if metric != "dotproduct":
            raise InvalidArgumentError(
                f"Sparse indexes only support the `dotproduct` metric; got `{metric}`. "
                "Set `metric` to `dotproduct` or omit it."
            )
    cloud, region, schema = _serverless_spec(required_field(body, "spec", dict, "a JSON object"))
    return index_config(body, name=name, dimension=dimension if vector_type == "dense" else None, metric=metric,
                        vector_type=vector_type, cloud=cloud, region=region, schema=schema)


def _new_index_config_2026(body: dict) -> IndexConfig:
    """The 2026-07 create request: ``schema.fields`` declares the vector fields (only the
    reserved ``_values`` / ``_sparse_values``) and filterable metadata fields; ``deployment``
    where the index runs (managed only; absent = aws us-east-1)."""
    name = body.get("name")
    name = validate_index_name(typed_field(body, "name", str, "a string")) if name is not None \
        else f"index-{uuid4().hex[:12]}"
    schema = required_field(body, "schema", dict, "a JSON object")
    fields = required_field(schema, "fields", dict, "a map of field definitions", "schema")
    dense: tuple[int, str] | None = None
    sparse = False
    metadata: dict[str, dict[str, Any]] = {}
    for field_name, field_doc in fields.items():
        path = f"schema.fields.{field_name}"
        field_doc = require_object(field_doc, path, "SchemaField")
        kind = typed_field(field_doc, "type", str, "a string", path)
        if kind == "dense_vector":
            if field_name != DENSE_FIELD:
                raise InvalidArgumentError(
                    f"Dense vector fields must be named `{DENSE_FIELD}` (got `{field_name}`): Spruce stores one "
                    "dense vector per record, addressed as `values` by the vectors API."
                )
            dimension = required_field(field_doc, "dimension", int, "an integer", path)
            if not 1 <= dimension <= MAX_DIMENSION:
                raise InvalidArgumentError(f"Dimension must be between 1 and {MAX_DIMENSION}; got {dimension}.")
            metric = _enum(field_doc, "metric", METRICS) or "cosine"
            dense = (dimension, metric)
        elif kind == "sparse_vector":
            if field_name != SPARSE_FIELD:
                raise InvalidArgumentError(
                    f"Sparse vector fields must be named `{SPARSE_FIELD}` (got `{field_name}`): Spruce stores one "
                    "sparse vector per record, addressed as `sparseValues` by the vectors API."
                )
            sparse = True
        elif kind in _METADATA_TYPES or kind is None:
            unsupported = [k for k in ("full_text_search", "embed", "sparse_embed") if field_doc.get(k) is not None]
            if unsupported:
                raise InvalidArgumentError(
                    f"`{path}.{unsupported[0]}` is not supported: Spruce does not run full-text search or "
                    "integrated embedding on schema fields. Declare the field as filterable metadata only."
                )
            metadata[field_name] = _metadata_field(field_doc, path, kind)
        elif kind == "semantic_text":
            raise InvalidArgumentError(
                f"`{path}` is a `semantic_text` field, which only an index created for a model has: create it with "
                "POST /indexes/create-for-model (SDK: create_for_model), or declare `_values` and upsert vectors."
            )
        else:
            raise InvalidArgumentError(
                f"Unknown schema field type `{kind}` for `{path}`: expected dense_vector, sparse_vector, "
                f"or a metadata type ({', '.join(_METADATA_TYPES)})."
            )
    if dense is None and not sparse:
        raise InvalidArgumentError(
            f"`schema.fields` must declare a vector field: `{DENSE_FIELD}` (type dense_vector) and/or "
            f"`{SPARSE_FIELD}` (type sparse_vector)."
        )
    if dense is not None and sparse and dense[1] != "dotproduct":
        raise InvalidArgumentError(
            f"An index with both `{DENSE_FIELD}` and `{SPARSE_FIELD}` (hybrid) needs the `dotproduct` metric; "
            f"got `{dense[1]}`."
        )
    cloud, region = _deployment(body.get("deployment"))
    validate_read_capacity(body.get("read_capacity"), "read_capacity")
    for unsupported in ("source_collection", "source_backup_id", "cmek_id"):
        if body.get(unsupported) is not None:
            raise InvalidArgumentError(
                f"`{unsupported}` is not supported by this server: create the index empty and load it with upsert "
                "(or bulk import). Encryption at rest uses the deployment's own keys."
            )
    cfg = index_config(body, name=name, dimension=None if dense is None else dense[0],
                       metric="dotproduct" if dense is None else dense[1], vector_type="dense" if dense else "sparse",
                       cloud=cloud, region=region, schema={"fields": metadata} if metadata else None)
    if dense is not None and sparse:
        cfg.extra["sparse_field"] = True
    return cfg


def index_config(body: dict, *, name: str, dimension: int | None, metric: str, vector_type: str, cloud: str,
                 region: str, schema: dict | None) -> IndexConfig:
    """A new index's config; ``deletion_protection`` and ``tags`` are read from ``body``."""
    return IndexConfig(
        name=name,
        id=str(uuid4()),
        dimension=dimension,
        metric=metric,
        vector_type=vector_type,
        cloud=cloud,
        region=region,
        deletion_protection=_enum(body, "deletion_protection", DELETION_PROTECTION) or "disabled",
        tags=_tags(body, drop_empty=True) or None,
        state="Ready",
        created_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        metadata_schema=schema,
    )


def validate_metadata_schema(doc: Any, path: str) -> dict[str, Any]:
    """A 2025-10 ``MetadataSchema``: ``{"fields": {name: {"filterable": true}}}`` (CP-SCH-1/2)."""
    doc = require_object(doc, path, "MetadataSchema")
    fields = required_field(doc, "fields", dict, "a map of field names to field settings", path)
    if not fields:
        raise InvalidArgumentError(f"`{path}.fields` must list at least one metadata field.")
    return {"fields": {name: _metadata_field(require_object(f, f"{path}.fields.{name}", "MetadataSchemaField"),
                                             f"{path}.fields.{name}", None)
                       for name, f in fields.items()}}


def _metadata_field(doc: dict, path: str, kind: str | None) -> dict[str, Any]:
    name = path.rsplit(".", 1)[-1]
    if not name or name.startswith("$"):
        raise InvalidArgumentError(f"Invalid metadata field name {name!r} in `{path}`: names must not be empty "
                                   "or start with `$`.")
    filterable = typed_field(doc, "filterable", bool, "a boolean", path)
    if filterable is not True:
        raise InvalidArgumentError(
            f"`{path}.filterable` must be true: only filterable fields can be declared (`filterable: false` is "
            "not supported)."
        )
    return {"filterable": True} if kind is None else {"type": kind, "filterable": True}


def validate_read_capacity(doc: Any, path: str) -> None:
    """Spruce serves every index on demand; ``{"mode": "OnDemand"}`` is accepted as the state
    it already is, dedicated read nodes are refused rather than pretended (CP-RC-1)."""
    if doc is None:
        return
    doc = require_object(doc, path, "ReadCapacity")
    mode = typed_field(doc, "mode", str, "a string", path)
    if mode == "OnDemand":
        return
    if mode == "Dedicated":
        raise InvalidArgumentError(
            f"`{path}.mode` Dedicated is not supported: Spruce serves every index on demand (reads scale with the "
            'server or with Lambda). Omit `read_capacity` or send {"mode": "OnDemand"}.'
        )
    raise InvalidArgumentError(f"`{path}.mode` must be `OnDemand` or `Dedicated`; got {mode!r}.")


def _deployment(doc: Any) -> tuple[str, str]:
    if doc is None:
        return _DEFAULT_DEPLOYMENT
    doc = require_object(doc, "deployment", "IndexDeployment")
    kind = required_field(doc, "deployment_type", str, "a string", "deployment")
    if kind in ("pod", "byoc"):
        raise InvalidArgumentError(
            f"`deployment.deployment_type` {kind} is not supported: Spruce only runs managed (serverless) indexes. "
            'Use {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}.'
        )
    if kind != "managed":
        raise InvalidArgumentError(
            f"Invalid `deployment.deployment_type` {kind!r}: expected one of `managed`, `pod`, `byoc`."
        )
    cloud = required_field(doc, "cloud", str, "a string", "deployment")
    region = required_field(doc, "region", str, "a string", "deployment")
    if region not in REGIONS.get(cloud, ()):
        raise NotFoundError(f"Resource cloud: {cloud} region: {region} not found.")
    return cloud, region


def validate_configure(body: Any) -> ConfigureRequest:
    """Validate the shape of a ``PATCH /indexes/{name}`` body: serverless indexes may only
    change ``deletion_protection``, ``tags`` and ``embed`` (CP-CFG-2); tags ``""`` values mean
    "remove". Whether the ``embed`` change fits the index is decided against the index itself
    (``spruce.engine.embed.configure_embed``)."""
    body = require_object(body, "", "ConfigureIndexRequest")
    unknown = sorted(k for k, v in body.items() if k not in _CONFIGURABLE and v is not None)
    if unknown:
        fields = ", ".join(f"`{k}`" for k in unknown)
        raise InvalidArgumentError(
            f"Cannot configure {fields} on a serverless index: only `deletion_protection`, `tags`, `embed` and "
            "`read_capacity` (OnDemand) can be changed; `schema` is fixed at creation."
        )
    embed = _configure_embed_shape(body.get("embed"))
    embed_field = None
    if body.get("schema") is not None:
        if embed is not None:
            raise InvalidArgumentError("Send `embed` or `schema`, not both: they configure the same thing.")
        embed_field, embed = _semantic_text_change(body["schema"])
    validate_read_capacity(body.get("read_capacity"), "read_capacity")
    spec = body.get("spec")
    if spec is not None:
        spec = require_object(spec, "spec", "ConfigureIndexSpec")
        serverless = spec.get("serverless")
        if set(spec) - {"serverless"} or serverless is None:
            raise InvalidArgumentError(
                "Only `spec.serverless.read_capacity` can be configured: this is a serverless index."
            )
        serverless = require_object(serverless, "spec.serverless", "ServerlessConfig")
        if set(serverless) - {"read_capacity"}:
            raise InvalidArgumentError("Only `spec.serverless.read_capacity` can be configured on a serverless index.")
        validate_read_capacity(serverless.get("read_capacity"), "spec.serverless.read_capacity")
    return ConfigureRequest(
        deletion_protection=_enum(body, "deletion_protection", DELETION_PROTECTION),
        tags=_tags(body, drop_empty=False),
        embed=embed,
        embed_field=embed_field,
    )


def _configure_embed_shape(doc: Any) -> dict[str, Any] | None:
    """``ConfigureIndexRequest.embed``: every field optional, typed (422), no others (400)."""
    if doc is None:
        return None
    doc = require_object(doc, "embed", "ConfigureIndexRequestEmbed")
    typed_field(doc, "model", str, "a string", "embed")
    for key in ("field_map", "read_parameters", "write_parameters"):
        typed_field(doc, key, dict, "a JSON object", "embed")
    unknown = sorted(k for k, v in doc.items() if k not in _EMBED_CONFIGURABLE and v is not None)
    if unknown:
        raise InvalidArgumentError(
            f"Cannot configure `embed.{unknown[0]}`: only `embed.model` (to convert an index to integrated "
            "embedding), `field_map`, `read_parameters` and `write_parameters` can be set; the index's "
            "dimension, metric and vector type come from the index itself."
        )
    return {k: v for k, v in doc.items() if v is not None}


def _semantic_text_change(doc: Any) -> tuple[str, dict[str, Any]]:
    """2026-07 (SDK 10.x ``configure(schema=...)``): only the ``semantic_text`` field of an index
    created for a model can change, and only its read/write parameters; returned as the
    field's name and the equivalent ``embed`` change."""
    doc = require_object(doc, "schema", "ConfigureIndexSchema")
    fields = required_field(doc, "fields", dict, "a map of field definitions", "schema")
    if len(fields) != 1:
        raise InvalidArgumentError(
            "`schema.fields` must name exactly one field when configuring an index: its `semantic_text` field "
            "(the text field of an index created for a model). Other schema fields are fixed at creation."
        )
    (name, field_doc), = fields.items()
    path = f"schema.fields.{name}"
    field_doc = require_object(field_doc, path, "SchemaField")
    kind = typed_field(field_doc, "type", str, "a string", path)
    if kind != "semantic_text":
        raise InvalidArgumentError(
            f"`{path}` cannot be configured: only the `semantic_text` field of an index created for a model can "
            f"change (its read_parameters / write_parameters); other fields are fixed at creation."
        )
    unknown = sorted(k for k, v in field_doc.items() if k not in _SEMANTIC_TEXT_KEYS and v is not None)
    if unknown:
        raise InvalidArgumentError(f"Unknown `{path}.{unknown[0]}`: a semantic_text field takes "
                                   f"{', '.join(_SEMANTIC_TEXT_KEYS)}.")
    change: dict[str, Any] = {}
    for key in ("model", "metric"):
        change[key] = typed_field(field_doc, key, str, "a string", path)
    for key in ("read_parameters", "write_parameters"):
        change[key] = typed_field(field_doc, key, dict, "a JSON object", path)
    return name, {k: v for k, v in change.items() if v is not None}


def validate_index_name(name: str) -> str:
    if not 1 <= len(name) <= 45:
        raise InvalidArgumentError(f"Index name must be 1 to 45 characters long; got {len(name)}.")
    if not _NAME_RE.fullmatch(name):
        raise InvalidArgumentError(NAME_MESSAGE)
    return name


# ----------------------------------------------------------------------------- helpers


def _serverless_spec(spec: dict) -> tuple[str, str, dict | None]:
    kinds = [k for k in ("serverless", "pod", "byoc") if spec.get(k) is not None]
    unknown = sorted(set(spec) - {"serverless", "pod", "byoc"})
    if unknown or len(kinds) != 1:
        raise InvalidArgumentError(
            "`spec` must contain exactly one of `serverless`, `pod` or `byoc`, "
            'e.g. {"serverless": {"cloud": "aws", "region": "us-east-1"}}.'
        )
    if kinds[0] != "serverless":
        raise InvalidArgumentError(
            f"`spec.{kinds[0]}` indexes are not supported: Spruce only runs serverless indexes. "
            'Use {"serverless": {"cloud": "aws", "region": "us-east-1"}}.'
        )
    serverless = require_object(spec["serverless"], "spec.serverless", "ServerlessSpec")
    cloud = required_field(serverless, "cloud", str, "a string", "spec.serverless")
    region = required_field(serverless, "region", str, "a string", "spec.serverless")
    if serverless.get("source_collection") is not None:
        raise InvalidArgumentError(
            "`spec.serverless.source_collection` is not supported: collections only exist for pod-based indexes."
        )
    if region not in REGIONS.get(cloud, ()):
        raise NotFoundError(f"Resource cloud: {cloud} region: {region} not found.")
    validate_read_capacity(serverless.get("read_capacity"), "spec.serverless.read_capacity")
    schema = serverless.get("schema")
    return cloud, region, None if schema is None else validate_metadata_schema(schema, "spec.serverless.schema")


def _tags(body: dict, *, drop_empty: bool) -> dict[str, str] | None:
    tags = typed_field(body, "tags", dict, "a map of strings")
    if tags is None:
        return None
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(value, str):
            _wrong_type(f"tags.{key}", value, "a string")
        if not _TAG_KEY_RE.fullmatch(key):
            raise InvalidArgumentError(
                f"Invalid tag key {key!r}: keys must be 1 to 80 characters of letters, digits, '_' or '-'."
            )
        if not _TAG_VALUE_RE.fullmatch(value):
            raise InvalidArgumentError(
                f"Invalid value for tag {key!r}: values must be at most 120 characters of letters, digits, "
                "spaces or ';', '@', '_', '-', '.', '+'."
            )
        if value or not drop_empty:
            out[key] = value
    return out


def _enum(body: dict, field: str, allowed: tuple[str, ...]) -> str | None:
    value = typed_field(body, field, str, "a string")
    if value is not None and value not in allowed:
        choices = ", ".join(f"`{a}`" for a in allowed)
        raise InvalidArgumentError(f"Invalid value `{value}` for `{field}`: expected one of {choices}.")
    return value


def required_field(body: dict, field: str, kind: type, expected: str, parent: str = "") -> Any:
    value = typed_field(body, field, kind, expected, parent)
    if value is None:
        where = f"{parent}: " if parent else ""
        raise UnprocessableEntityError(
            f"Failed to deserialize the JSON body into the target type: {where}missing field `{field}`"
        )
    return value


def typed_field(body: dict, field: str, kind: type, expected: str, parent: str = "") -> Any:
    value = body.get(field)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        _wrong_type(f"{parent}.{field}" if parent else field, value, expected)
    return value


def require_object(value: Any, path: str, type_name: str) -> dict:
    if not isinstance(value, dict):
        where = f"{path}: " if path else ""
        raise UnprocessableEntityError(
            f"Failed to deserialize the JSON body into the target type: {where}invalid type: "
            f"{_json_kind(value)}, expected struct {type_name}"
        )
    return value


def _wrong_type(path: str, value: Any, expected: str) -> None:
    raise UnprocessableEntityError(
        f"Failed to deserialize the JSON body into the target type: {path}: invalid type: "
        f"{_json_kind(value)}, expected {expected}"
    )


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, list):
        return "sequence"
    if value is None:
        return "null"
    return "map"
