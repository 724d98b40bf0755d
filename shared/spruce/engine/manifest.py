"""The namespace manifest: which slabs are live, what each has lost to later writes, and
how far the request log has been flushed, and which objects wait for garbage collection.
Readers pin one version; writers (builder, compactor) install the next with a conditional
commit."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

import orjson


@dataclass(frozen=True, slots=True)
class SlabRef:
    slab_id: str
    rows: int
    min_lsn: int
    max_lsn: int
    indexed: bool = False  # has an ANN index (built by compaction)
    tombstones: str | None = None  # name of the tombstone set: ids of rows shadowed by later writes
    dead: int = 0  # number of tombstoned rows

    @property
    def live(self) -> int:
        return self.rows - self.dead


@dataclass(frozen=True, slots=True)
class Retired:
    """A storage object no longer referenced since ``at`` (wall-clock seconds). It is kept
    for readers that pinned an older manifest and deleted by a later commit after the grace
    period; being listed here makes that collection survive any process dying."""

    name: str
    at: float


@dataclass(frozen=True, slots=True)
class Manifest:
    version: int = 0  # 0 = nothing flushed yet (no stored manifest)
    flushed_lsn: int = 0
    record_count: int = 0
    slabs: tuple[SlabRef, ...] = field(default_factory=tuple)
    retired: tuple[Retired, ...] = field(default_factory=tuple)

    def encode(self) -> bytes:
        body = {"flushed_lsn": self.flushed_lsn, "record_count": self.record_count,
                "slabs": [asdict(s) for s in self.slabs], "retired": [[r.name, r.at] for r in self.retired]}
        return json.dumps(body, separators=(",", ":")).encode()

    @staticmethod
    def decode(version: int, body: bytes) -> Manifest:
        d = orjson.loads(body)
        return Manifest(version, d["flushed_lsn"], d["record_count"], tuple(SlabRef(**s) for s in d["slabs"]),
                        tuple(Retired(name, at) for name, at in d.get("retired", ())))

    def next(self, **changes) -> Manifest:
        return replace(self, version=self.version + 1, **changes)
