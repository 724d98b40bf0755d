"""Peak memory of the system under test.

An in-process library shares this process with the harness, so its figure is this process's
peak RSS (``VmHWM``, exact) with the RSS just before the system started (interpreter, the
data set's arrays, the imported library) reported beside it. A server runs in its own
processes: their trees are sampled every ``PERIOD`` seconds and the peak of the summed PSS
(proportional set size: shared pages divided among the processes sharing them, so
PostgreSQL's shared buffers count once) is reported; short spikes between samples are missed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import psutil

PERIOD = 0.2


def self_rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def self_peak_rss_mb() -> float:
    """This process's peak RSS since it started (``VmHWM``). Not ``getrusage``'s ``ru_maxrss``:
    Linux carries that across ``execve``, so a child of a large parent reports the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def tree_pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            try:
                total += p.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
    return total / 2**20


class TreeSampler:
    """Samples the summed PSS of process trees in a thread until stopped; ``peak`` in MiB.

    ``pause`` stops the sampling (not the peak) while the system waits for its next round of a
    ``--rounds`` run, so reading its ``/proc`` costs nothing while another system is measured."""

    def __init__(self, pids: list[int]) -> None:
        self._pids = pids
        self.peak = 0.0
        self._stop = threading.Event()
        self._active = threading.Event()
        self._active.set()
        self._thread = threading.Thread(target=self._run, name="pss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._active.wait()
            if self._stop.is_set():
                return
            self.peak = max(self.peak, tree_pss_mb(self._pids))
            if self._stop.wait(PERIOD):
                return

    def pause(self) -> None:
        self._active.clear()

    def resume(self) -> None:
        self._active.set()

    def stop(self) -> float:
        self._stop.set()
        self._active.set()
        self._thread.join()
        return self.peak
