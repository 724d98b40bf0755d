"""Filter semantics: the Python evaluator and the LanceDB translation must agree on every case.

Each case runs against one slab holding every record and one holding a subset that lacks
some keys and some kinds of a key, so the constant folding of ``to_sql`` is exercised too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lancedb
import pyarrow as pa
import pytest

from spruce.engine.filters import Filter, parse_filter, to_sql
from spruce.engine.metadata import MetadataLayout, build_metadata_columns, validate_metadata
from spruce.errors import InvalidArgumentError
from tests.filter_cases import CASES, INVALID_FILTERS, RECORDS, FilterCase

SUBSET = ["r01", "r05", "r06", "r08", "r11"]  # no tags/draft/big; year only as a number; flag only as a bool


class Slab:
    """A LanceDB table laid out like a real slab: ``id`` plus the typed metadata columns."""

    def __init__(self, db: Any, name: str, records: list[tuple[str, dict[str, Any] | None]]) -> None:
        self.ids = [rid for rid, _ in records]
        self.layout, columns = build_metadata_columns([validate_metadata(md) for _, md in records])
        self.table = db.create_table(name, pa.table({"id": pa.array(self.ids, pa.string()), **columns}))

    def ids_matching(self, flt: Filter) -> list[str]:
        sql = to_sql(flt, self.layout)
        if sql == "FALSE":
            return []
        result = self.table.search().where(sql).select(["id"]).limit(None).to_arrow()
        return sorted(result.column("id").to_pylist())


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return lancedb.connect(Path(tmp_path_factory.mktemp("filters")))


@pytest.fixture(scope="module")
def full_slab(db: Any) -> Slab:
    return Slab(db, "full", RECORDS)


@pytest.fixture(scope="module")
def partial_slab(db: Any) -> Slab:
    return Slab(db, "partial", [r for r in RECORDS if r[0] in SUBSET])


def _python_ids(flt: Filter, records: list[tuple[str, dict[str, Any] | None]]) -> list[str]:
    return sorted(rid for rid, md in records if flt.matches(md))


def _compile(case: FilterCase) -> Filter:
    flt = parse_filter(case.filter)
    assert flt is not None
    return flt


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
def test_python_evaluator(case: FilterCase) -> None:
    assert _python_ids(_compile(case), RECORDS) == sorted(case.expected)


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
def test_python_evaluator_on_validated_metadata(case: FilterCase) -> None:
    validated = [(rid, validate_metadata(md)) for rid, md in RECORDS]
    assert _python_ids(_compile(case), validated) == sorted(case.expected)


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
def test_lancedb_full_slab(case: FilterCase, full_slab: Slab) -> None:
    assert full_slab.ids_matching(_compile(case)) == sorted(case.expected)


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
def test_lancedb_slab_missing_keys(case: FilterCase, partial_slab: Slab) -> None:
    assert partial_slab.ids_matching(_compile(case)) == sorted(set(case.expected) & set(SUBSET))


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
def test_empty_slab_layout_folds_to_constant(case: FilterCase) -> None:
    """With no metadata columns every filter is decided by how it treats a bare record."""
    flt = _compile(case)
    assert to_sql(flt, MetadataLayout([])) == ("TRUE" if flt.matches(None) else "FALSE")


@pytest.mark.parametrize("case", INVALID_FILTERS, ids=[c.description for c in INVALID_FILTERS])
def test_invalid_filters_are_rejected(case: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_filter(case.filter)
    assert case.mentions in info.value.message
    assert info.value.status == 400


@pytest.mark.parametrize("doc", [None, {}])
def test_no_filter(doc: Any) -> None:
    assert parse_filter(doc) is None


def test_document_round_trips() -> None:
    """The log stores ``Filter.document`` and parses it again on replay."""
    doc = {"$or": [{"genre": {"$in": ["a", 1, True]}}, {"year": {"$gte": 2019, "$lt": 2021}}]}
    flt = parse_filter(doc)
    assert flt is not None and flt.document is doc
    assert parse_filter(flt.document) == flt
    assert hash(parse_filter(flt.document)) == hash(flt)


@pytest.mark.parametrize(("doc", "sql"), [
    ({"missing": "x"}, "FALSE"),
    ({"missing": {"$ne": "x"}}, "FALSE"),
    ({"missing": {"$nin": ["x"]}}, "FALSE"),
    ({"missing": {"$gt": 1}}, "FALSE"),
    ({"missing": {"$exists": True}}, "FALSE"),
    ({"missing": {"$exists": False}}, "TRUE"),
    ({"$or": [{"missing": 1}, {"other": {"$in": ["a"]}}]}, "FALSE"),
    ({"$and": [{"missing": {"$exists": False}}, {"other": {"$exists": False}}]}, "TRUE"),
    ({"genre": {"$gt": 1}}, "FALSE"),  # no numbers under "genre"
    ({"draft": "yes"}, "FALSE"),  # "draft" holds only bools
    ({"genre": {"$in": []}}, "FALSE"),
    ({"$or": [{"missing": {"$exists": False}}, {"genre": "x"}]}, "TRUE"),
])
def test_folding(doc: dict[str, Any], sql: str, full_slab: Slab) -> None:
    flt = parse_filter(doc)
    assert flt is not None and to_sql(flt, full_slab.layout) == sql


def test_folded_terms_vanish_from_sql(full_slab: Slab) -> None:
    plain = parse_filter({"genre": "drama"})
    padded = parse_filter({"$and": [{"genre": "drama"}, {"missing": {"$exists": False}}],
                           "$or": [{"missing": 1}, {"other": {"$exists": False}}]})
    assert plain is not None and padded is not None
    assert to_sql(padded, full_slab.layout) == to_sql(plain, full_slab.layout)


def test_sql_is_independent_of_argument_order(full_slab: Slab) -> None:
    """Equal filters give equal SQL, so slabs' per-SQL result caches hit."""
    a = parse_filter({"genre": {"$in": ["b", "a", 2.0, 1, False, True]}})
    b = parse_filter({"genre": {"$in": [True, 1.0, "a", 2, "b", False, "a"]}})
    assert a is not None and b is not None
    assert a == b and to_sql(a, full_slab.layout) == to_sql(b, full_slab.layout)


def test_in_with_max_values(full_slab: Slab) -> None:
    values: list[Any] = [f"v{i}" for i in range(9_998)] + ["drama", 2021]
    flt = parse_filter({"$or": [{"genre": {"$in": values}}, {"year": {"$in": values}}]})
    assert flt is not None
    assert full_slab.ids_matching(flt) == ["r02", "r05"] == _python_ids(flt, RECORDS)
    negated = parse_filter({"genre": {"$nin": values}})
    assert negated is not None
    assert full_slab.ids_matching(negated) == _python_ids(negated, RECORDS)


def test_float_literals_round_trip(db: Any) -> None:
    numbers = [0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308, -2.5e-310, 9007199254740993, 1e22, -1e-7]
    records: list[tuple[str, dict[str, Any] | None]] = [(f"n{i}", {"x": v}) for i, v in enumerate(numbers)]
    slab = Slab(db, "floats", records)
    for (rid, _), v in zip(records, numbers):
        for doc in ({"x": v}, {"x": {"$in": [v, "x"]}}, {"x": {"$gte": v, "$lte": v}}):
            flt = parse_filter(doc)
            assert flt is not None
            assert slab.ids_matching(flt) == [rid] == _python_ids(flt, records)


def test_clauses_ordered_deepest_first() -> None:
    """The first operand of a SQL operator costs the parser no recursion, so deep goes first."""
    flt = parse_filter({"$or": [{"a": 1}, {"$and": [{"b": 1}, {"$or": [{"c": 1}, {"d": 1}]}]}]})
    assert flt is not None
    assert [type(c).__name__ for c in flt.root.clauses] == ["And", "Member"]  # type: ignore[union-attr]
