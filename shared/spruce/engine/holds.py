"""Garbage-collection holds: while a backup copies an index's objects, no commit may delete any
object of that index (``Builder`` asks ``held``). Holds are job documents (kind ``gc-hold``, id
``<index id>#<holder>``) so every process of a host sees them: the builder thread or Lambda, the
workflow task that copies. A hold left behind by a crash only delays collection, never loses data.
"""

from __future__ import annotations

from spruce.storage.ports import JobStore

KIND = "gc-hold"


class GcHolds:
    def __init__(self, jobs: JobStore) -> None:
        self._jobs = jobs

    def hold(self, index_id: str, holder: str) -> None:
        self._jobs.create_job(KIND, f"{index_id}#{holder}", b"{}")

    def release(self, index_id: str, holder: str) -> None:
        self._jobs.delete_job(KIND, f"{index_id}#{holder}")

    def held(self, index_id: str) -> bool:
        """One ordered read: the first hold id after ``<index id>#`` shows whether there is any."""
        prefix = f"{index_id}#"
        first = self._jobs.list_jobs(KIND, after=prefix, limit=1)
        return bool(first) and first[0][0].startswith(prefix)
