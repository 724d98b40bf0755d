"""The ASGI app: control plane at the root, each index's data plane at ``/data/{name}``."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from spruce.api import backups, bulk, control, data, inference, records
from spruce.api.auth import ApiKeyMiddleware, KeyGate
from spruce.api.errors import UnexpectedErrorMiddleware, install_error_handlers
from spruce.api.hot_query import HotQuery
from spruce.api.runner import QueryRunner
from spruce.api.versions import ApiVersionMiddleware
from spruce.engine.service import Spruce
from spruce.inference.service import InferenceService
from spruce.jobs.workflow import JobHost


class SpruceApp(FastAPI):
    """FastAPI, except that ``/data/{index}/query`` skips FastAPI's own middleware and router:
    the query is the hottest route and the one where latency is the product, and each layer
    of that stack (error and telemetry middleware, body limits, exception handling, exit
    stacks, router matching) costs the event loop per request. ``hot_query.HotQuery`` makes
    the same key, version and error checks as the middleware every other route passes."""

    hot_query: HotQuery | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot_query is not None and scope["type"] == "http":
            index_name = _query_target(scope["path"])
            if index_name is not None:
                scope["path_params"] = {"index_name": index_name}
                await self.hot_query(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _query_target(path: str) -> str | None:
    """The index of a ``/data/{index}/query`` path (one the router would match), else None."""
    if not path.startswith("/data/") or not path.endswith("/query"):
        return None
    name = path[len("/data/"):-len("/query")]
    return name if name and "/" not in name else None


def _guarded(app: ASGIApp, gate: KeyGate) -> ASGIApp:
    """``app`` inside the middleware every route but the query passes through, outermost
    first: errors (so a failed key or version check is Pinecone-shaped too), the API key, the
    API version."""
    return UnexpectedErrorMiddleware(ApiKeyMiddleware(ApiVersionMiddleware(app), gate=gate))


def create_app(engine: Spruce, *, public_url: str | None, planes: tuple[str, ...] = ("control", "data"),
               inference_service: InferenceService | None = None, jobs: JobHost | None = None) -> SpruceApp:
    """``public_url`` is how clients reach this server; index hosts are built from it (None:
    from each request's Host, as behind API Gateway). ``planes`` picks the routers: the AWS
    host runs the control and data planes as separate functions. ``inference_service``: the
    host's models (default: the packaged ones, run in this process). ``jobs`` runs long work
    (backups, restores, imports): in-process on the embedded host, Step Functions on AWS."""
    app = SpruceApp(title="Spruce", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
    app.state.query_runner = QueryRunner()
    app.state.jobs = jobs
    app.state.inference = inference_service or inference.service
    app.state.public_url = None if public_url is None else public_url.rstrip("/")
    install_error_handlers(app)
    # The data plane first: routes are matched in order, and its query and upsert are the hot
    # paths (matching them after the control plane's routes cost ~0.1 ms a request).
    if "data" in planes:
        app.include_router(data.router)
        app.include_router(records.router)  # records API of integrated indexes
        app.include_router(bulk.router)  # bulk import (Pinecone) and export (Spruce)
    if "control" in planes:
        app.include_router(control.router)
        app.include_router(inference.router)  # Inference API lives on the control-plane host
        app.include_router(backups.router)  # backups, restore jobs, collections
    gate = KeyGate(engine.authenticate)  # one cache of accepted keys per app
    app.add_middleware(_guarded, gate=gate)  # inside FastAPI's own error middleware
    if "data" in planes:
        app.hot_query = HotQuery(engine, gate, app.state.query_runner)
    return app
