"""Every error leaves as a Pinecone-shaped body (design invariant 7).

Control plane: ``{"error": {"code", "message"}, "status"}`` (ERR-1). Data plane, i.e. any
path under ``/data/``: ``{"code": <grpc int>, "message", "details": []}`` (ERR-3, ERR-5).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from spruce.api.responses import JSONResponse
from spruce.errors import NotFoundError, SpruceError, UnprocessableEntityError

log = logging.getLogger("spruce.api")

DATA_PREFIX = "/data/"


class MethodNotAllowedError(SpruceError):
    status, code, grpc_code = 405, "UNIMPLEMENTED", 12


def method_not_allowed(method: str, path: str) -> MethodNotAllowedError:
    return MethodNotAllowedError(f"Method {method} is not allowed on {path}.")


def error_response(path: str, err: SpruceError, headers: dict[str, str] | None = None) -> Response:
    if path.startswith(DATA_PREFIX):
        body: dict = {"code": err.grpc_code, "message": err.message, "details": []}
    else:
        body = {"error": {"code": err.code, "message": err.message}, "status": err.status}
    return JSONResponse(body, status_code=err.status, headers=headers)


async def _spruce_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SpruceError)
    return error_response(request.url.path, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()
    )
    return error_response(request.url.path, UnprocessableEntityError(f"Invalid request: {problems}"))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    target = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        err: SpruceError = NotFoundError(f"Unknown route {target}: check the path and the index host.")
    elif exc.status_code == 405:
        err = method_not_allowed(request.method, request.url.path)
    else:
        err = SpruceError(str(exc.detail))
        err.status = exc.status_code
    return error_response(request.url.path, err, headers=exc.headers)


class UnexpectedErrorMiddleware:
    """Turn any unhandled exception into a logged 500 that leaks nothing about internals."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            await answer_unexpected(scope, receive, send, started=started)


async def answer_unexpected(scope: Scope, receive: Receive, send: Send, *, started: bool) -> None:
    """Called from an ``except`` block: log the exception and answer a 500 that leaks nothing
    about internals; once the response has ``started``, re-raise it (only aborting is left)."""
    log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
    if started:
        raise  # the exception being handled by the caller
    await error_response(scope.get("path", ""), SpruceError("Internal server error"))(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SpruceError, _spruce_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
