"""The hidden word set behind ``query.match_terms`` (DP-S-8) in the engine: an AND of
containment conditions on the hidden ``$terms`` key, applied as a pre-filter in the tail,
in slabs and through query executors; the key itself is never returned."""

from __future__ import annotations

import numpy as np
import pytest

from spruce.engine.filters import parse_filter, with_all_terms
from spruce.engine.metadata import TERMS_KEY
from spruce.engine.model import QuerySpec
from spruce.engine.records import Record, SparseVector
from spruce.errors import InvalidArgumentError
from tests.engine.conftest import make_index

# (id, words, weight of term 7): the best-scoring records lack "stock"
DOCS = [("d0", ["tesla", "cars"], 9.0), ("d1", ["stock", "market"], 8.0), ("d2", ["tesla", "stock"], 3.0),
        ("d3", ["tesla", "stock", "surged"], 2.0), ("d4", ["stock", "tesla", "growth"], 1.0)]


def _records(offset: int = 0) -> list[Record]:
    return [Record(rid, sparse=SparseVector(np.array([7], np.uint32), np.array([w], np.float32)),
                   metadata={"genre": "news" if i % 2 else "blog", TERMS_KEY: terms})
            for i, (rid, terms, w) in enumerate(DOCS)]


def _query(engine, ns, flt, top_k=3):
    q = QuerySpec(top_k=top_k, sparse=SparseVector(np.array([7], np.uint32), np.array([1.0], np.float32)),
                  filter=flt, include_metadata=True)
    return engine.query("idx", ns, q).value


@pytest.mark.parametrize("flushed", [False, True])
def test_all_terms_is_a_pre_filter_and_stays_hidden(any_engine, flushed):
    make_index(any_engine, dimension=None, metric="dotproduct")
    any_engine.upsert("idx", "ns", _records())
    if flushed:
        any_engine.flush("idx", "ns")
    hits = _query(any_engine, "ns", with_all_terms(None, ["tesla", "stock"]))
    # top_k=3 with three matches: d0 and d1 score higher but lack a term, and are excluded
    assert [m.id for m in hits] == ["d2", "d3", "d4"]
    assert all(TERMS_KEY not in m.metadata for m in hits)
    both = with_all_terms(parse_filter({"genre": "blog"}), ["tesla", "stock"])
    assert [m.id for m in _query(any_engine, "ns", both)] == ["d2", "d4"]
    assert _query(any_engine, "ns", with_all_terms(None, ["tesla", "absent"])) == []
    fetched = any_engine.fetch("idx", "ns", ["d0"]).value["d0"]
    assert fetched.metadata == {"genre": "blog"}
    found, _ = any_engine.fetch_by_metadata("idx", "ns", parse_filter({"genre": "news"}), limit=10, token=None).value
    assert all(TERMS_KEY not in r.metadata for r in found.values()) and set(found) == {"d1", "d3"}
    assert any_engine.describe_namespace("idx", "ns").indexed_fields == ["genre"]
    # the hidden copy is untouched: a second read still filters on it
    assert [m.id for m in _query(any_engine, "ns", with_all_terms(None, ["surged"]))] == ["d3"]


def test_users_cannot_name_hidden_keys_or_all():
    with pytest.raises(InvalidArgumentError):
        parse_filter({TERMS_KEY: {"$all": ["tesla"]}})
    with pytest.raises(InvalidArgumentError):
        parse_filter({"genre": {"$all": ["tesla"]}})
    with pytest.raises(InvalidArgumentError):
        parse_filter({TERMS_KEY: "tesla"})


def test_with_all_terms_keeps_the_user_filter_depth():
    deep: dict = {"genre": "x"}
    for _ in range(10):
        deep = {"$and": [deep, {"n": {"$gt": 1}}]}
    flt = with_all_terms(parse_filter(deep), ["a", "b"])  # 10 levels: still accepted
    assert flt.matches({"genre": "x", "n": 2, TERMS_KEY: ["b", "a", "c"]})
    assert not flt.matches({"genre": "x", "n": 2, TERMS_KEY: ["a"]})
