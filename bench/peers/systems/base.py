"""What every system under test offers the measuring loop (``measure.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Knob:
    """One setting of a system's speed/recall trade-off (one point of the recall–QPS curve)."""

    label: str  # e.g. "ef=64"
    value: Any
    #: Swept in every round of a ``--rounds`` run; False for a point too slow to repeat (an
    #: exact scan), which is swept in the first round only.
    repeat: bool = True


@dataclass(slots=True)
class Setup:
    """How the system was configured, for the results table (index type and parameters)."""

    index: str
    notes: list[str] = field(default_factory=list)


class System(Protocol):
    name: str

    def start(self, workdir: Path) -> Setup:
        """Start the system (server, client or library) with its data under ``workdir``."""

    def load(self, vectors: np.ndarray, ids: np.ndarray, cats: np.ndarray) -> None:
        """Insert every vector with its id and its ``cat`` field, as a user would in bulk.
        Returns once the system has acknowledged every write."""

    def wait_until_queryable(self) -> float | None:
        """Return once every loaded vector is served by the system's steady-state search path
        (index built, background indexing finished): the ``time.monotonic()`` at which that
        became true when it was observed only afterwards (a quiet period), else None (now)."""

    def knobs(self) -> list[Knob]:
        """The settings to sweep, lowest recall first."""

    def use(self, knob: Knob) -> None:
        """Apply ``knob`` to the queries that follow (untimed)."""

    def query(self, vector: np.ndarray, k: int, below: int | None) -> list[int]:
        """Ids of the ``k`` nearest vectors, restricted to ``cat < below`` if given."""

    def layout(self) -> str:
        """How the loaded data is laid out when it is swept, where that varies from load to load
        and changes the cost of a query (Spruce: its slabs); empty when it does not."""

    def server_pids(self) -> list[int]:
        """Processes that hold the system's memory when it runs as a server (their trees are
        measured); empty for an in-process library (this process is measured)."""

    def versions(self) -> dict[str, str]:
        """Package and server versions."""

    def close(self) -> None:
        """Stop the system and release its resources."""
