"""Job documents as JSON in a ``JobStore``: load, change under the store's optimistic versions,
and list in pages (``limit`` 1-100, an opaque ``paginationToken``) as the control plane lists
backups and restore jobs (CP-BK-6, CP-RS-5)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from typing import Any

from spruce.errors import InvalidArgumentError
from spruce.storage.ports import JobStore

Doc = dict[str, Any]

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


def encode(doc: Doc) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def decode(body: bytes) -> Doc:
    return json.loads(body)


def load(jobs: JobStore, kind: str, job_id: str) -> Doc | None:
    stored = jobs.load_job(kind, job_id)
    return None if stored is None else decode(stored[1])


def update(jobs: JobStore, kind: str, job_id: str, change: Callable[[Doc], None]) -> Doc | None:
    """Apply ``change`` to the newest version until the store accepts it; None if the job is gone."""
    while True:
        stored = jobs.load_job(kind, job_id)
        if stored is None:
            return None
        doc = decode(stored[1])
        change(doc)
        if jobs.update_job(kind, job_id, stored[0], encode(doc)):
            return doc


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgumentError(f"limit must be an integer from 1 to {MAX_LIMIT}; got {raw!r}.")
    return limit


def page(jobs: JobStore, kind: str, *, limit: int, token: str | None,
         keep: Callable[[Doc], bool] = lambda doc: True) -> tuple[list[Doc], str | None]:
    """The kind's documents that ``keep`` accepts, in bitwise id order after ``token``: at most
    ``limit``, and the token of the next page (None on the last one)."""
    after = _decode_token(token)
    chosen: list[tuple[str, Doc]] = []
    batch = max(limit + 1, MAX_LIMIT)
    while len(chosen) <= limit:
        rows = jobs.list_jobs(kind, after=after, limit=batch)
        chosen += [(job_id, doc) for job_id, doc in _decoded(rows) if keep(doc)]
        if len(rows) < batch:
            break
        after = rows[-1][0]
    docs = chosen[:limit]
    return [doc for _, doc in docs], (_encode_token(docs[-1][0]) if len(chosen) > limit else None)


def _decoded(rows: Iterable[tuple[str, bytes]]) -> Iterable[tuple[str, Doc]]:
    return ((job_id, decode(body)) for job_id, body in rows)


def _encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()


def _decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        after = None
    if not isinstance(after, str):
        raise InvalidArgumentError("paginationToken is not valid; pass the `pagination.next` of the previous page.")
    return after
