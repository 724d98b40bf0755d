"""Record metadata: validation (BEHAVIOR §5.1) and the typed column layout slabs store it in.

A metadata key may hold different types in different records, so a slab stores each key
as up to four typed columns ``m{i}_s`` (string), ``m{i}_f`` (float64), ``m{i}_b`` (bool)
and ``m{i}_l`` (list of strings); a row fills the column of its value's type and leaves
the others NULL. Column names never contain user text, so SQL needs no quoting, and the
filter translator knows exactly which keys and types a slab holds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from spruce.errors import InvalidArgumentError

MAX_METADATA_BYTES = 40 * 1024
KINDS = ("s", "f", "b", "l")
_ARROW = {"s": pa.string(), "f": pa.float64(), "b": pa.bool_(), "l": pa.list_(pa.string())}


def kind_of(value: Any) -> str:
    """The column kind of an already validated metadata value."""
    if isinstance(value, bool):
        return "b"
    if isinstance(value, str):
        return "s"
    if isinstance(value, float):
        return "f"
    return "l"


def _normalise_value(key: str, value: Any) -> Any:
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        f = float(value)
        if not math.isfinite(f):
            raise InvalidArgumentError(f"Metadata value for field '{key}' must be a finite number.")
        return f
    if value is None:
        raise InvalidArgumentError(
            f"Metadata value for field '{key}' is null; null values are not supported, remove the field instead.")
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise InvalidArgumentError(
                f"Metadata list for field '{key}' must contain only strings (lists of numbers or booleans "
                "are not supported).")
        return value
    if isinstance(value, dict):
        raise InvalidArgumentError(f"Metadata value for field '{key}' is an object; nested objects are not supported.")
    raise InvalidArgumentError(f"Metadata value for field '{key}' has an unsupported type.")


def validate_metadata(md: Any, *, max_bytes: int = MAX_METADATA_BYTES) -> dict[str, Any] | None:
    """Check MD-1..MD-5 and return the metadata with numbers as floats (as Pinecone stores them)."""
    if md is None:
        return None
    if not isinstance(md, dict):
        raise InvalidArgumentError("Metadata must be a JSON object of field names to values.")
    out: dict[str, Any] = {}
    for key, value in md.items():
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError("Metadata field names must be non-empty strings.")
        if key.startswith("$"):
            raise InvalidArgumentError(f"Metadata field name '{key}' must not start with '$'.")
        out[key] = _normalise_value(key, value)
    size = len(json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode())
    if size > max_bytes:
        raise InvalidArgumentError(
            f"Metadata size is {size} bytes, which exceeds the limit of {max_bytes} bytes per vector.")
    return out


@dataclass(slots=True)
class MetadataLayout:
    """key -> (position i, kinds present) for one slab."""

    keys: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)

    def columns_for(self, key: str) -> dict[str, str]:
        hit = self.keys.get(key)
        if hit is None:
            return {}
        i, kinds = hit
        return {k: f"m{i}_{k}" for k in kinds}

    def column_names(self) -> list[str]:
        return [f"m{i}_{k}" for i, kinds in self.keys.values() for k in kinds]

    def to_json(self) -> str:
        return json.dumps({key: [i, list(kinds)] for key, (i, kinds) in self.keys.items()})

    @staticmethod
    def from_json(s: str) -> MetadataLayout:
        return MetadataLayout({key: (i, tuple(kinds)) for key, (i, kinds) in json.loads(s).items()})


def build_metadata_columns(metadatas: list[dict[str, Any] | None]) -> tuple[MetadataLayout, dict[str, pa.Array]]:
    """The layout and typed arrow columns for the (validated) metadata of a slab's rows."""
    kinds_by_key: dict[str, set[str]] = {}
    for md in metadatas:
        if md:
            for key, value in md.items():
                kinds_by_key.setdefault(key, set()).add(kind_of(value))
    layout = MetadataLayout({key: (i, tuple(k for k in KINDS if k in kinds_by_key[key]))
                             for i, key in enumerate(sorted(kinds_by_key))})
    columns: dict[str, pa.Array] = {}
    n = len(metadatas)
    for key, (i, kinds) in layout.keys.items():
        lists: dict[str, list] = {k: [None] * n for k in kinds}
        for row, md in enumerate(metadatas):
            if md and key in md:
                value = md[key]
                lists[kind_of(value)][row] = value
        for k in kinds:
            columns[f"m{i}_{k}"] = pa.array(lists[k], _ARROW[k])
    return layout, columns
