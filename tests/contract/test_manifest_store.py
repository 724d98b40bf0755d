"""ManifestStore contract, against SQLite and DynamoDB."""

from __future__ import annotations

import os

IDX = "idx-1"


def test_no_manifest_before_the_first_commit(stores):
    assert stores.manifests.load_manifest(IDX, "ns") is None


def test_first_commit_expects_version_zero(stores):
    m = stores.manifests
    assert m.commit_manifest(IDX, "ns", 0, b"v1") is True
    assert m.load_manifest(IDX, "ns") == (1, b"v1")
    assert m.commit_manifest(IDX, "ns", 0, b"again") is False  # lost race: someone created it
    assert m.load_manifest(IDX, "ns") == (1, b"v1")


def test_commit_installs_the_next_version_only_over_the_expected_one(stores):
    m = stores.manifests
    m.commit_manifest(IDX, "ns", 0, b"v1")
    assert m.commit_manifest(IDX, "ns", 1, b"v2") is True
    assert m.load_manifest(IDX, "ns") == (2, b"v2")
    assert m.commit_manifest(IDX, "ns", 1, b"stale") is False
    assert m.commit_manifest(IDX, "ns", 5, b"future") is False
    assert m.load_manifest(IDX, "ns") == (2, b"v2")
    assert m.commit_manifest(IDX, "ns", 2, b"v3") is True
    assert m.load_manifest(IDX, "ns") == (3, b"v3")


def test_commit_over_a_missing_manifest_with_nonzero_expectation_fails(stores):
    assert stores.manifests.commit_manifest(IDX, "ns", 1, b"x") is False
    assert stores.manifests.load_manifest(IDX, "ns") is None


def test_manifests_are_per_index_and_namespace_and_bodies_round_trip(stores):
    m = stores.manifests
    body = b"\x00" + os.urandom(100_000) + b"\xff"
    m.commit_manifest(IDX, "a", 0, body)
    m.commit_manifest(IDX, "b", 0, b"b1")
    m.commit_manifest("idx-2", "a", 0, b"other")
    assert m.load_manifest(IDX, "a") == (1, body)
    assert m.load_manifest(IDX, "b") == (1, b"b1")
    assert m.load_manifest("idx-2", "a") == (1, b"other")


def test_manifest_survives_reopening(stores):
    stores.manifests.commit_manifest(IDX, "ns", 0, b"v1")
    assert stores.reopen().manifests.load_manifest(IDX, "ns") == (1, b"v1")
