"""Where every benchmark reports: printed, and appended as a dated section to RESULTS.md."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def publish(text: str, *, append: bool = True) -> None:
    """Print ``text`` and, unless ``append`` is False, add it to ``bench/RESULTS.md``."""
    print(text)
    if not append:
        return
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by the scripts in `bench/`; newest last.\n")
    with RESULTS.open("a") as f:
        f.write(text)
