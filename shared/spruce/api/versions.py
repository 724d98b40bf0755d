"""``X-Pinecone-API-Version`` negotiation (BEHAVIOR §2.2, §12 D1).

Spruce answers three API versions, each in its own response shapes:

- ``2025-04`` — the default when the header is absent (VER-2: the oldest supported version);
- ``2025-10`` — adds ``read_capacity`` / ``schema`` to index specs, namespace ``schema`` and
  ``indexed_fields``, ``total_count`` on namespace lists;
- ``2026-07`` — the schema-and-deployment control plane the current SDK generation (10.x)
  speaks. No 2026-07 OpenAPI file ships with Spruce; its shapes follow what that SDK sends
  and decodes.

A well-formed version newer than one we know is served by the newest known version not
newer than it (``2026-01`` → ``2025-10``; ``2027-01`` → ``2026-07``), and ``unstable`` by the
newest; a version older than ``2025-04`` or a malformed value is a ``400`` naming the
supported versions. The version served is echoed in the ``x-pinecone-api-version`` header.

Requests are read leniently whatever the version (D1): fields and endpoints added by a
newer version (``filter`` on update, ``scanFactor``, ``/vectors/fetch_by_metadata``, spec
``schema``…) work under an older header too, because their meaning is unambiguous and
additive (VER-5). Only response shapes follow the version.
"""

from __future__ import annotations

import functools
import re
from enum import Enum

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spruce.api.errors import error_response
from spruce.errors import InvalidArgumentError

HEADER_NAME = "x-pinecone-api-version"
HEADER = HEADER_NAME.encode()


class ApiVersion(str, Enum):
    V2025_04 = "2025-04"
    V2025_10 = "2025-10"
    V2026_07 = "2026-07"

    @property
    def at_least_2025_10(self) -> bool:
        return self is not ApiVersion.V2025_04

    @property
    def echo(self) -> bytes:
        """The ``x-pinecone-api-version`` header's value, as the responses carry it."""
        return self.value.encode()

    @property
    def schema_control_plane(self) -> bool:
        """2026-07: indexes are described by ``schema`` + ``deployment``."""
        return self is ApiVersion.V2026_07


DEFAULT = ApiVersion.V2025_04
NEWEST = ApiVersion.V2026_07
_KNOWN = sorted(ApiVersion, key=lambda v: v.value)
_FORMAT = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@functools.lru_cache(maxsize=64)  # a client sends the same header on every request; errors are not cached
def negotiate(header: str | None) -> ApiVersion:
    if header is None or not header.strip():
        return DEFAULT
    value = header.strip()
    if value == "unstable":
        return NEWEST
    supported = ", ".join(v.value for v in _KNOWN)
    if not _FORMAT.fullmatch(value):
        raise InvalidArgumentError(
            f"Invalid X-Pinecone-API-Version {value!r}: use a version named YYYY-MM; supported: {supported}."
        )
    served = [v for v in _KNOWN if v.value <= value]
    if not served:
        raise InvalidArgumentError(
            f"API version {value} is no longer supported; send X-Pinecone-API-Version with one of: {supported}."
        )
    return served[-1]


def version_of(scope: Scope) -> ApiVersion:
    return scope.get("state", {}).get("api_version", DEFAULT)


class ApiVersionMiddleware:
    """Resolve the version once per request, reject unknown ones, echo the version served."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = next((v.decode("latin-1") for k, v in scope["headers"] if k == HEADER), None)
        try:
            version = negotiate(raw)
        except InvalidArgumentError as err:
            await error_response(scope["path"], err)(scope, receive, send)
            return
        scope.setdefault("state", {})["api_version"] = version
        echoed = version.echo

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, echoed)]
            await send(message)

        await self.app(scope, receive, send_with_version)
