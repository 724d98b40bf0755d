"""``/data/{index}/query`` as one ASGI callable, served by ``app.SpruceApp`` ahead of FastAPI.

Every other route passes through three middleware layers, each wrapping ``send`` and reading
the headers again (``errors.UnexpectedErrorMiddleware``, ``auth.ApiKeyMiddleware``,
``versions.ApiVersionMiddleware``), then FastAPI's router and Starlette's ``Request`` and
``Response``. The query is the route where latency is the product, so this does the same
checks with the same parts (the app's ``KeyGate``, ``negotiate``, ``error_response``,
``answer_unexpected``) in one pass over the headers, reads the body and sends the answer as
two raw ASGI messages. What a client sees is what the stack would answer, in the same order
of checks: 401 for a bad key, 400 for a bad version, 405 for another method (with the version
echoed), the query's own errors data-plane shaped with the version echoed, and a logged 500
for anything unexpected (tests/api/test_query_hot_path.py).
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from spruce.api import auth, versions
from spruce.api.data import answer_query
from spruce.api.errors import answer_unexpected, error_response, method_not_allowed
from spruce.api.runner import QueryRunner
from spruce.engine.service import Spruce
from spruce.errors import InvalidArgumentError, SpruceError

_JSON = (b"content-type", b"application/json")


class HotQuery:
    """Answers every method on one index's query path (``scope["path_params"]["index_name"]``)."""

    def __init__(self, engine: Spruce, gate: auth.KeyGate, runner: QueryRunner) -> None:
        self._engine = engine
        self._gate = gate
        self._runner = runner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False  # once the response has begun, an error can only abort it
        try:
            path = scope["path"]
            key = raw_version = None
            for name, value in scope["headers"]:
                if name == auth.HEADER:
                    key = value.decode("latin-1")
                elif name == versions.HEADER:
                    raw_version = value.decode("latin-1")
            if not await self._gate.allows(key):
                await auth.rejection(path)(scope, receive, send)
                return
            try:
                version = versions.negotiate(raw_version)
            except InvalidArgumentError as err:
                await error_response(path, err)(scope, receive, send)
                return
            served = {versions.HEADER_NAME: version.value}  # echoed on every answer from here on
            if scope["method"] != "POST":
                err = method_not_allowed(scope["method"], path)
                await error_response(path, err, headers={**served, "allow": "POST"})(scope, receive, send)
                return
            body = await _read_body(receive)
            if body is None:
                return  # the client went away: nobody to answer
            index_name = scope["path_params"]["index_name"]
            try:
                content, headers = await self._runner.run(index_name, answer_query, self._engine, index_name, body)
            except SpruceError as err:
                await error_response(path, err, headers=served)(scope, receive, send)
                return
            headers += [(b"content-length", str(len(content)).encode()), _JSON, (versions.HEADER, version.echo)]
            started = True
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": content})
        except Exception:
            await answer_unexpected(scope, receive, send, started=started)


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or None if the client disconnected before sending all of it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
