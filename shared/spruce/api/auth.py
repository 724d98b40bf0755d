"""``Api-Key`` on every request (AUTH-1), checked before routing so unknown paths are guarded too."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from spruce.api.errors import error_response
from spruce.errors import UnauthenticatedError
from spruce.keys import AcceptedKeys

INVALID_KEY = "Invalid API key."


class ApiKeyMiddleware:
    """Every request needs a valid key; acceptances are cached (``AcceptedKeys``) so the hot
    path skips the catalog lookup, which is blocking I/O and would cost a thread hop."""

    def __init__(self, app: ASGIApp, *, authenticate: Callable[[str], bool]) -> None:
        self.app = app
        self._authenticate = authenticate
        self._keys = AcceptedKeys()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not await self._allowed(_api_key(scope)):
            response = error_response(scope["path"], UnauthenticatedError(INVALID_KEY))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _allowed(self, key: str | None) -> bool:
        if not key:
            return False
        if self._keys.fresh(key):
            return True
        return await run_in_threadpool(self._keys.check, key, self._authenticate)


def _api_key(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"api-key":
            return value.decode("latin-1")
    return None
