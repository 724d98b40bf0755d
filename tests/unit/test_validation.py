"""Data-plane request parsing: BEHAVIOR §4.1–4.3, 4.5, 4.7, 4.9–4.12, NAME-1 (pure, no engine)."""

from __future__ import annotations

import numpy as np
import pytest

from spruce.engine.model import DEFAULT_NAMESPACE, IndexConfig
from spruce.engine.validation import (
    parse_delete, parse_fetch_ids, parse_json, parse_list_params, parse_namespace, parse_query, parse_stats,
    parse_update, parse_upsert,
)
from spruce.errors import InvalidArgumentError

DENSE = IndexConfig(name="d", id="1", dimension=3, metric="cosine", vector_type="dense", cloud="aws",
                    region="us-east-1")
HYBRID = IndexConfig(name="h", id="2", dimension=3, metric="dotproduct", vector_type="dense", cloud="aws",
                     region="us-east-1")
SPARSE = IndexConfig(name="s", id="3", dimension=None, metric="dotproduct", vector_type="sparse", cloud="aws",
                     region="us-east-1")
SV = {"indices": [1, 7], "values": [0.5, 0.25]}


def vec(i: int | str = 0, **extra):
    return {"id": str(i), "values": [0.1, 0.2, 0.3], **extra}


def invalid(fn, *args, match: str):
    with pytest.raises(InvalidArgumentError, match=match) as e:
        fn(*args)
    assert e.value.status == 400 and e.value.grpc_code == 3
    return e.value


# ----------------------------------------------------------------------------- json / namespace


def test_parse_json_empty_body_is_empty_object():
    assert parse_json(b"") == {} and parse_json(b"  ") == {}


@pytest.mark.parametrize("raw", [b"{", b"{'a': 1}", b'{"a": NaN}', b"nul"])
def test_malformed_json_is_400(raw):
    invalid(parse_json, raw, match="not valid JSON")


@pytest.mark.parametrize("value", [None, ""])
def test_missing_or_empty_namespace_is_default_dp_ns_3(value):
    assert parse_namespace(value) == DEFAULT_NAMESPACE


@pytest.mark.parametrize("value,match", [("n" * 513, "at most 512"), ("caf\u00e9", "ASCII"), ("a\0b", "NUL"),
                                         (5, "must be a string")])
def test_bad_namespaces(value, match):
    invalid(parse_namespace, value, match=match)


def test_namespace_of_512_ascii_chars_is_fine():
    assert parse_namespace("n" * 512) == "n" * 512


# ----------------------------------------------------------------------------- upsert


def test_upsert_parses_records_as_float32_dp_up_1():
    ns, records = parse_upsert({"vectors": [vec("a", metadata={"genre": "drama"})], "namespace": "ns"}, DENSE)
    assert ns == "ns" and len(records) == 1
    r = records[0]
    assert r.id == "a" and r.values.dtype == np.float32 and r.values.tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert r.metadata == {"genre": "drama"} and r.sparse is None


def test_upsert_accepts_camel_and_snake_sparse_values_name_1():
    for key in ("sparseValues", "sparse_values"):
        _, [r] = parse_upsert({"vectors": [vec(**{key: SV})]}, HYBRID)
        assert r.sparse.indices.dtype == np.uint32 and r.sparse.indices.tolist() == [1, 7]
        assert r.sparse.values.dtype == np.float32


def test_upsert_sparse_values_on_cosine_dense_index_succeed_dp_rec_7():
    _, [r] = parse_upsert({"vectors": [vec(sparseValues=SV)]}, DENSE)
    assert r.sparse is not None


def test_duplicate_ids_last_wins_dp_up_7():
    _, records = parse_upsert({"vectors": [vec("a"), vec("b"), {"id": "a", "values": [1, 2, 3]}]}, DENSE)
    assert [r.id for r in records] == ["b", "a"] and records[1].values.tolist() == [1, 2, 3]


def test_upsert_integers_become_floats():
    _, [r] = parse_upsert({"vectors": [{"id": "a", "values": [1, 2, 3]}]}, DENSE)
    assert r.values.dtype == np.float32


@pytest.mark.parametrize("body,match", [
    ({}, "`vectors` is required"),
    ({"vectors": []}, "`vectors` is required"),
    ({"vectors": {"id": "a"}}, "`vectors` is required"),
    ({"vectors": [vec(i) for i in range(1001)]}, "at most 1000 vectors per request; got 1001"),
    ({"vectors": ["a"]}, r"`vectors\[0\]` must be an object"),
    ({"vectors": [{"values": [1, 2, 3]}]}, r"`vectors\[0\].id` is required"),
    ({"vectors": [vec("x" * 513)]}, r"`vectors\[0\].id` must be 1 to 512 ASCII"),
    ({"vectors": [vec("")]}, "must be 1 to 512 ASCII"),
    ({"vectors": [vec("caf\u00e9")]}, "ASCII"),
    ({"vectors": [vec("a\0b")]}, "NUL"),
    ({"vectors": [{"id": 7, "values": [1, 2, 3]}]}, r"`vectors\[0\].id` must be a string"),
    ({"vectors": [{"id": "a"}]}, r"`vectors\[0\].values` is required: a list of 3 numbers"),
    ({"vectors": [vec(), {"id": "b", "values": [1, 2]}]},
     r"Vector dimension 2 does not match the dimension of the index 3 \(`vectors\[1\].values`\)"),
    ({"vectors": [{"id": "a", "values": "1,2,3"}]}, "must be a list of numbers"),
    ({"vectors": [{"id": "a", "values": [1, "2", 3]}]}, 'must contain only numbers; found "2"'),
    ({"vectors": [{"id": "a", "values": [1, None, 3]}]}, "must contain only numbers; found null"),
    ({"vectors": [{"id": "a", "values": [True, False, True]}]}, "must contain only numbers; found true"),
    ({"vectors": [{"id": "a", "values": [[1], [2], [3]]}]}, r"must contain only numbers; found \[1\]"),
    ({"vectors": [{"id": "a", "values": [1, 1e39, 3]}]}, "32-bit float range"),
    ({"vectors": [vec(), vec("b")], "namespace": 3}, "`namespace` must be a string"),
    ([vec()], "Request body must be a JSON object"),
])
def test_upsert_rejections_dp_up_6(body, match):
    invalid(parse_upsert, body, DENSE, match=match)


BAD_ROWS = [[1, "2", 3], [1, None, 3], [True, False, True], [[1], [2], [3]], [1, 1e39, 3], "1,2,3", [1, 2],
            [2**130, 1, 1], [float("nan"), 1, 2]]


@pytest.mark.parametrize("row", BAD_ROWS, ids=repr)
def test_a_bad_vector_in_a_batch_is_named_as_when_alone(row):
    """The whole batch's vectors are converted at once; one bad row still gets its own message."""
    alone = invalid(parse_upsert, {"vectors": [{"id": "x", "values": row}]}, DENSE, match="values")
    batch = [vec(i) for i in range(5)]
    batch[3] = {"id": "x", "values": row}
    in_batch = invalid(parse_upsert, {"vectors": batch}, DENSE, match="values")
    assert in_batch.message == alone.message.replace("vectors[0]", "vectors[3]")


def test_a_batch_of_numbers_is_stored_as_float32_exactly_as_one_by_one():
    rows = [[1, 2, 3], [0.1, -2.5, 3e-8], [1, 0.5, 7], [2**40, 1, -1], [True, 0.5, 2]]
    _, batch = parse_upsert({"vectors": [{"id": str(i), "values": r} for i, r in enumerate(rows)]}, DENSE)
    for i, r in enumerate(rows):
        _, (alone,) = parse_upsert({"vectors": [{"id": str(i), "values": r}]}, DENSE)
        assert batch[i].values.dtype == np.float32 and np.array_equal(batch[i].values, alone.values)
        assert np.array_equal(alone.values, np.array(r, dtype=np.float64).astype(np.float32))


@pytest.mark.parametrize("sv,match", [
    ({"indices": [1, 2], "values": [0.5]}, "has 2 indices but 1 values"),
    ({"indices": [], "values": []}, "at least one index/value pair"),
    ({"indices": [1]}, "must be an object"),
    ({"indices": [1, 1], "values": [0.5, 0.5]}, "must not contain duplicates"),
    ({"indices": [-1], "values": [0.5]}, "between 0 and 4294967295"),
    ({"indices": [2**32], "values": [0.5]}, "between 0 and 4294967295"),
    ({"indices": [1.5], "values": [0.5]}, "must be integers"),
    ({"indices": ["1"], "values": [0.5]}, "must be integers"),
    ({"indices": list(range(2049)), "values": [1.0] * 2049}, "2049 non-zero values; sparse vectors are limited"),
    ({"indices": [1], "values": ["x"]}, "must contain only numbers"),
    ([1, 2], "must be an object"),
])
def test_bad_sparse_values_dp_rec_4_sp_1_2(sv, match):
    invalid(parse_upsert, {"vectors": [vec(sparseValues=sv)]}, HYBRID, match=match)


def test_sparse_limits_are_inclusive_sp_2_3():
    sv = {"indices": list(range(2047)) + [2**32 - 1], "values": [1.0] * 2048}
    _, [r] = parse_upsert({"vectors": [vec(sparseValues=sv)]}, HYBRID)
    assert r.sparse.indices[-1] == 2**32 - 1 and r.sparse.indices.size == 2048


def test_sparse_index_records_dp_rec_5():
    _, [r] = parse_upsert({"vectors": [{"id": "a", "values": [], "sparse_values": SV}]}, SPARSE)  # the SDK's shape
    assert r.values is None and r.sparse.indices.tolist() == [1, 7]
    invalid(parse_upsert, {"vectors": [{"id": "a"}]}, SPARSE, match="sparseValues` is required in a sparse index")
    invalid(parse_upsert, {"vectors": [{"id": "a", "values": [1.0], "sparseValues": SV}]}, SPARSE,
            match="sparse index: send only `sparseValues`")


def test_metadata_errors_name_the_record_dp_rec_6():
    err = invalid(parse_upsert, {"vectors": [vec(), vec("b", metadata={"nested": {"a": 1}})]}, DENSE,
                  match=r"`vectors\[1\].metadata`")
    assert "nested" in err.message


def test_metadata_over_40kb_is_rejected_md_5():
    invalid(parse_upsert, {"vectors": [vec(metadata={"text": "x" * 41_000})]}, DENSE, match="metadata")


def test_upsert_over_2mb_of_records_is_rejected_dp_up_1():
    cfg = IndexConfig(name="big", id="4", dimension=768, metric="cosine", vector_type="dense", cloud="aws",
                      region="us-east-1")
    # The documented batch table: 768 dims + 500 B of metadata fits 559 records, not 560.
    def batch(n):
        return {"vectors": [{"id": f"{i:03}", "values": [0.5] * 768, "metadata": {"t": "x" * 490}}
                            for i in range(n)]}
    assert len(parse_upsert(batch(550), cfg)[1]) == 550
    invalid(parse_upsert, batch(600), cfg, match="over the 2 MB limit")


def test_1000_records_of_384_dims_fit_dp_up_5():
    cfg = IndexConfig(name="b", id="5", dimension=384, metric="cosine", vector_type="dense", cloud="aws",
                      region="us-east-1")
    body = {"vectors": [{"id": str(i), "values": [0.123456789] * 384} for i in range(1000)]}
    assert len(parse_upsert(body, cfg)[1]) == 1000


def test_raw_body_cap():
    invalid(parse_json, b" " * (32 * 1024 * 1024 + 1), match="over the 32 MB limit")


# ----------------------------------------------------------------------------- query


def test_query_defaults_dp_q_4():
    ns, q = parse_query({"topK": 5, "vector": [1, 2, 3]}, DENSE)
    assert ns == DEFAULT_NAMESPACE and q.top_k == 5 and q.vector.dtype == np.float32
    assert (q.include_values, q.include_metadata, q.filter, q.id, q.sparse) == (False, False, None, None, None)


def test_query_snake_case_name_1():
    _, q = parse_query({"top_k": 2, "vector": [1, 2, 3], "include_values": True, "include_metadata": True,
                        "namespace": "ns"}, DENSE)
    assert (q.top_k, q.include_values, q.include_metadata) == (2, True, True)


def test_query_by_id_dp_q_3():
    _, q = parse_query({"topK": 1, "id": "a"}, DENSE)
    assert q.id == "a" and q.vector is None


def test_hybrid_query_on_dotproduct_index_hy_1():
    _, q = parse_query({"topK": 1, "vector": [1, 2, 3], "sparseVector": SV}, HYBRID)
    assert q.vector is not None and q.sparse.indices.tolist() == [1, 7]


def test_sparse_index_query_dp_q_2():
    _, q = parse_query({"topK": 1000, "sparse_vector": SV, "vector": []}, SPARSE)
    assert q.sparse is not None and q.vector is None


def test_query_filter_is_parsed_dp_q_8():
    _, q = parse_query({"topK": 1, "vector": [1, 2, 3], "filter": {"genre": {"$eq": "drama"}}}, DENSE)
    assert q.filter is not None


@pytest.mark.parametrize("body,match", [
    ({"vector": [1, 2, 3]}, "`topK` is required"),
    ({"topK": 0, "vector": [1, 2, 3]}, "between 1 and 10000; got 0"),
    ({"topK": 10_001, "vector": [1, 2, 3]}, "between 1 and 10000; got 10001"),
    ({"topK": "5", "vector": [1, 2, 3]}, 'got "5"'),
    ({"topK": 2.5, "vector": [1, 2, 3]}, "got 2.5"),
    ({"topK": True, "vector": [1, 2, 3]}, "got true"),
    ({"topK": 1}, "A query needs `vector` or `id`"),
    ({"topK": 1, "vector": [1, 2, 3], "id": "a"}, "cannot be combined"),
    ({"topK": 1, "vector": [1, 2]}, "Vector dimension 2 does not match the dimension of the index 3"),
    ({"topK": 1, "sparseVector": SV}, "cannot run sparse-only queries"),
    ({"topK": 1, "vector": [1, 2, 3], "sparseVector": SV}, "need an index with the `dotproduct` metric"),
    ({"topK": 1, "id": ""}, "`id` must be 1 to 512"),
    ({"topK": 1, "vector": [1, 2, 3], "includeValues": "yes"}, "`includeValues` must be true or false"),
    ({"topK": 1, "queries": [{"values": [1, 2, 3]}]}, "deprecated `queries`"),
])
def test_query_rejections_dp_q_1_2_9_dp_rec_7(body, match):
    invalid(parse_query, body, DENSE, match=match)


def test_query_top_k_limits_are_inclusive_dp_q_1():
    assert parse_query({"topK": 10_000, "vector": [1, 2, 3]}, DENSE)[1].top_k == 10_000
    invalid(parse_query, {"topK": 1001, "sparseVector": SV}, SPARSE, match="between 1 and 1000")


def test_sparse_index_query_rejections_dp_q_2():
    invalid(parse_query, {"topK": 1, "vector": [1.0]}, SPARSE, match="cannot be queried with a dense `vector`")
    invalid(parse_query, {"topK": 1}, SPARSE, match="`sparseVector` or `id`")


def test_bad_filter_is_400_flt_7():
    invalid(parse_query, {"topK": 1, "vector": [1, 2, 3], "filter": {"genre": ["a", "b"]}}, DENSE, match="genre")


# ----------------------------------------------------------------------------- update / delete / stats


def test_update_dp_u_1():
    ns, u = parse_update({"id": "a", "values": [1, 2, 3], "setMetadata": {"y": 2}, "namespace": "n"}, DENSE)
    assert ns == "n" and u.id == "a" and u.values.dtype == np.float32 and u.set_metadata == {"y": 2.0}
    _, u = parse_update({"id": "a", "set_metadata": {"y": "z"}}, DENSE)
    assert u.values is None and u.sparse is None and u.set_metadata == {"y": "z"}
    _, u = parse_update({"id": "a", "sparse_values": SV, "values": []}, SPARSE)
    assert u.sparse is not None and u.values is None


@pytest.mark.parametrize("body,match", [
    ({"values": [1, 2, 3]}, "`id` is required"),
    ({"id": "a"}, "at least one of `values`, `sparseValues` or `setMetadata`"),
    ({"id": "a", "values": [1, 2]}, "Vector dimension 2 does not match"),
    ({"id": "a", "setMetadata": {"k": None}}, "setMetadata"),
    ({"id": "a", "setMetadata": {"k": [1, 2]}}, "setMetadata"),
])
def test_update_rejections_dp_u_1_2(body, match):
    invalid(parse_update, body, DENSE, match=match)


def test_update_dense_values_on_sparse_index_is_rejected():
    invalid(parse_update, {"id": "a", "values": [1.0]}, SPARSE, match="do not store dense `values`")


def test_delete_modes_dp_d_1():
    assert parse_delete({"ids": ["a", "b"]})[1].ids == ["a", "b"]
    assert parse_delete({"deleteAll": True, "namespace": "n"})[1].delete_all
    assert parse_delete({"delete_all": True})[1].delete_all
    assert parse_delete({"filter": {"genre": "drama"}})[1].filter is not None
    assert parse_delete({"ids": ["a"], "deleteAll": False})[1].ids == ["a"]


@pytest.mark.parametrize("body,match", [
    ({}, "exactly one of `ids`"),
    ({"deleteAll": False}, "exactly one of `ids`"),
    ({"ids": ["a"], "deleteAll": True}, "cannot be combined"),
    ({"ids": ["a"], "filter": {"a": 1}}, "cannot be combined"),
    ({"ids": []}, "1 to 1000 ids"),
    ({"ids": [str(i) for i in range(1001)]}, "at most 1000 ids per request; got 1001"),
    ({"ids": "a"}, "must be a list"),
    ({"ids": ["x" * 513]}, "512"),
    ({"filter": {}}, "`filter` must not be empty"),
    ({"deleteAll": "yes"}, "true or false"),
])
def test_delete_rejections_dp_d_1(body, match):
    invalid(parse_delete, body, match=match)


def test_stats_filter_is_rejected_dp_st_3():
    parse_stats({})
    parse_stats({"filter": None})
    invalid(parse_stats, {"filter": {"genre": "drama"}}, match="does not support `filter`")


# ----------------------------------------------------------------------------- fetch / list


def test_fetch_ids_dedupe_dp_f_2():
    assert parse_fetch_ids(["a", "b", "a"]) == ["a", "b"]


def test_fetch_ids_limits_dp_f_1():
    assert len(parse_fetch_ids([str(i) for i in range(1000)])) == 1000
    invalid(parse_fetch_ids, [], match="`ids` is required")
    invalid(parse_fetch_ids, [str(i) for i in range(1001)], match="at most 1000 ids per request; got 1001")
    invalid(parse_fetch_ids, ["x" * 513], match="512")


def test_list_params_dp_l_2():
    p = parse_list_params(None, None, None)
    assert (p.limit, p.token, p.prefix) == (100, None, None)
    p = parse_list_params("5", "tok", "doc#")
    assert (p.limit, p.token, p.prefix) == (5, "tok", "doc#")
    assert parse_list_params("", "", "").prefix is None


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5"])
def test_list_limit_out_of_range_d4(limit):
    invalid(parse_list_params, limit, None, None, match="`limit` must be an integer between 1 and 100")
