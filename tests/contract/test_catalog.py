"""Catalog contract, against SQLite and DynamoDB/S3; AWS-only checks of delete_index at the end."""

from __future__ import annotations

import os

from spruce.storage.aws_tables import SPILL_PREFIX
from tests.contract.conftest import Stores

A, B = "idx-a", "idx-b"


def test_create_refuses_an_existing_name(stores):
    c = stores.catalog
    assert c.get_index("alpha") is None
    assert c.put_index("alpha", A, b"cfg-1", create=True) is True
    assert c.put_index("alpha", B, b"cfg-2", create=True) is False
    assert c.get_index("alpha") == b"cfg-1"


def test_update_needs_the_same_existing_index(stores):
    c = stores.catalog
    assert c.put_index("alpha", A, b"cfg", create=False) is False
    assert c.get_index("alpha") is None
    c.put_index("alpha", A, b"cfg-1", create=True)
    assert c.put_index("alpha", A, b"cfg-2", create=False) is True
    assert c.get_index("alpha") == b"cfg-2"
    assert c.put_index("alpha", B, b"cfg-3", create=False) is False  # same name, another index
    assert c.get_index("alpha") == b"cfg-2"


def test_list_indexes_in_name_order(stores):
    c = stores.catalog
    assert c.list_indexes() == []
    for name in ("delta", "alpha", "charlie", "bravo"):
        c.put_index(name, f"id-{name}", name.encode(), create=True)
    assert c.list_indexes() == [b"alpha", b"bravo", b"charlie", b"delta"]
    assert stores.reopen().catalog.list_indexes() == [b"alpha", b"bravo", b"charlie", b"delta"]


def _populate(stores: Stores, name: str, index_id: str) -> None:
    stores.catalog.put_index(name, index_id, name.encode(), create=True)
    for ns in ("ns1", "ns2"):
        for i in range(3):
            stores.log.append(index_id, ns, "upsert", b"%s-%d" % (ns.encode(), i))
        stores.manifests.commit_manifest(index_id, ns, 0, b"manifest")
    stores.log.create_namespace(index_id, "empty", b"schema")


def _assert_intact(stores: Stores, name: str, index_id: str) -> None:
    assert stores.catalog.get_index(name) == name.encode()
    assert [r.name for r in stores.log.namespaces(index_id)] == ["empty", "ns1", "ns2"]
    for ns in ("ns1", "ns2"):
        read = stores.log.read_tail(index_id, ns, 0)
        assert [e.payload for e in read.entries] == [b"%s-%d" % (ns.encode(), i) for i in range(3)]
        assert stores.manifests.load_manifest(index_id, ns) == (1, b"manifest")


def test_delete_index_removes_everything_of_that_index_only(stores):
    _populate(stores, "alpha", A)
    _populate(stores, "bravo", B)
    stores.catalog.delete_index("alpha", A)
    assert stores.catalog.get_index("alpha") is None
    assert stores.catalog.list_indexes() == [b"bravo"]
    assert stores.log.namespaces(A) == []
    for ns in ("ns1", "ns2", "empty"):
        assert stores.log.namespace(A, ns) is None
        read = stores.log.read_tail(A, ns, 0)
        assert (read.entries, read.last_lsn) == ([], 0)
        assert stores.manifests.load_manifest(A, ns) is None
    _assert_intact(stores, "bravo", B)
    stores.catalog.put_index("alpha", "idx-a2", b"alpha", create=True)  # the name is free again
    assert stores.log.append("idx-a2", "ns1", "upsert", b"x") == 1


def test_delete_index_keeps_a_name_now_held_by_another_index(stores):
    _populate(stores, "alpha", B)
    stores.catalog.delete_index("alpha", A)  # a stale delete of an older "alpha"
    _assert_intact(stores, "alpha", B)


def test_delete_index_of_an_unknown_index_is_a_no_op(stores):
    stores.catalog.delete_index("ghost", "idx-ghost")
    assert stores.catalog.list_indexes() == []


def test_api_key_hashes_round_trip(stores):
    c = stores.catalog
    h = "a" * 64
    assert c.has_api_key_hash(h) is False
    c.add_api_key_hash(h)
    c.add_api_key_hash(h)  # idempotent
    assert c.has_api_key_hash(h) is True
    assert c.has_api_key_hash("b" * 64) is False
    assert stores.reopen().catalog.has_api_key_hash(h) is True


def test_api_keys_are_not_indexes(stores):
    stores.catalog.add_api_key_hash("c" * 64)
    stores.catalog.put_index("alpha", A, b"alpha", create=True)
    assert stores.catalog.list_indexes() == [b"alpha"]


# ---------------------------------------------------------------- AWS only


def test_delete_index_removes_its_log_items_and_spill_objects(aws: Stores):
    _populate(aws, "alpha", A)
    _populate(aws, "bravo", B)
    big = os.urandom(400_000)
    for index_id in (A, B):
        aws.log.append(index_id, "ns1", "upsert", big)
        aws.log.append(index_id, "ns2", "upsert", big)
    aws.log.truncate(A, "ns1", 2)  # some entries already stamped with a TTL
    for i in range(30):  # more than one BatchWriteItem of log keys
        aws.log.append(A, "ns2", "delete_ids", b"%d" % i)
    env = aws.aws
    aws.catalog.delete_index("alpha", A)

    streams = {i["stream"]["S"] for i in env.dynamodb.scan(TableName=env.tables.log)["Items"]}
    assert streams == {f"{B}#ns1", f"{B}#ns2"}
    for table in (env.tables.namespaces, env.tables.manifests):
        assert {i["index_id"]["S"] for i in env.dynamodb.scan(TableName=table)["Items"]} == {B}
    keys = [o["Key"] for o in env.s3.list_objects_v2(Bucket=env.bucket).get("Contents", [])]
    assert len(keys) == 2 and all(k.startswith(f"{SPILL_PREFIX}/{B}/") for k in keys)
    assert [e.payload for e in aws.log.read_tail(B, "ns1", 3).entries] == [big]
