"""Bulk import through the official SDK (7.x) and the ``spruce import`` / ``spruce export`` commands,
against a real ``spruce serve`` (BEHAVIOR §4.15)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from pinecone import ServerlessSpec
from pinecone.exceptions import NotFoundException, PineconeApiException

from tests.jobs.parquet_data import dense_table, write
from tests.sdk.server import API_KEY, Server, sdk_client

DIM = 8


def _wait(index, job_id: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        described = index.describe_import(id=job_id)
        if described.status in ("Completed", "Failed", "Cancelled"):
            return described
        assert time.monotonic() < deadline, described
        time.sleep(0.1)


def test_start_list_describe_cancel_through_the_sdk(tmp_path):
    """DP-IMP-6..10 via ``idx.start_import`` / ``list_imports`` / ``describe_import`` / ``cancel_import``."""
    root = tmp_path / "import"
    write(root, "books", "a.parquet", dense_table(0, 3000, DIM))
    write(root, "__default__", "b.parquet", dense_table(3000, 2000, DIM))
    with sdk_client(tmp_path / "data") as pc:
        pc.create_index(name="docs", dimension=DIM, metric="cosine",
                        spec=ServerlessSpec(cloud="aws", region="us-east-1"))
        index = pc.Index("docs")
        started = index.start_import(uri=f"file://{root}", error_mode="ABORT")
        assert started.id == "1"
        done = _wait(index, started.id)
        assert done.status == "Completed" and done.records_imported == 5000 and done.percent_complete == 100.0
        assert done.uri == f"file://{root}" and done.created_at is not None and done.finished_at is not None
        stats = index.describe_index_stats()
        assert stats.namespaces["books"].vector_count == 3000
        assert stats.namespaces["__default__"].vector_count == 2000 and stats.total_vector_count == 5000
        hit = index.query(namespace="books", vector=dense_table(0, 1, DIM)["values"][0].as_py(), top_k=1,
                          include_metadata=True).matches[0]
        assert hit.id == "id-0" and hit.metadata == {"n": 0, "even": True}

        # The namespaces are taken now: a second import of the same directory fails the job (DP-IMP-4).
        again = _wait(index, index.start_import(uri=str(root)).id)
        assert again.status == "Failed" and "default namespace is not empty" in again.error
        assert [op.id for op in index.list_imports()] == ["1", "2"]
        page = index.list_imports_paginated(limit=1)
        assert [op.id for op in page.data] == ["1"] and page.pagination.next
        index.cancel_import(id="1")  # finished: no effect
        assert index.describe_import(id="1").status == "Completed"
        with pytest.raises(NotFoundException):
            index.describe_import(id="99")
        with pytest.raises(PineconeApiException) as bad:
            index.start_import(uri="gs://bucket/dir")
        assert bad.value.status == 400


def test_errors_have_the_data_plane_shape(tmp_path):
    with sdk_client(tmp_path / "data") as pc:
        pc.create_index(name="docs", dimension=DIM, metric="cosine",
                        spec=ServerlessSpec(cloud="aws", region="us-east-1"))
        host = pc.describe_index("docs").host
        headers = {"Api-Key": API_KEY}
        r = httpx.post(f"{host}/bulk/imports", json={"uri": "https://acct.blob.core.windows.net/c/d"}, headers=headers)
        assert r.status_code == 400 and r.json()["code"] == 3 and "not supported here" in r.json()["message"]
        r = httpx.delete(f"{host}/bulk/imports/7", headers=headers)
        assert r.status_code == 404 and r.json() == {"code": 5, "message": "Import 7 not found in index docs.",
                                                     "details": []}
        r = httpx.post(f"{host}/bulk/imports", content=b"{", headers=headers)
        assert r.status_code == 400


def _spruce(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spruce.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_cli_import_and_export_round_trip_with_a_progress_bar(tmp_path):
    root = tmp_path / "import"
    write(root, "books", "a.parquet", dense_table(0, 4000, DIM))
    server = Server(tmp_path / "data").start()
    try:
        env = {**os.environ, "SPRUCE_API_KEY": API_KEY}
        httpx.post(f"{server.url}/indexes", headers={"Api-Key": API_KEY}, json={
            "name": "docs", "dimension": DIM, "metric": "cosine",
            "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}}).raise_for_status()
        done = _spruce("import", "--url", server.url, "--index", "docs", str(root), env=env)
        assert done.returncode == 0, done.stderr
        assert "[##############################] 100.0%  4,000 records  Completed" in done.stderr
        assert done.stderr.rstrip().endswith("4,000 records imported")
        out = tmp_path / "export"
        exported = _spruce("export", "--url", server.url, "--index", "docs", "--namespace", "books", str(out), env=env)
        assert exported.returncode == 0 and exported.stderr.rstrip().endswith("4,000 records exported")
        assert (out / "books" / "part-00000.parquet").exists()
        failed = _spruce("import", "--url", server.url, "--index", "docs", str(out), env=env)  # books exists now
        assert failed.returncode == 1 and 'Failed: User error: The namespace "books" already exists' in failed.stderr
        missing = _spruce("import", "--url", server.url, "--index", "nope", str(out), env=env)
        assert missing.returncode == 1 and "HTTP 404" in missing.stderr
    finally:
        server.stop()
