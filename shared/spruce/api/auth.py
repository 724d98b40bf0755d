"""``Api-Key`` on every request (AUTH-1), checked before routing so unknown paths are guarded too."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from spruce.api.errors import error_response
from spruce.errors import UnauthenticatedError
from spruce.keys import AcceptedKeys

INVALID_KEY = "Invalid API key."
HEADER = b"api-key"


class KeyGate:
    """Whether a request's key is valid. Acceptances are cached (``AcceptedKeys``, one gate
    per app) so the hot path skips the catalog lookup, which is blocking I/O and would cost a
    thread hop."""

    def __init__(self, authenticate: Callable[[str], bool]) -> None:
        self._authenticate = authenticate
        self._keys = AcceptedKeys()

    async def allows(self, key: str | None) -> bool:
        if not key:
            return False
        if self._keys.fresh(key):
            return True
        return await run_in_threadpool(self._keys.check, key, self._authenticate)


def rejection(path: str) -> Response:
    """The answer to a request without a valid key."""
    return error_response(path, UnauthenticatedError(INVALID_KEY))


class ApiKeyMiddleware:
    """Every request needs a key ``gate`` accepts."""

    def __init__(self, app: ASGIApp, *, gate: KeyGate) -> None:
        self.app = app
        self._gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not await self._gate.allows(_api_key(scope)):
            await rejection(scope["path"])(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _api_key(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            return value.decode("latin-1")
    return None
