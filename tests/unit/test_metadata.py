"""Metadata validation (MD-1..MD-5) and the typed slab column layout."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest

from spruce.engine.metadata import MetadataLayout, build_metadata_columns, validate_metadata
from spruce.errors import InvalidArgumentError
from tests.filter_cases import RECORDS


def test_valid_metadata_is_normalised() -> None:
    md = {"genre": "drama", "year": 2020, "rating": 8.5, "draft": False, "tags": ["a", "b"], "empty": [],
          "zero": -0.0, "big": 2**70}
    out = validate_metadata(md)
    assert out == {"genre": "drama", "year": 2020.0, "rating": 8.5, "draft": False, "tags": ["a", "b"], "empty": [],
                   "zero": 0.0, "big": float(2**70)}
    assert out is not None
    assert type(out["year"]) is float and type(out["big"]) is float
    assert type(out["draft"]) is bool
    assert math.copysign(1.0, out["zero"]) == 1.0
    assert md["year"] == 2020 and type(md["year"]) is int  # the input is left alone


@pytest.mark.parametrize("md", [None, {}])
def test_empty_metadata(md: Any) -> None:
    assert validate_metadata(md) == md


def test_all_shared_records_are_valid() -> None:
    for _, md in RECORDS:
        validate_metadata(md)


@pytest.mark.parametrize(("md", "mentions"), [
    (["genre", "drama"], "JSON object"),
    ("genre=drama", "JSON object"),
    ({"genre": None}, "remove the field"),
    ({"info": {"author": "x"}}, "nested object"),
    ({"scores": [85, 92]}, "'scores'"),
    ({"tags": ["a", None]}, "position 1"),
    ({"tags": ["a", ["b"]]}, "only hold strings"),
    ({"flags": [True]}, "'flags'"),
    ({"$genre": "drama"}, "'$genre'"),
    ({"": "x"}, "empty"),
    ({1: "x"}, "strings"),
    ({"x": float("nan")}, "finite"),
    ({"x": float("-inf")}, "finite"),
    ({"x": 10**400}, "too large"),
    ({"x": (1, 2)}, "unsupported type"),
    ({"x": "\ud800"}, "Unicode"),
])
def test_invalid_metadata(md: Any, mentions: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        validate_metadata(md)
    assert mentions in info.value.message
    assert info.value.status == 400


def test_size_limit_boundary() -> None:
    overhead = len('{"k":""}')
    validate_metadata({"k": "x" * (40960 - overhead)})
    with pytest.raises(InvalidArgumentError) as info:
        validate_metadata({"k": "x" * (40961 - overhead)})
    assert info.value.message == "Metadata size is 40961 bytes, which exceeds the limit of 40960 bytes per vector."


def test_size_counts_utf8_bytes_of_normalised_json() -> None:
    validate_metadata({"k": "é" * 4}, max_bytes=16)  # {"k":""} + 8 bytes
    with pytest.raises(InvalidArgumentError, match="17 bytes"):
        validate_metadata({"k": "é" * 4 + "x"}, max_bytes=16)
    validate_metadata({"n": 1}, max_bytes=9)  # counted as {"n":1.0}
    with pytest.raises(InvalidArgumentError, match="limit of 8 bytes"):
        validate_metadata({"n": 1}, max_bytes=8)


def test_build_columns_layout_and_values() -> None:
    metadatas = [validate_metadata(md) for md in (
        {"year": 2020, "tags": ["a"], "genre": "drama"},
        {"year": "2020", "tags": [], "flag": True},
        None,
        {"genre": ["comedy"], "year": 2021.5},
    )]
    layout, columns = build_metadata_columns(metadatas)
    assert layout.columns_for("flag") == {"b": "m0_b"}
    assert layout.columns_for("genre") == {"s": "m1_s", "l": "m1_l"}
    assert layout.columns_for("tags") == {"l": "m2_l"}
    assert layout.columns_for("year") == {"s": "m3_s", "f": "m3_f"}
    assert layout.columns_for("missing") == {}
    assert layout.column_names() == list(columns) == ["m0_b", "m1_s", "m1_l", "m2_l", "m3_s", "m3_f"]
    assert {name: array.to_pylist() for name, array in columns.items()} == {
        "m0_b": [None, True, None, None],
        "m1_s": ["drama", None, None, None],
        "m1_l": [None, None, None, ["comedy"]],
        "m2_l": [["a"], [], None, None],  # an empty list stays a (present) empty list
        "m3_s": [None, "2020", None, None],
        "m3_f": [2020.0, None, None, 2021.5],
    }
    assert columns["m0_b"].type == pa.bool_() and columns["m3_f"].type == pa.float64()
    assert columns["m1_s"].type == pa.string() and columns["m1_l"].type == pa.list_(pa.string())


def test_key_order_is_deterministic() -> None:
    a, _ = build_metadata_columns([{"b": 1.0, "a": "x"}])
    b, _ = build_metadata_columns([{"a": "y"}, {"b": 2.0}])
    assert a == b and a.to_json() == b.to_json()


def test_layout_json_round_trip() -> None:
    layout, _ = build_metadata_columns([validate_metadata(md) for _, md in RECORDS])
    again = MetadataLayout.from_json(layout.to_json())
    assert again == layout
    assert again.columns_for("quote'key") == layout.columns_for("quote'key") != {}
    assert again.column_names() == layout.column_names()


def test_no_metadata_gives_no_columns() -> None:
    layout, columns = build_metadata_columns([None, {}, None])
    assert columns == {} and layout.column_names() == [] and layout.columns_for("x") == {}


def test_build_columns_types_every_row_of_a_large_batch() -> None:
    """A column per key, a value per row (its time per row: bench/engine_paths.py)."""
    metadatas = [{"genre": f"g{i % 50}", "year": float(2000 + i % 25), "draft": i % 2 == 0,
                  "tags": ["a", f"t{i % 7}"], "title": f"title {i}"} for i in range(20_000)]
    _, columns = build_metadata_columns(metadatas)
    assert len(columns) == 5 and all(len(array) == 20_000 for array in columns.values())
