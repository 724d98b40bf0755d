"""Pinecone's metadata filter language (BEHAVIOR §5): one parser, two evaluators.

Records still in the write-ahead log are filtered in Python (``Filter.matches``); immutable
slabs are filtered by LanceDB, so ``to_sql`` translates the same tree into a DataFusion
predicate over the slab's typed metadata columns (see ``metadata.MetadataLayout``). Each
node class holds both translations side by side so their semantics cannot drift:

* numbers compare as float64; a bool is not a number, and values of different types are
  never equal (``True`` ≠ ``1``, ``"2020"`` ≠ ``2020``);
* ``$eq``/``$in`` match a scalar equal to an argument, or a list (lists hold strings) with an
  element equal to a string argument; ``$eq v`` is ``$in [v]``;
* ``$ne``/``$nin`` match records that *have* the field (FLT-10) and where ``$eq``/``$in``
  would not match: a value of another type, or a list (even empty) with no such element;
* ranges match numbers only (FLT-3); ``$exists`` tests presence (an empty list is present);
* ``$and``/``$or`` combine; several fields or operators in one object combine with AND.

In SQL a missing field is NULL in every column of its key, and a row's value sits in the
column of its kind with NULL in the others. Predicates never put ``NOT`` around an
expression that can be NULL, so NULL behaves as "no match" throughout. Keys (or kinds) a
slab lacks fold to constants, so a filter can reduce to ``TRUE`` or ``FALSE`` and callers
can skip the slab.

Limits where Pinecone documents none (§12 D10): ``$in``/``$nin`` take at most 10,000 values
and ``$and``/``$or`` nest at most 10 levels deep (``{"$and": [{"$or": [...]}]}`` is 2). The
depth limit also keeps the SQL within the parser's recursion limit (about 24 nested binary
operators); to stay clear of it, ``$and``/``$or`` clauses are ordered deepest first, because
the first operand of a SQL operator costs the parser no extra recursion.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from spruce.engine.metadata import TERMS_KEY, MetadataLayout, json_type_name, kind_of, to_float
from spruce.errors import InvalidArgumentError

MAX_DEPTH = 10
MAX_IN_VALUES = 10_000

TRUE, FALSE = "TRUE", "FALSE"

_RANGES: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "$gt": (">", operator.gt), "$gte": (">=", operator.ge), "$lt": ("<", operator.lt), "$lte": ("<=", operator.le),
}
_FIELD_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists")
_LOGICAL_OPERATORS = ("$and", "$or")

Scalar = str | float | bool


# ----------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Member:
    """``$eq``/``$in`` (or, negated, ``$ne``/``$nin``): the field's value is one of the arguments."""

    key: str
    strings: frozenset[str]
    numbers: frozenset[float]
    bools: frozenset[bool]
    negate: bool

    def matches(self, md: dict[str, Any]) -> bool:
        return self.key in md and self._hit(md[self.key]) != self.negate

    def _hit(self, value: Any) -> bool:
        kind = kind_of(value)
        if kind == "l":
            return not self.strings.isdisjoint(value)
        return (float(value) if kind == "f" else value) in self._values(kind)  # int vs float: compare as float64

    def _values(self, kind: str) -> frozenset[Any]:
        return {"s": self.strings, "f": self.numbers, "b": self.bools, "l": self.strings}[kind]

    def sql(self, layout: MetadataLayout) -> str:
        return _or(self._column_sql(kind, column) for kind, column in layout.columns_for(self.key).items())

    def _column_sql(self, kind: str, column: str) -> str:
        """Rows whose value for the key is in ``column`` and (not, if negated) one of the arguments."""
        values = sorted(self._values(kind))  # sorted: equal filters give equal SQL (slab filter caches)
        if not values:
            return f"{column} IS NOT NULL" if self.negate else FALSE
        if kind == "l":
            hit = _array_hit(column, values)
            return f"({column} IS NOT NULL AND NOT {hit})" if self.negate else hit
        literals = [_literal(v) for v in values]
        if len(literals) == 1:
            return f"{column} {'<>' if self.negate else '='} {literals[0]}"
        return f"{column} {'NOT IN' if self.negate else 'IN'} ({', '.join(literals)})"


@dataclass(frozen=True)
class Range:
    """``$gt``/``$gte``/``$lt``/``$lte``: the field is a number and compares true with ``bound``."""

    key: str
    op: str
    bound: float

    def matches(self, md: dict[str, Any]) -> bool:
        value = md.get(self.key)
        return kind_of(value) == "f" and _RANGES[self.op][1](float(value), self.bound)

    def sql(self, layout: MetadataLayout) -> str:
        column = layout.columns_for(self.key).get("f")
        return FALSE if column is None else f"{column} {_RANGES[self.op][0]} {_literal(self.bound)}"


@dataclass(frozen=True)
class Exists:
    """``$exists``: the record has (``present``) or lacks the field."""

    key: str
    present: bool

    def matches(self, md: dict[str, Any]) -> bool:
        return (self.key in md) == self.present

    def sql(self, layout: MetadataLayout) -> str:
        columns = layout.columns_for(self.key).values()
        if self.present:
            return _or(f"{c} IS NOT NULL" for c in columns)
        return _and(f"{c} IS NULL" for c in columns)


@dataclass(frozen=True)
class And:
    clauses: tuple[Node, ...]

    def matches(self, md: dict[str, Any]) -> bool:
        return all(c.matches(md) for c in self.clauses)

    def sql(self, layout: MetadataLayout) -> str:
        return _and(c.sql(layout) for c in self.clauses)


@dataclass(frozen=True)
class Or:
    clauses: tuple[Node, ...]

    def matches(self, md: dict[str, Any]) -> bool:
        return any(c.matches(md) for c in self.clauses)

    def sql(self, layout: MetadataLayout) -> str:
        return _or(c.sql(layout) for c in self.clauses)


Node = Member | Range | Exists | And | Or


@dataclass(frozen=True)
class Filter:
    """A compiled filter; ``document`` is the filter as the user sent it (what the log stores)."""

    root: Node
    document: Any = field(compare=False, hash=False)

    def matches(self, metadata: dict[str, Any] | None) -> bool:
        return self.root.matches(metadata or {})


def to_sql(f: Filter, layout: MetadataLayout) -> str:
    """A LanceDB predicate for a slab with ``layout``; exactly ``"TRUE"``/``"FALSE"`` when the
    keys the slab holds decide the filter on their own."""
    return f.root.sql(layout)


# ----------------------------------------------------------------------------- SQL helpers


def _literal(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest exact round trip; finite (checked when parsing)
    return "'" + value.replace("'", "''") + "'"


def _array_hit(column: str, values: list[str]) -> str:
    if len(values) == 1:
        return f"array_has({column}, {_literal(values[0])})"
    return f"array_has_any({column}, [{', '.join(_literal(v) for v in values)}])"


def _join(word: str, parts: Iterable[str], unit: str, zero: str) -> str:
    """``parts`` joined by ``word``, dropping ``unit`` terms and collapsing to ``zero`` on one."""
    kept = []
    for part in parts:
        if part == zero:
            return zero
        if part != unit:
            kept.append(part)
    if not kept:
        return unit
    return kept[0] if len(kept) == 1 else "(" + f" {word} ".join(kept) + ")"


def _and(parts: Iterable[str]) -> str:
    return _join("AND", parts, TRUE, FALSE)


def _or(parts: Iterable[str]) -> str:
    return _join("OR", parts, FALSE, TRUE)


# ----------------------------------------------------------------------------- parsing


def parse_filter(doc: Any, *, internal: bool = False) -> Filter | None:
    """Validate and compile a filter document; ``None`` and ``{}`` mean "no filter".
    ``internal``: a document the engine built itself (``with_all_terms``), which may name
    hidden metadata keys and use ``$all``; user filters never can."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise InvalidArgumentError(
            f'A filter must be a JSON object such as {{"genre": {{"$eq": "drama"}}}} (got {json_type_name(doc)}).')
    return Filter(_parse_object(doc, 0, internal), doc) if doc else None


def with_all_terms(flt: Filter | None, terms: list[str]) -> Filter:
    """``flt`` and "the record's hidden word set holds every one of ``terms``" (match_terms).
    The condition is one more key of the top-level object, so it adds no nesting depth; the
    document stays a filter document, so query executors compile the same tree from it."""
    if not terms:
        raise ValueError("with_all_terms needs at least one term")
    doc = {**(flt.document if flt is not None else {}), TERMS_KEY: {"$all": list(terms)}}
    return parse_filter(doc, internal=True)


def _parse_object(doc: dict[str, Any], depth: int, internal: bool) -> Node:
    """A filter object (top level or a clause of ``$and``/``$or``) nested in ``depth`` of them."""
    clauses = []
    for key, value in doc.items():
        if key in _LOGICAL_OPERATORS:
            clauses.append(_parse_logical(key, value, depth + 1, internal))
        elif internal and key == TERMS_KEY:
            clauses.append(_parse_all(key, value))
        elif key in _FIELD_OPERATORS:
            raise InvalidArgumentError(
                f"Operator {key} must be applied to a field, e.g. {{\"year\": {{\"{key}\": ...}}}}; "
                "only $and and $or may appear at the top level of a filter.")
        elif key.startswith("$"):
            raise InvalidArgumentError(f"Unknown filter operator {key}; supported operators are "
                                       f"{', '.join(_LOGICAL_OPERATORS + _FIELD_OPERATORS)}.")
        else:
            clauses.append(_parse_field(key, value))
    return _combine(And, clauses)


def _parse_logical(op: str, value: Any, depth: int, internal: bool) -> Node:
    if depth > MAX_DEPTH:
        raise InvalidArgumentError(
            f"Filter nests $and/$or more than {MAX_DEPTH} levels deep; flatten it.")
    if not isinstance(value, list) or not value:
        got = "an empty list" if value == [] else json_type_name(value)
        raise InvalidArgumentError(f"Operator {op} takes a non-empty list of filter objects (got {got}).")
    for clause in value:
        if not isinstance(clause, dict) or not clause:
            got = "an empty object" if clause == {} else json_type_name(clause)
            raise InvalidArgumentError(f"Each clause of {op} must be a non-empty filter object (got {got}).")
    return _combine(And if op == "$and" else Or, [_parse_object(clause, depth, internal) for clause in value])


def _combine(cls: type[And] | type[Or], clauses: list[Node]) -> Node:
    """``cls`` of ``clauses``, merging nested nodes of the same class; deepest clauses first."""
    flat: list[Node] = []
    for clause in clauses:
        flat.extend(clause.clauses if isinstance(clause, cls) else (clause,))
    if len(flat) == 1:
        return flat[0]
    return cls(tuple(sorted(flat, key=_depth, reverse=True)))  # stable: ties keep the user's order


def _depth(node: Node) -> int:
    return 1 + max(map(_depth, node.clauses)) if isinstance(node, (And, Or)) else 0


def _parse_all(key: str, value: Any) -> Node:
    """``{key: {"$all": [s, ...]}}``: the list field ``key`` holds every string (an AND of
    ``$eq`` containments, so both evaluators already know it)."""
    terms = value.get("$all") if isinstance(value, dict) and set(value) == {"$all"} else None
    if not isinstance(terms, list) or not terms or not all(isinstance(t, str) for t in terms):
        raise InvalidArgumentError(f'"{key}" takes {{"$all": [strings]}}.')
    return _combine(And, [_member(key, [t], negate=False) for t in terms])


def _parse_field(key: str, value: Any) -> Node:
    if not key:
        raise InvalidArgumentError("Filter field names must not be empty.")
    if not isinstance(value, dict):
        return _parse_operator(key, "$eq", value, shorthand=True)
    if not value:
        raise InvalidArgumentError(
            f'The condition on field "{key}" is an empty object; give an operator, e.g. {{"$eq": ...}}.')
    return _combine(And, [_parse_operator(key, op, arg) for op, arg in value.items()])


def _parse_operator(key: str, op: str, arg: Any, *, shorthand: bool = False) -> Node:
    where = f'field "{key}"' if shorthand else f'{op} on field "{key}"'
    if op in ("$eq", "$ne"):
        return _member(key, [_scalar(arg, where, shorthand=shorthand)], negate=op == "$ne")
    if op in ("$in", "$nin"):
        return _member(key, _scalar_list(arg, where), negate=op == "$nin")
    if op in _RANGES:
        if kind_of(arg) != "f":
            raise InvalidArgumentError(f"{where} takes a number (got {json_type_name(arg)}).")
        return Range(key, op, to_float(arg, f"The argument of {where}"))
    if op == "$exists":
        if not isinstance(arg, bool):
            raise InvalidArgumentError(f"{where} takes true or false (got {json_type_name(arg)}).")
        return Exists(key, arg)
    if op in _LOGICAL_OPERATORS:
        raise InvalidArgumentError(
            f'Operator {op} cannot be applied to field "{key}"; use it at the top level, e.g. {{"{op}": [...]}}.')
    if not op.startswith("$"):
        raise InvalidArgumentError(
            f'The condition on field "{key}" contains the nested field "{op}"; metadata is flat, so use an '
            f"operator ({', '.join(_FIELD_OPERATORS)}).")
    raise InvalidArgumentError(
        f'Unknown filter operator {op} on field "{key}"; supported operators are {", ".join(_FIELD_OPERATORS)}.')


def _scalar(arg: Any, where: str, *, shorthand: bool = False) -> Scalar:
    kind = kind_of(arg)
    if kind == "f":
        return to_float(arg, f"The argument of {where}")
    if kind in ("s", "b"):
        return arg
    if kind == "l":
        problem = "has a list as its value" if shorthand else "takes a single value, not a list"
        raise InvalidArgumentError(f'{where} {problem}; use {{"$in": [...]}} to match any of several values.')
    if arg is None:
        raise InvalidArgumentError(f"{where} is compared with null, which is not supported; "
                                   'use {"$exists": false} to find records without the field.')
    raise InvalidArgumentError(f"{where} takes a string, number or boolean (got {json_type_name(arg)}).")


def _scalar_list(arg: Any, where: str) -> list[Scalar]:
    if not isinstance(arg, list):
        raise InvalidArgumentError(
            f"{where} takes a list of strings, numbers or booleans (got {json_type_name(arg)}).")
    if len(arg) > MAX_IN_VALUES:
        raise InvalidArgumentError(f"{where} has {len(arg)} values; at most {MAX_IN_VALUES} are allowed.")
    for item in arg:
        if kind_of(item) in (None, "l"):
            raise InvalidArgumentError(
                f"{where} takes a list of strings, numbers or booleans (one value is {json_type_name(item)}).")
    return [_scalar(item, where) for item in arg]


def _member(key: str, values: list[Scalar], *, negate: bool) -> Member:
    by_kind: dict[str, set[Any]] = {"s": set(), "f": set(), "b": set()}
    for value in values:
        by_kind[kind_of(value)].add(value)
    return Member(key, frozenset(by_kind["s"]), frozenset(by_kind["f"]), frozenset(by_kind["b"]), negate)
