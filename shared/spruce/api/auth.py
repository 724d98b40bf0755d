"""``Api-Key`` on every request (AUTH-1), checked before routing so unknown paths are guarded too."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from spruce.api.errors import error_response
from spruce.errors import UnauthenticatedError

INVALID_KEY = "Invalid API key."


class ApiKeyMiddleware:
    """Accepted keys are remembered for ``ttl_s`` so the hot path skips the catalog lookup
    (which is blocking I/O and would otherwise cost a thread hop per request)."""

    def __init__(self, app: ASGIApp, *, authenticate: Callable[[str], bool], ttl_s: float = 60.0,
                 max_cached: int = 1024) -> None:
        self.app = app
        self._authenticate = authenticate
        self._ttl_s = ttl_s
        self._max_cached = max_cached
        self._accepted: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not await self._allowed(_api_key(scope)):
            response = error_response(scope["path"], UnauthenticatedError(INVALID_KEY))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _allowed(self, key: str | None) -> bool:
        if not key:
            return False
        now = time.monotonic()
        if self._accepted.get(key, 0.0) > now:
            return True
        if not await run_in_threadpool(self._authenticate, key):
            return False
        if len(self._accepted) >= self._max_cached:
            self._accepted.clear()
        self._accepted[key] = now + self._ttl_s
        return True


def _api_key(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"api-key":
            return value.decode("latin-1")
    return None
