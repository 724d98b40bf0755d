"""RequestLog contract, against SQLite and DynamoDB/S3; AWS-only tests at the end."""

from __future__ import annotations

import dataclasses
import os
import time

import pytest
from botocore.exceptions import ClientError

from spruce.engine.model import DEFAULT_NAMESPACE
from spruce.storage import dynamo_log
from spruce.storage.aws_tables import LOG_TTL_ATTRIBUTE, SPILL_PREFIX
from spruce.storage.dynamo_log import SPILL_THRESHOLD, DynamoRequestLog, TRUNCATE_GRACE_S, stream_key
from tests.contract.conftest import HookedClient, Stores

IDX, OTHER = "idx-1", "idx-2"
NS = DEFAULT_NAMESPACE


def tail(log, namespace: str = NS, after: int = 0, index_id: str = IDX) -> list[tuple[int, str, bytes]]:
    return [(e.lsn, e.kind, e.payload) for e in log.read_tail(index_id, namespace, after).entries]


# ---------------------------------------------------------------- LSNs


def test_lsns_start_at_one_and_are_gap_free_per_index_and_namespace(log):
    assert [log.append(IDX, NS, "upsert", b"a%d" % i) for i in range(5)] == [1, 2, 3, 4, 5]
    assert log.append(IDX, "other", "upsert", b"x") == 1
    assert log.append(OTHER, NS, "upsert", b"y") == 1
    assert log.append(IDX, NS, "delete_ids", b"z") == 6
    assert log.namespace(IDX, NS).last_lsn == 6
    assert log.namespace(IDX, "other").last_lsn == 1


def test_appended_entry_survives_reopening(stores: Stores):
    lsn = stores.log.append(IDX, NS, "upsert", b"\x00durable\xff")
    fresh = stores.reopen()
    assert tail(fresh.log) == [(lsn, "upsert", b"\x00durable\xff")]
    assert fresh.log.append(IDX, NS, "upsert", b"next") == lsn + 1


def test_lsn_never_reused_after_drop(log):
    assert log.append(IDX, NS, "upsert", b"1") == 1
    assert log.append(IDX, NS, "upsert", b"2") == 2
    assert log.append(IDX, NS, "drop_namespace", b"null") == 3
    row = log.namespace(IDX, NS)
    assert (row.last_lsn, row.exists) == (3, False)
    assert log.append(IDX, NS, "upsert", b"4") == 4
    assert [e[0] for e in tail(log)] == [1, 2, 3, 4]


@pytest.mark.parametrize("first_kind", ["delete_ids", "update", "delete_all", "drop_namespace"])
def test_new_namespace_from_a_non_upsert_write_does_not_exist(log, first_kind):
    assert log.append(IDX, NS, first_kind, b"p") == 1
    row = log.namespace(IDX, NS)
    assert (row.name, row.last_lsn, row.exists, row.schema) == (NS, 1, False, None)


def test_presence_follows_upsert_and_drop_only(log):
    log.append(IDX, NS, "upsert", b"")
    assert log.namespace(IDX, NS).exists
    for kind in ("update", "delete_ids", "delete_filter", "delete_all", "update_filter"):
        log.append(IDX, NS, kind, b"")
        assert log.namespace(IDX, NS).exists, kind
    log.append(IDX, NS, "drop_namespace", b"")
    assert not log.namespace(IDX, NS).exists
    for kind in ("update", "delete_ids", "delete_all"):
        log.append(IDX, NS, kind, b"")
        assert not log.namespace(IDX, NS).exists, kind
    log.append(IDX, NS, "upsert", b"")
    assert log.namespace(IDX, NS).exists


def test_an_ingest_makes_its_namespace_exist_as_an_upsert_does(log):
    """A bulk import's ``ingest`` entry writes records (they are in a slab it names)."""
    assert log.append(IDX, NS, "ingest", b"{}") == 1
    assert log.namespace(IDX, NS).exists
    log.append(IDX, NS, "drop_namespace", b"")
    log.append(IDX, NS, "ingest", b"{}")
    assert (log.namespace(IDX, NS).exists, log.namespace(IDX, NS).last_lsn) == (True, 3)


def test_drop_clears_the_schema_and_other_writes_keep_it(log):
    assert log.create_namespace(IDX, NS, b"schema-1")
    log.append(IDX, NS, "upsert", b"r")
    log.append(IDX, NS, "delete_ids", b"r")
    assert log.namespace(IDX, NS).schema == b"schema-1"
    log.append(IDX, NS, "drop_namespace", b"")
    row = log.namespace(IDX, NS)
    assert (row.exists, row.schema) == (False, None)


# ---------------------------------------------------------------- create_namespace


def test_create_namespace_takes_no_lsn_and_refuses_an_existing_one(log):
    assert log.create_namespace(IDX, NS, b"s1")
    row = log.namespace(IDX, NS)
    assert (row.last_lsn, row.exists, row.schema) == (0, True, b"s1")
    assert not log.create_namespace(IDX, NS, b"s2")
    assert log.namespace(IDX, NS).schema == b"s1"  # changed nothing
    assert log.append(IDX, NS, "upsert", b"x") == 1
    assert not log.create_namespace(IDX, NS, None)


def test_create_namespace_without_schema(log):
    assert log.create_namespace(IDX, NS, None)
    row = log.namespace(IDX, NS)
    assert (row.last_lsn, row.exists, row.schema) == (0, True, None)


def test_create_namespace_after_drop_keeps_the_counter(log):
    log.append(IDX, NS, "upsert", b"x")
    assert not log.create_namespace(IDX, NS, b"s")  # exists through the upsert
    log.append(IDX, NS, "drop_namespace", b"")
    assert log.create_namespace(IDX, NS, b"s2")
    row = log.namespace(IDX, NS)
    assert (row.last_lsn, row.exists, row.schema) == (2, True, b"s2")
    assert log.append(IDX, NS, "upsert", b"y") == 3


def test_create_namespace_over_a_row_that_never_existed(log):
    log.append(IDX, NS, "delete_ids", b"[]")  # a row, not existing
    assert log.create_namespace(IDX, NS, None)
    row = log.namespace(IDX, NS)
    assert (row.last_lsn, row.exists) == (1, True)


# ---------------------------------------------------------------- restore_namespace


def test_restored_namespace_continues_after_its_lsn(log):
    assert log.restore_namespace(IDX, NS, 41, b"sch")
    row = log.namespace(IDX, NS)
    assert (row.last_lsn, row.exists, row.schema) == (41, True, b"sch")
    read = log.read_tail(IDX, NS, 41)
    assert (read.entries, read.last_lsn) == ([], 41)
    assert log.append(IDX, NS, "upsert", b"x") == 42
    assert tail(log, after=41) == [(42, "upsert", b"x")]
    assert log.restore_namespace(IDX, "other", 0, None)
    assert log.namespace(IDX, "other").schema is None


def test_restore_namespace_refuses_a_known_one(log):
    log.append(IDX, NS, "delete_ids", b"[]")  # a row that never existed still holds a counter
    assert not log.restore_namespace(IDX, NS, 9, None)
    assert log.namespace(IDX, NS).last_lsn == 1
    assert log.create_namespace(IDX, "made", None)
    assert not log.restore_namespace(IDX, "made", 9, b"s")
    assert (log.namespace(IDX, "made").last_lsn, log.namespace(IDX, "made").schema) == (0, None)


# ---------------------------------------------------------------- read_tail / truncate


def test_read_tail_in_lsn_order_with_last_lsn(log):
    payloads = [b"", b"\x00\x01", os.urandom(1000), b"{}"]
    kinds = ["upsert", "delete_ids", "update", "delete_all"]
    for kind, payload in zip(kinds, payloads):
        log.append(IDX, NS, kind, payload)
    read = log.read_tail(IDX, NS, 0)
    assert [(e.lsn, e.kind, e.payload) for e in read.entries] == list(zip([1, 2, 3, 4], kinds, payloads))
    assert read.last_lsn == 4
    assert [e[0] for e in tail(log, after=2)] == [3, 4]
    assert log.read_tail(IDX, NS, 4).entries == [] and log.read_tail(IDX, NS, 4).last_lsn == 4


def test_read_tail_of_an_unknown_namespace(log):
    read = log.read_tail(IDX, "never", 0)
    assert (read.entries, read.last_lsn) == ([], 0)


def test_read_tail_after_create_namespace_only(log):
    log.create_namespace(IDX, NS, None)
    read = log.read_tail(IDX, NS, 0)
    assert (read.entries, read.last_lsn) == ([], 0)


def test_truncate_keeps_later_entries_and_earlier_ones_may_go(log):
    written = {log.append(IDX, NS, "upsert", b"p%d" % i): b"p%d" % (i) for i in range(6)}
    log.truncate(IDX, NS, 3)
    read = log.read_tail(IDX, NS, 0)
    assert read.last_lsn == 6
    lsns = [e.lsn for e in read.entries]
    assert lsns == sorted(lsns) and {4, 5, 6} <= set(lsns)
    for e in read.entries:  # whatever survived the truncation is intact
        assert e.payload == written[e.lsn]
    if lsns != list(range(1, 7)):  # entries went: the hole is visible to the caller
        assert set(lsns) < set(range(1, 7))
    assert tail(log, after=3) == [(n, "upsert", written[n]) for n in (4, 5, 6)]
    log.truncate(IDX, NS, 3)  # idempotent, and a lower bound is harmless
    log.truncate(IDX, NS, 1)
    assert [e[0] for e in tail(log, after=3)] == [4, 5, 6]
    assert log.append(IDX, NS, "upsert", b"p6") == 7


def test_truncate_is_per_namespace(log):
    for ns in ("a", "b"):
        log.append(IDX, ns, "upsert", b"1")
        log.append(IDX, ns, "upsert", b"2")
    log.append(OTHER, "a", "upsert", b"1")
    log.truncate(IDX, "a", 2)
    assert [e[0] for e in tail(log, "b")] == [1, 2]
    assert [e[0] for e in tail(log, "a", index_id=OTHER)] == [1]


# ---------------------------------------------------------------- namespaces


def test_namespaces_sorted_bitwise_with_their_state(log):
    names = [NS, "B", "a", "Z", "_", "a b", "a-b", "~", "é", "ｚ", "\U0001F600"]
    for name in names:
        log.append(IDX, name, "upsert", b"x")
    log.append(IDX, "B", "drop_namespace", b"")
    log.create_namespace(IDX, "made", b"sch")
    log.append(OTHER, "elsewhere", "upsert", b"x")
    rows = log.namespaces(IDX)
    expected = sorted(names + ["made"], key=lambda n: n.encode())  # UTF-8 bytes: "😀" after "ｚ"
    assert [r.name for r in rows] == expected
    by_name = {r.name: r for r in rows}
    assert (by_name["B"].last_lsn, by_name["B"].exists) == (2, False)
    assert (by_name["made"].last_lsn, by_name["made"].exists, by_name["made"].schema) == (0, True, b"sch")
    assert all(by_name[n].exists and by_name[n].last_lsn == 1 for n in names if n != "B")
    assert [r.name for r in log.namespaces(OTHER)] == ["elsewhere"]
    assert log.namespaces("nobody") == []


def test_namespace_lookup(log):
    assert log.namespace(IDX, NS) is None
    log.append(IDX, NS, "upsert", b"x")
    row = log.namespace(IDX, NS)
    assert (row.name, row.last_lsn, row.exists, row.schema) == (NS, 1, True, None)
    assert log.namespace(OTHER, NS) is None


# ---------------------------------------------------------------- AWS only


def _log_item(aws: Stores, lsn: int, namespace: str = NS) -> dict:
    return aws.aws.dynamodb.get_item(TableName=aws.aws.tables.log, ConsistentRead=True, Key={
        "stream": {"S": stream_key(IDX, namespace)}, "lsn": {"N": str(lsn)}})["Item"]


def _spill_keys(aws: Stores, index_id: str = IDX) -> list[str]:
    page = aws.aws.s3.list_objects_v2(Bucket=aws.aws.bucket, Prefix=f"{SPILL_PREFIX}/{index_id}/")
    return [o["Key"] for o in page.get("Contents", [])]


def test_large_payload_spills_to_s3_and_truncate_removes_it(aws: Stores):
    big = os.urandom(1_500_000)
    aws.log.append(IDX, NS, "upsert", b"small")
    lsn = aws.log.append(IDX, NS, "upsert", big)
    aws.log.append(IDX, NS, "upsert", b"after")
    item = _log_item(aws, lsn)
    assert "payload" not in item and item["spill"]["S"].startswith(f"{SPILL_PREFIX}/{IDX}/")
    assert _spill_keys(aws) == [item["spill"]["S"]]
    head = aws.aws.s3.head_object(Bucket=aws.aws.bucket, Key=item["spill"]["S"])
    assert head["ServerSideEncryption"] == "AES256"
    assert tail(aws.log) == [(1, "upsert", b"small"), (2, "upsert", big), (3, "upsert", b"after")]

    aws.log.truncate(IDX, NS, lsn)
    assert _spill_keys(aws) == []
    lsns = [e[0] for e in tail(aws.log)]
    assert lsns == [1, 3]  # the inline entry is readable within grace; the spilled one is a visible hole
    assert tail(aws.log, after=lsn) == [(3, "upsert", b"after")]


def test_payload_at_the_threshold_stays_inline(aws: Stores):
    aws.log.append(IDX, NS, "upsert", b"x" * SPILL_THRESHOLD)
    assert "payload" in _log_item(aws, 1)
    assert _spill_keys(aws) == []


def test_truncated_entries_carry_expires_at_once(aws: Stores, monkeypatch):
    for i in range(5):
        aws.log.append(IDX, NS, "upsert", b"%d" % i)
    before = int(time.time())
    aws.log.truncate(IDX, NS, 3)
    stamps = {n: _log_item(aws, n).get(LOG_TTL_ATTRIBUTE) for n in range(1, 6)}
    assert stamps[4] is None and stamps[5] is None
    for n in (1, 2, 3):
        assert before + TRUNCATE_GRACE_S <= int(stamps[n]["N"]) <= int(time.time()) + TRUNCATE_GRACE_S

    later = time.time() + 600
    monkeypatch.setattr(dynamo_log.time, "time", lambda: later)
    aws.log.truncate(IDX, NS, 4)
    assert {n: _log_item(aws, n).get(LOG_TTL_ATTRIBUTE) for n in (1, 2, 3)} == {n: stamps[n] for n in (1, 2, 3)}
    assert int(_log_item(aws, 4)[LOG_TTL_ATTRIBUTE]["N"]) == int(later) + TRUNCATE_GRACE_S
    assert LOG_TTL_ATTRIBUTE not in _log_item(aws, 5)


def test_truncate_starts_where_the_last_one_stopped(aws: Stores):
    """Stamped entries wait up to days for TTL: a later truncate must not read them again."""
    for i in range(8):
        aws.log.append(IDX, NS, "upsert", b"%d" % i)
    aws.log.truncate(IDX, NS, 5)
    calls: list[str] = []
    log = aws.aws.log(HookedClient(aws.aws.dynamodb, calls.append))
    log.truncate(IDX, NS, 7)
    assert calls.count("update_item") == 2 + 1  # entries 6 and 7, then the namespace's marker
    assert LOG_TTL_ATTRIBUTE in _log_item(aws, 7) and LOG_TTL_ATTRIBUTE not in _log_item(aws, 8)
    calls.clear()
    log.truncate(IDX, NS, 6)  # behind the marker: nothing to do
    assert "update_item" not in calls and "query" not in calls


def test_read_tail_follows_query_pages(aws: Stores):
    calls: list[str] = []
    log = aws.aws.log(HookedClient(aws.aws.dynamodb, calls.append))
    payloads = [os.urandom(SPILL_THRESHOLD) for _ in range(4)]  # 1.4 MB inline: over one 1 MB page
    for p in payloads:
        log.append(IDX, NS, "upsert", p)
    calls.clear()
    assert [e.payload for e in log.read_tail(IDX, NS, 0).entries] == payloads
    assert calls.count("query") >= 2


@pytest.mark.parametrize("existing", [False, True], ids=["new-namespace", "existing-namespace"])
@pytest.mark.parametrize("size", [10, 400_000], ids=["inline", "spilled"])
def test_append_retries_after_losing_a_race(aws: Stores, existing: bool, size: int):
    """Another writer commits between this writer's read of the counter and its transaction."""
    if existing:
        aws.log.create_namespace(IDX, NS, None)
    competitor = aws.aws.log()
    competing: list[int] = []
    calls: list[str] = []

    def before(op: str) -> None:
        calls.append(op)
        if op == "transact_write_items" and not competing:
            competing.append(competitor.append(IDX, NS, "upsert", b"theirs"))

    mine = os.urandom(size)
    assert aws.aws.log(HookedClient(aws.aws.dynamodb, before)).append(IDX, NS, "upsert", mine) == 2
    assert competing == [1]
    assert calls.count("transact_write_items") == 2  # one cancelled, one committed
    assert tail(aws.log) == [(1, "upsert", b"theirs"), (2, "upsert", mine)]
    assert len(_spill_keys(aws)) == (1 if size > SPILL_THRESHOLD else 0)  # spilled once, reused by the retry
    assert aws.log.namespace(IDX, NS).last_lsn == 2


def test_append_does_not_reuse_an_lsn_whose_entry_ttl_already_deleted(aws: Stores):
    """The counter's own condition, not only the log item's, guards uniqueness: the item
    numbered by a stale read may already be gone (truncated, then deleted by TTL)."""
    aws.log.create_namespace(IDX, NS, None)
    competitor = aws.aws.log()
    env = aws.aws

    def before(op: str) -> None:
        if op == "transact_write_items" and aws.log.namespace(IDX, NS).last_lsn == 0:
            competitor.append(IDX, NS, "upsert", b"theirs")
            env.dynamodb.delete_item(TableName=env.tables.log, Key={  # TTL expiry of the truncated entry
                "stream": {"S": stream_key(IDX, NS)}, "lsn": {"N": "1"}})

    assert aws.aws.log(HookedClient(env.dynamodb, before)).append(IDX, NS, "upsert", b"mine") == 2
    assert tail(aws.log) == [(2, "upsert", b"mine")]


def test_append_gives_up_after_its_budget_and_leaves_nothing(aws: Stores, monkeypatch):
    monkeypatch.setattr(dynamo_log, "APPEND_RETRY_BUDGET_S", 0.05)
    competitor = aws.aws.log()

    def before(op: str) -> None:
        if op == "transact_write_items":
            competitor.append(IDX, NS, "upsert", b"theirs")

    with pytest.raises(ClientError) as err:
        aws.aws.log(HookedClient(aws.aws.dynamodb, before)).append(IDX, NS, "upsert", b"mine")
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    entries = tail(aws.log)
    assert entries and all(payload == b"theirs" for _, _, payload in entries)
    assert [e[0] for e in entries] == list(range(1, aws.log.namespace(IDX, NS).last_lsn + 1))


def test_other_transaction_failures_are_not_retried(aws: Stores):
    calls: list[str] = []
    tables = dataclasses.replace(aws.aws.tables, log="missing-log")
    log = DynamoRequestLog(HookedClient(aws.aws.dynamodb, calls.append), aws.aws.s3, tables, aws.aws.bucket)
    with pytest.raises(ClientError):
        log.append(IDX, NS, "upsert", b"x")
    assert calls.count("transact_write_items") == 1
    assert aws.log.namespace(IDX, NS) is None
