"""``spruce serve`` stops cleanly on Ctrl-C (SIGINT) as on SIGTERM: a graceful shutdown, data
closed, no traceback, and the process ends by the signal (so a calling shell sees it)."""

from __future__ import annotations

import signal

import pytest

from tests.sdk.server import Server


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_on_a_signal_without_a_traceback(tmp_path, sig):
    server = Server(tmp_path / "data").start()
    try:
        server.proc.send_signal(sig)
        assert server.proc.wait(timeout=60) == -sig
    finally:
        server.kill()
    assert "Finished server process" in server.output
    assert "Spruce stopped (data in" in server.output  # the engine was closed (its index child stopped)
    assert "Traceback" not in server.output, server.output
