"""Bulk import through the latest official SDK (10.x, API 2026-07; run in ``.venv-sdk-latest``
by ``make test``): start, describe, list (paged), cancel (BEHAVIOR §4.15)."""

from __future__ import annotations

import time

import pinecone
import pytest
from pinecone import ServerlessSpec

from tests.jobs.parquet_data import dense_table, write
from tests.sdk.server import sdk_client

SDK_MAJOR = int(pinecone.__version__.split(".")[0]) if hasattr(pinecone, "__version__") else 7
pytestmark = pytest.mark.skipif(SDK_MAJOR < 10, reason="SDK 10.x (API 2026-07) only; 7.x is test_bulk_sdk.py")


def test_sdk10_import_lifecycle(tmp_path):
    root = tmp_path / "import"
    write(root, "books", "a.parquet", dense_table(0, 2000, 8))
    with sdk_client(tmp_path / "data") as pc:
        pc.create_index(name="docs", dimension=8, metric="cosine", spec=ServerlessSpec(cloud="aws", region="us-east-1"))
        index = pc.Index("docs")
        job = index.start_import(uri=f"file://{root}", error_mode="CONTINUE")
        deadline = time.monotonic() + 60
        while (described := index.describe_import(id=job.id)).status not in ("Completed", "Failed", "Cancelled"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert (described.status, described.records_imported, described.percent_complete) == ("Completed", 2000, 100.0)
        assert index.describe_index_stats().namespaces["books"].vector_count == 2000
        second = index.start_import(uri=str(root))  # books exists now: the job fails (DP-IMP-4)
        while index.describe_import(id=second.id).status not in ("Completed", "Failed", "Cancelled"):
            time.sleep(0.1)
        assert "already exists" in index.describe_import(id=second.id).error
        page = index.list_imports_paginated(limit=1)
        assert [op.id for op in page] == ["1"] and page.pagination is not None
        assert [op.id for op in index.list_imports()] == ["1", "2"]
        index.cancel_import(id="1")  # finished: no effect
        assert index.describe_import(id="1").status == "Completed"
