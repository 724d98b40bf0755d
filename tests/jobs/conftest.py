from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from spruce.engine.local import open_local
from spruce.jobs.embedded import open_jobs
from spruce.jobs.workflow import JobHost


@contextmanager
def embedded_jobs(data_dir: Path) -> Iterator[JobHost]:
    """The embedded host's jobs as ``spruce serve`` wires them (``open_jobs``: resumes unfinished
    jobs). Closing stops runs between chunks."""
    engine = open_local(data_dir)
    host, runner = open_jobs(engine)
    try:
        yield host
    finally:
        runner.close()
        engine.close()


@pytest.fixture
def host(tmp_path) -> Iterator[JobHost]:
    with embedded_jobs(tmp_path / "data") as h:
        yield h
