"""``spruce import`` / ``spruce export``: start a bulk job on a running Spruce (embedded or AWS) over
its HTTP API, then follow it with a progress bar on stderr until it ends. Ctrl-C cancels the job.

Standard library only (urllib), so the commands work wherever ``spruce`` is installed.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TextIO

FINISHED = ("Completed", "Failed", "Cancelled")
API_VERSION = "2025-04"


class ApiError(Exception):
    """An error answer from the server, with its message."""


class Client:
    def __init__(self, url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self._url = url.rstrip("/")
        self._key = api_key
        self._timeout = timeout

    def call(self, method: str, url: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Api-Key": self._key, "Content-Type": "application/json", "X-Pinecone-API-Version": API_VERSION})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ApiError(f"{method} {url}: HTTP {exc.code}: {_message(exc.read())}") from None
        except urllib.error.URLError as exc:
            raise ApiError(f"cannot reach {url}: {exc.reason}") from None

    def index_host(self, index: str) -> str:
        """The index's data-plane host, as the SDK finds it (``describe_index``)."""
        host = self.call("GET", f"{self._url}/indexes/{urllib.parse.quote(index)}")["host"]
        return host if "://" in host else f"https://{host}"


def _message(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:500]
    if isinstance(body, dict):
        error = body.get("error")
        return (error or {}).get("message") if isinstance(error, dict) else body.get("message", str(body))
    return str(body)


def bar(fraction: float, width: int = 30) -> str:
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def follow(client: Client, job_url: str, counter: str, *, out: TextIO = sys.stderr, poll_s: float = 0.5,
           sleep: Callable[[float], None] = time.sleep) -> dict:
    """Poll ``job_url`` and redraw one progress line until the job ends; Ctrl-C cancels it."""
    try:
        while True:
            job = client.call("GET", job_url)
            line = (f"\r{bar(job['percentComplete'] / 100)} {job['percentComplete']:5.1f}%  "
                    f"{job[counter]:,} records  {job['status']:<10}")
            out.write(line)
            out.flush()
            if job["status"] in FINISHED:
                out.write("\n")
                return job
            sleep(poll_s)
    except KeyboardInterrupt:
        client.call("DELETE", job_url)
        out.write("\ncancelled\n")
        return client.call("GET", job_url)


def run_import(client: Client, index: str, uri: str, *, error_mode: str, wait: bool, out: TextIO = sys.stderr) -> int:
    host = client.index_host(index)
    job_id = client.call("POST", f"{host}/bulk/imports", {"uri": uri, "errorMode": {"onError": error_mode}})["id"]
    out.write(f"import {job_id} started into {index} from {uri}\n")
    if not wait:
        return 0
    job = follow(client, f"{host}/bulk/imports/{job_id}", "recordsImported", out=out)
    return _report(job, "imported", job["recordsImported"], out)


def run_export(client: Client, index: str, namespace: str, uri: str, *, wait: bool, out: TextIO = sys.stderr) -> int:
    host = client.index_host(index)
    job_id = client.call("POST", f"{host}/bulk/exports", {"namespace": namespace, "uri": uri})["id"]
    out.write(f"export {job_id} started from {index}/{namespace or '__default__'} to {uri}\n")
    if not wait:
        return 0
    job = follow(client, f"{host}/bulk/exports/{job_id}", "recordsExported", out=out)
    return _report(job, "exported", job["recordsExported"], out)


def _report(job: dict, verb: str, records: int, out: TextIO) -> int:
    if job["status"] == "Completed":
        out.write(f"{records:,} records {verb}\n")
        return 0
    out.write(f"{job['status']}: {job.get('error', '')} ({records:,} records {verb})\n".replace(":  (", " ("))
    return 1
