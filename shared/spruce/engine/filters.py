"""Pinecone's metadata filter language (BEHAVIOR §5): parsing, a Python evaluator for
records in the log tail, and a SQL translation pushed into LanceDB as a slab prefilter.

Both evaluators implement one semantics:

* numbers compare as float64; a bool is not a number; values of another type never equal;
* ``$eq v`` matches a scalar equal to ``v`` or a string list containing ``v``;
* ``$ne``/``$nin`` match only records that *have* the field (FLT-10) and where no value
  equals / no value is in the set; ranges match numbers only (FLT-3);
* ``$exists`` tests presence; ``$and``/``$or`` combine; several conditions at one level
  combine with AND.

Limits we chose where Pinecone documents none (D10): at most 10,000 values in ``$in`` /
``$nin`` and at most 10 levels of ``$and``/``$or`` nesting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spruce.engine.metadata import MetadataLayout, kind_of
from spruce.errors import InvalidArgumentError

MAX_IN_VALUES = 10_000
MAX_DEPTH = 10
_COMPARE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_FIELD_OPS = {"$eq", "$ne", "$in", "$nin", "$exists", *_COMPARE}

# ----------------------------------------------------------------------------- the tree


@dataclass(frozen=True, slots=True)
class Cond:
    key: str
    op: str
    arg: Any  # float | str | bool | tuple of those


@dataclass(frozen=True, slots=True)
class Junction:
    op: str  # "$and" | "$or"
    children: tuple[Node, ...]


Node = Cond | Junction


@dataclass(frozen=True, slots=True)
class Filter:
    root: Node
    document: dict[str, Any]  # the filter as the user sent it (what the request log stores)

    def matches(self, metadata: dict[str, Any] | None) -> bool:
        return _matches(self.root, metadata or {})


# ----------------------------------------------------------------------------- parsing


def parse_filter(doc: Any) -> Filter | None:
    """Validate and compile a filter; ``None`` or ``{}`` mean "no filter"."""
    if doc is None or doc == {}:
        return None
    return Filter(_parse_object(doc, 1), doc)


def _parse_object(doc: Any, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise InvalidArgumentError(f"Filter is nested more than {MAX_DEPTH} levels deep.")
    if not isinstance(doc, dict) or not doc:
        raise InvalidArgumentError("Filter must be a non-empty JSON object, e.g. {\"genre\": {\"$eq\": \"drama\"}}.")
    parts: list[Node] = []
    for key, value in doc.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise InvalidArgumentError(f"Filter operator {key} takes a non-empty list of filter objects.")
            parts.append(Junction(key, tuple(_parse_object(v, depth + 1) for v in value)))
        elif key.startswith("$"):
            hint = " (it must be applied to a field)" if key in _FIELD_OPS else ""
            raise InvalidArgumentError(f"Unsupported operator {key} at the top level of a filter{hint}; "
                                       "only $and and $or may appear there.")
        elif isinstance(value, dict):
            if not value:
                raise InvalidArgumentError(f"Filter on field '{key}' has no operator.")
            parts += [_parse_cond(key, op, arg) for op, arg in value.items()]
        else:
            parts.append(_parse_cond(key, "$eq", value))
    return parts[0] if len(parts) == 1 else Junction("$and", tuple(parts))


def _scalar(key: str, op: str, arg: Any) -> str | float | bool:
    if isinstance(arg, bool) or isinstance(arg, str):
        return arg
    if isinstance(arg, (int, float)):
        return float(arg)
    if isinstance(arg, list):
        raise InvalidArgumentError(f"Filter on field '{key}': {op} takes a single value, not a list; use $in.")
    if arg is None:
        raise InvalidArgumentError(f"Filter on field '{key}': {op} needs a value, got null.")
    raise InvalidArgumentError(f"Filter on field '{key}': {op} takes a string, number or boolean.")


def _parse_cond(key: str, op: str, arg: Any) -> Cond:
    if op not in _FIELD_OPS:
        raise InvalidArgumentError(f"Unknown filter operator {op} on field '{key}'. Supported: "
                                   + ", ".join(sorted(_FIELD_OPS)) + ".")
    if op in ("$eq", "$ne"):
        return Cond(key, op, _scalar(key, op, arg))
    if op in _COMPARE:
        if isinstance(arg, bool) or not isinstance(arg, (int, float)):
            raise InvalidArgumentError(f"Filter on field '{key}': {op} takes a number.")
        return Cond(key, op, float(arg))
    if op in ("$in", "$nin"):
        if not isinstance(arg, list):
            raise InvalidArgumentError(f"Filter on field '{key}': {op} takes a list of values.")
        if len(arg) > MAX_IN_VALUES:
            raise InvalidArgumentError(f"Filter on field '{key}': {op} takes at most {MAX_IN_VALUES} values.")
        return Cond(key, op, tuple(_scalar(key, op, v) for v in arg))
    if not isinstance(arg, bool):
        raise InvalidArgumentError(f"Filter on field '{key}': $exists takes true or false.")
    return Cond(key, op, arg)


# ----------------------------------------------------------------------------- Python evaluator


def _equal(value: Any, arg: Any) -> bool:
    if isinstance(value, list):
        return isinstance(arg, str) and arg in value
    return kind_of(value) == kind_of(arg) and value == arg


def _matches(node: Node, md: dict[str, Any]) -> bool:
    if isinstance(node, Junction):
        test = all if node.op == "$and" else any
        return test(_matches(c, md) for c in node.children)
    present = node.key in md
    if node.op == "$exists":
        return present is node.arg
    if not present:
        return False
    value = md[node.key]
    if node.op == "$eq":
        return _equal(value, node.arg)
    if node.op == "$ne":
        return not _equal(value, node.arg)
    if node.op == "$in":
        return any(_equal(value, a) for a in node.arg)
    if node.op == "$nin":
        return not any(_equal(value, a) for a in node.arg)
    if kind_of(value) != "f":
        return False
    a = node.arg
    return {"$gt": value > a, "$gte": value >= a, "$lt": value < a, "$lte": value <= a}[node.op]


# ----------------------------------------------------------------------------- SQL


def to_sql(flt: Filter, layout: MetadataLayout) -> str:
    """A LanceDB (DataFusion) predicate for a slab with ``layout``; "TRUE"/"FALSE" when the
    keys the slab holds decide the filter alone."""
    return _sql(flt.root, layout)


def _lit(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return "'" + v.replace("'", "''") + "'"


def _or(parts: list[str]) -> str:
    if "TRUE" in parts:
        return "TRUE"
    parts = [p for p in parts if p != "FALSE"]
    return "FALSE" if not parts else parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _and(parts: list[str]) -> str:
    if "FALSE" in parts:
        return "FALSE"
    parts = [p for p in parts if p != "TRUE"]
    return "TRUE" if not parts else parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def _in_sql(cols: dict[str, str], args: tuple) -> list[str]:
    """Per column: rows whose value equals one of ``args`` (type-aware)."""
    by_kind: dict[str, list[str]] = {}
    for a in args:
        by_kind.setdefault(kind_of(a), []).append(_lit(a))
    out = []
    for kind, col in cols.items():
        if kind == "l":
            strs = by_kind.get("s")
            if strs:
                out.append(f"array_has_any({col}, [{', '.join(strs)}])")
        elif by_kind.get(kind):
            out.append(f"{col} IN ({', '.join(by_kind[kind])})")
    return out


def _sql(node: Node, layout: MetadataLayout) -> str:
    if isinstance(node, Junction):
        parts = [_sql(c, layout) for c in node.children]
        return _and(parts) if node.op == "$and" else _or(parts)
    cols = layout.columns_for(node.key)
    op, arg = node.op, node.arg
    if op == "$exists":
        return _or([f"{c} IS NOT NULL" for c in cols.values()]) if arg else _and(
            [f"{c} IS NULL" for c in cols.values()])
    if op in _COMPARE:
        return f"{cols['f']} {_COMPARE[op]} {_lit(arg)}" if "f" in cols else "FALSE"
    args = (arg,) if op in ("$eq", "$ne") else arg
    if op in ("$eq", "$in"):
        return _or(_in_sql(cols, args))
    # $ne / $nin: the field exists and none of its values is in ``args``.
    parts = []
    for kind, col in cols.items():
        hit = _in_sql({kind: col}, args)
        parts.append(f"({col} IS NOT NULL AND NOT {hit[0]})" if hit else f"{col} IS NOT NULL")
    return _or(parts)
