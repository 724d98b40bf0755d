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
_CONFIGURABLE = ("deletion_protection", "tags", "embed")


@dataclass(slots=True, frozen=True)
class ConfigureRequest:
    """A validated ``PATCH /indexes/{name}``; ``None`` means "leave unchanged"."""

    deletion_protection: str | None = None
    tags: dict[str, str] | None = None


def new_index_config(body: Any) -> IndexConfig:
    """Validate a ``POST /indexes`` body and build the config the catalog stores."""
    body = _object(body, "", "CreateIndexRequest")
    name = validate_index_name(_required(body, "name", str, "a string"))
    vector_type = _enum(body, "vector_type", VECTOR_TYPES) or "dense"
    dimension = _typed(body, "dimension", int, "an integer")
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
    cloud, region = _serverless_spec(_required(body, "spec", dict, "a JSON object"))
    return IndexConfig(
        name=name,
        id=str(uuid4()),
        dimension=dimension if vector_type == "dense" else None,
        metric=metric,
        vector_type=vector_type,
        cloud=cloud,
        region=region,
        deletion_protection=_enum(body, "deletion_protection", DELETION_PROTECTION) or "disabled",
        tags=_tags(body, drop_empty=True) or None,
        state="Ready",
        created_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )


def validate_configure(body: Any) -> ConfigureRequest:
    """Validate a ``PATCH /indexes/{name}`` body: serverless indexes may only change
    ``deletion_protection`` and ``tags`` (CP-CFG-2); tags ``""`` values mean "remove"."""
    body = _object(body, "", "ConfigureIndexRequest")
    unknown = sorted(k for k, v in body.items() if k not in _CONFIGURABLE and v is not None)
    if unknown:
        fields = ", ".join(f"`{k}`" for k in unknown)
        raise InvalidArgumentError(
            f"Cannot configure {fields} on a serverless index: only `deletion_protection` and `tags` "
            "can be changed."
        )
    if body.get("embed") is not None:
        raise InvalidArgumentError(
            "Configuring `embed` (integrated embedding) is not supported by this server; "
            "configure `deletion_protection` or `tags` instead."
        )
    return ConfigureRequest(
        deletion_protection=_enum(body, "deletion_protection", DELETION_PROTECTION),
        tags=_tags(body, drop_empty=False),
    )


def validate_index_name(name: str) -> str:
    if not 1 <= len(name) <= 45:
        raise InvalidArgumentError(f"Index name must be 1 to 45 characters long; got {len(name)}.")
    if not _NAME_RE.fullmatch(name):
        raise InvalidArgumentError(NAME_MESSAGE)
    return name


# ----------------------------------------------------------------------------- helpers


def _serverless_spec(spec: dict) -> tuple[str, str]:
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
    serverless = _object(spec["serverless"], "spec.serverless", "ServerlessSpec")
    cloud = _required(serverless, "cloud", str, "a string", "spec.serverless")
    region = _required(serverless, "region", str, "a string", "spec.serverless")
    if serverless.get("source_collection") is not None:
        raise InvalidArgumentError(
            "`spec.serverless.source_collection` is not supported: collections only exist for pod-based indexes."
        )
    if region not in REGIONS.get(cloud, ()):
        raise NotFoundError(f"Resource cloud: {cloud} region: {region} not found.")
    return cloud, region


def _tags(body: dict, *, drop_empty: bool) -> dict[str, str] | None:
    tags = _typed(body, "tags", dict, "a map of strings")
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
    value = _typed(body, field, str, "a string")
    if value is not None and value not in allowed:
        choices = ", ".join(f"`{a}`" for a in allowed)
        raise InvalidArgumentError(f"Invalid value `{value}` for `{field}`: expected one of {choices}.")
    return value


def _required(body: dict, field: str, kind: type, expected: str, parent: str = "") -> Any:
    value = _typed(body, field, kind, expected, parent)
    if value is None:
        where = f"{parent}: " if parent else ""
        raise UnprocessableEntityError(
            f"Failed to deserialize the JSON body into the target type: {where}missing field `{field}`"
        )
    return value


def _typed(body: dict, field: str, kind: type, expected: str, parent: str = "") -> Any:
    value = body.get(field)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        _wrong_type(f"{parent}.{field}" if parent else field, value, expected)
    return value


def _object(value: Any, path: str, type_name: str) -> dict:
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
