"""Run a real ``spruce serve`` subprocess for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from pinecone import Pinecone

API_KEY = "spruce_test_key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, port: int | None = None, api_key: str | None = API_KEY) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.api_key = api_key
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        env = {k: v for k, v in os.environ.items() if k != "SPRUCE_API_KEY"}
        if self.api_key is not None:
            env["SPRUCE_API_KEY"] = self.api_key
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # a file, not a pipe: nobody drains a pipe during a test
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "spruce.cli", "serve", "--port", str(self.port),
                 "--data-dir", str(self.data_dir)], env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"spruce serve exited: {self.output}")
            try:
                r = httpx.get(f"{self.url}/indexes", headers={"Api-Key": self.api_key or ""}, timeout=1.0)
                if r.status_code in (200, 401):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise TimeoutError("spruce serve did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def sdk_client(data_dir: Path) -> Iterator[Pinecone]:
    """The official client connected to a fresh ``spruce serve`` keeping its data in ``data_dir``."""
    server = Server(data_dir).start()
    try:
        yield Pinecone(api_key=server.api_key, host=server.url)
    finally:
        server.stop()
