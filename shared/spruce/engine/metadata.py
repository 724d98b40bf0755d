"""Record metadata: validation (BEHAVIOR §5.1, MD-1..MD-5) and the typed column layout of slabs.

Metadata is a flat JSON object whose values are strings, float64 numbers, booleans or lists
of strings. Numbers are normalised to ``float`` here, once, so every later consumer (the
Python filter evaluator, the slab columns, the JSON returned to users) sees Pinecone's
float64 view of them; ``-0.0`` becomes ``0.0`` so no two equal numbers differ in their bits.

Slabs prefilter in LanceDB, which needs one Arrow type per column, yet one metadata key may
hold different JSON types in different records (``"year": 2020`` here, ``"2020"`` there). A
slab therefore gives key number ``i`` one column per kind present, ``m{i}_{kind}``: a row's
value sits in the column of its kind and the key's other columns are NULL. Column names
never contain user text, so SQL never needs to quote them.

The metadata size (MD-5) is the UTF-8 length of the compact JSON of the *normalised* object
(the form that is stored and returned; an integer ``1`` counts as ``1.0``), §12 D9.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

from spruce.errors import InvalidArgumentError

if TYPE_CHECKING:
    import pyarrow as pa

MAX_METADATA_BYTES = 40960

#: Keys the engine writes for itself start with ``$``, which user metadata may not (MD rule
#: above, ``_check_key``): they can never collide with a user's field, user filters cannot
#: name them, and ``visible`` drops them from everything returned.
HIDDEN_PREFIX = "$"
#: The word set of an integrated sparse index's text field (``query.match_terms``, DP-S-8).
TERMS_KEY = "$terms"

KINDS = ("s", "f", "b", "l")
"""Column kinds in canonical order: string, float64, bool, list<string>."""

_KIND_OF_TYPE: dict[type, str] = {str: "s", float: "f", int: "f", bool: "b", list: "l"}

_JSON_TYPE_NAMES: dict[type, str] = {
    dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number",
    type(None): "null",
}


def kind_of(value: Any) -> str | None:
    """The kind ("s", "f", "b", "l") of a metadata value or filter argument, None for other
    types (null, objects). Exact types, so a bool is never a number."""
    return _KIND_OF_TYPE.get(type(value))


def json_type_name(value: Any) -> str:
    """The JSON name of ``value``'s type, for error messages."""
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def to_float(value: int | float, what: str) -> float:
    """``value`` as a finite float64 (``-0.0`` folded to ``0.0``); ``what`` names it in errors."""
    try:
        number = float(value)
    except OverflowError:
        raise InvalidArgumentError(f"{what} is too large for a 64-bit float.") from None
    if not math.isfinite(number):
        raise InvalidArgumentError(f"{what} must be a finite number; NaN and Infinity are not supported.")
    return number + 0.0


#: Integers this small convert to a finite float (larger ones take ``to_float``'s checks).
_FLOAT_INTS = 2**1023


def validate_metadata(md: Any, *, max_bytes: int = MAX_METADATA_BYTES) -> dict[str, Any] | None:
    """Check ``md`` against MD-1..MD-5 and return it normalised (ints → floats); None stays None."""
    if md is None:
        return None
    if not isinstance(md, dict):
        raise InvalidArgumentError(
            f"Metadata must be a JSON object mapping field names to values (got {json_type_name(md)}).")
    out = {}
    for key, value in md.items():  # the common cases inline: this runs for every record written
        if type(key) is not str or not key or key[0] == "$":
            _check_key(key)
        kind = type(value)
        if kind is str or kind is bool:
            out[key] = value
        elif kind is float and math.isfinite(value):
            out[key] = value + 0.0  # -0.0 → 0.0
        elif kind is int and -_FLOAT_INTS < value < _FLOAT_INTS:
            out[key] = float(value)
        else:
            out[key] = _check_value(key, value)
    _check_size(out, max_bytes)
    return out


def visible(md: dict[str, Any] | None) -> dict[str, Any] | None:
    """``md`` without the engine's hidden keys (a new dict only when there are some)."""
    if md is None or not any(key.startswith(HIDDEN_PREFIX) for key in md):
        return md
    return {key: value for key, value in md.items() if not key.startswith(HIDDEN_PREFIX)}


def _check_key(key: Any) -> str:
    if not isinstance(key, str):
        raise InvalidArgumentError(f"Metadata field names must be strings (got {json_type_name(key)}).")
    if not key:
        raise InvalidArgumentError("Metadata field names must not be empty.")
    if key.startswith("$"):
        raise InvalidArgumentError(f"Metadata field name {key!r} must not start with '$'; rename the field.")
    return key


def _check_value(key: str, value: Any) -> Any:
    kind = kind_of(value)
    if kind == "f":
        return to_float(value, f"Metadata field {key!r}")
    if kind == "l":
        for position, item in enumerate(value):
            if not isinstance(item, str):
                raise InvalidArgumentError(
                    f"Metadata field {key!r} is a list holding a {json_type_name(item)} at position {position}; "
                    'lists may only hold strings (e.g. ["85", "92"], not [85, 92]).')
        return list(value)
    if kind is not None:
        return value
    if value is None:
        raise InvalidArgumentError(
            f"Metadata field {key!r} is null; null values are not supported, remove the field instead.")
    if isinstance(value, dict):
        raise InvalidArgumentError(
            f"Metadata field {key!r} is a nested object; metadata must be flat. "
            "Use a string, number, boolean or list of strings.")
    raise InvalidArgumentError(
        f"Metadata field {key!r} has unsupported type {json_type_name(value)}; "
        "use a string, number, boolean or list of strings.")


def _check_size(md: dict[str, Any], max_bytes: int) -> None:
    try:
        size = len(orjson.dumps(md))  # compact UTF-8, as json.dumps(separators=(",", ":")) wrote it
    except orjson.JSONEncodeError:
        raise InvalidArgumentError("Metadata contains invalid Unicode (an unpaired surrogate).") from None
    if size > max_bytes:
        raise InvalidArgumentError(
            f"Metadata size is {size} bytes, which exceeds the limit of {max_bytes} bytes per vector.")


class MetadataLayout:
    """Which metadata keys a slab holds, the number ``i`` of each and the kinds present for it."""

    def __init__(self, entries: Iterable[tuple[str, int, str]]) -> None:
        """``entries``: ``(key, i, kinds)`` with ``kinds`` a string of kind letters, e.g. ``"sl"``."""
        self._entries = sorted(((key, index, "".join(k for k in KINDS if k in kinds))
                                for key, index, kinds in entries), key=lambda e: e[1])
        self._columns = {key: {kind: f"m{index}_{kind}" for kind in kinds} for key, index, kinds in self._entries}

    def to_json(self) -> str:
        return json.dumps([list(e) for e in self._entries], ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, s: str) -> MetadataLayout:
        return cls((key, index, kinds) for key, index, kinds in json.loads(s))

    def columns_for(self, key: str) -> dict[str, str]:
        """``{kind: column name}`` for ``key``; empty when the slab has no record with the key."""
        return dict(self._columns.get(key, {}))

    def keys(self) -> list[str]:
        return list(self._columns)

    def column_names(self) -> list[str]:
        return [name for columns in self._columns.values() for name in columns.values()]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MetadataLayout) and self._entries == other._entries

    def __repr__(self) -> str:
        return f"MetadataLayout({self.to_json()})"


def build_metadata_columns(metadatas: list[dict[str, Any] | None]) -> tuple[MetadataLayout, dict[str, pa.Array]]:
    """Layout and Arrow columns for validated ``metadatas`` (row ``r`` of every column is record ``r``)."""
    import pyarrow as pa  # slab writers only: the lean API Lambdas import this module without pyarrow

    arrow_types = {"s": pa.string(), "f": pa.float64(), "b": pa.bool_(), "l": pa.list_(pa.string())}
    n = len(metadatas)
    cells: dict[tuple[str, str], list[Any]] = {}
    for row, md in enumerate(metadatas):
        if not md:
            continue
        for key, value in md.items():
            column = cells.get((key, kind := kind_of(value)))
            if column is None:
                column = cells[(key, kind)] = [None] * n
            column[row] = value
    keys = sorted({key for key, _ in cells})
    layout = MetadataLayout((key, i, "".join(k for k in KINDS if (key, k) in cells)) for i, key in enumerate(keys))
    arrays = {name: pa.array(cells[(key, kind)], arrow_types[kind])
              for key in keys for kind, name in layout.columns_for(key).items()}
    return layout, arrays
