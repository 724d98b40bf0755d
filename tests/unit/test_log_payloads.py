"""Request-log payloads: what a write is stored as, and that every entry ever logged still decodes
(an acknowledged write must stay readable across upgrades: DESIGN's no-acknowledged-write-lost)."""

from __future__ import annotations

import base64
import struct

import numpy as np
import orjson
import pytest

from spruce.engine.records import (
    DeleteIds, Record, SparseVector, Update, Upsert, decode_op, encode_op,
)


def _f4(*xs: float) -> str:
    return base64.b64encode(np.array(xs, dtype="<f4").tobytes()).decode()


def _same(a: list[Record], b: list[Record]) -> None:
    assert [r.id for r in a] == [r.id for r in b]
    for x, y in zip(a, b, strict=True):
        assert (x.values is None) == (y.values is None)
        if x.values is not None:
            assert x.values.dtype == np.float32 and np.array_equal(x.values, y.values)
        assert (x.sparse is None) == (y.sparse is None)
        if x.sparse is not None:
            assert np.array_equal(x.sparse.indices, y.sparse.indices)
            assert np.array_equal(x.sparse.values, y.sparse.values)
        assert x.metadata == y.metadata


def _sv(*pairs: tuple[int, float]) -> SparseVector:
    return SparseVector(np.array([i for i, _ in pairs], dtype=np.uint32), np.array([v for _, v in pairs], np.float32))


DENSE = [Record("a", np.array([1.0, 2.0], np.float32), None, {"genre": "drama", "year": 2020}),
         Record("b", np.array([-0.5, 3.25], np.float32), None, None),
         Record("ü", np.array([0.0, 1e-30], np.float32), None, {"tags": ["x", "y"]})]
HYBRID = [Record("a", np.array([1.0, 2.0], np.float32), _sv((3, 0.5), (9, 1.5)), None),
          Record("b", np.array([0.5, 0.25], np.float32), None, {"k": True})]
SPARSE_ONLY = [Record("a", None, _sv((1, 2.0)), {"k": 1}), Record("b", None, _sv((2, 1.0), (7, 4.0)), None)]


@pytest.mark.parametrize("records", [DENSE, HYBRID, SPARSE_ONLY, []], ids=["dense", "hybrid", "sparse", "empty"])
def test_upserts_round_trip(records):
    kind, payload = encode_op(Upsert(records))
    assert kind == "upsert"
    op = decode_op(kind, payload)
    assert isinstance(op, Upsert)
    _same(op.records, records)


def test_dense_upserts_are_logged_as_columns_with_raw_vectors():
    _, payload = encode_op(Upsert(DENSE))
    assert payload[:1] == b"\x01"
    (size,) = struct.unpack_from("<I", payload, 1)
    header = orjson.loads(payload[5:5 + size])
    assert header == {"i": ["a", "b", "ü"], "m": [r.metadata for r in DENSE]}
    assert np.array_equal(np.frombuffer(payload[5 + size:], "<f4").reshape(3, 2), np.stack([r.values for r in DENSE]))


def test_hybrid_upserts_carry_their_sparse_vectors_in_the_header():
    _, payload = encode_op(Upsert(HYBRID))
    (size,) = struct.unpack_from("<I", payload, 1)
    header = orjson.loads(payload[5:5 + size])
    assert header["s"][1] is None and len(header["s"][0]) == 2
    assert len(payload) == 5 + size + 2 * 2 * 4


def test_records_without_one_vector_length_stay_one_object_each():
    ragged = [Record("a", np.array([1.0, 2.0], np.float32)), Record("b", np.array([1.0], np.float32))]
    kind, payload = encode_op(Upsert(ragged))
    assert isinstance(orjson.loads(payload), list)  # JSON, as every upsert was logged before
    _same(decode_op(kind, payload).records, ragged)
    kind, payload = encode_op(Upsert(SPARSE_ONLY))
    assert isinstance(orjson.loads(payload), list)


def test_entries_logged_before_the_columnar_format_still_decode():
    """Byte for byte what earlier versions logged (a list of records, a base64 vector each)."""
    legacy = (f'[{{"i":"a","v":"{_f4(1.0, 2.0)}","m":{{"genre":"drama"}}}},'
              f'{{"i":"b","v":"{_f4(0.5, 0.25)}","s":["{base64.b64encode(np.array([4], "<u4").tobytes()).decode()}",'
              f'"{_f4(2.5)}"]}}]').encode()
    op = decode_op("upsert", legacy)
    _same(op.records, [Record("a", np.array([1.0, 2.0], np.float32), None, {"genre": "drama"}),
                       Record("b", np.array([0.5, 0.25], np.float32), _sv((4, 2.5)), None)])


def test_other_operations_round_trip():
    kind, payload = encode_op(Update("a", np.array([1.0, 0.0], np.float32), None, {"k": "v"}))
    op = decode_op(kind, payload)
    assert op.id == "a" and np.array_equal(op.values, [1.0, 0.0]) and op.set_metadata == {"k": "v"}
    assert decode_op(*encode_op(DeleteIds(["a", "b"]))).ids == ["a", "b"]
