"""The embedded host's jobs: workflows run in-process (``InProcessRunner``) against the engine,
with their documents in the engine's SQLite file. Opening them resumes the jobs a stopped server
left running (their steps are idempotent, so starting them again is safe)."""

from __future__ import annotations

from spruce.engine.local import EmbeddedSpruce
from spruce.jobs import backups, bulk, export, imports, restores  # noqa: F401  (export, imports: register)
from spruce.jobs.workflow import InProcessRunner, JobHost


def open_jobs(engine: EmbeddedSpruce, *, max_workers: int = 2) -> tuple[JobHost, InProcessRunner]:
    """The host the API starts jobs on and the runner to close at shutdown."""
    hosts: list[JobHost] = []
    runner = InProcessRunner(lambda: hosts[0], max_workers=max_workers)
    # local_files: bulk import/export read and write file:// URIs and paths on this machine.
    hosts.append(JobHost(engine=engine, jobs=engine.job_store, launcher=runner, local_files=True))
    backups.resume(hosts[0])
    restores.resume(hosts[0])
    bulk.resume(hosts[0])
    return hosts[0], runner
