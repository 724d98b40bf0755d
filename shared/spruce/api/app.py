"""The ASGI app: control plane at the root, each index's data plane at ``/data/{name}``."""

from __future__ import annotations

from fastapi import FastAPI

from spruce.api import backups, bulk, control, data, inference, records
from spruce.api.auth import ApiKeyMiddleware
from spruce.api.errors import UnexpectedErrorMiddleware, install_error_handlers
from spruce.api.versions import ApiVersionMiddleware
from spruce.engine.service import Spruce
from spruce.inference.service import InferenceService
from spruce.jobs.workflow import JobHost


def create_app(engine: Spruce, *, public_url: str | None, planes: tuple[str, ...] = ("control", "data"),
               inference_service: InferenceService | None = None, jobs: JobHost | None = None) -> FastAPI:
    """``public_url`` is how clients reach this server; index hosts are built from it (None:
    from each request's Host, as behind API Gateway). ``planes`` picks the routers: the AWS
    host runs the control and data planes as separate functions. ``inference_service``: the
    host's models (default: the packaged ones, run in this process). ``jobs`` runs long work
    (backups, restores, imports): in-process on the embedded host, Step Functions on AWS."""
    app = FastAPI(title="Spruce", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
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
    # Added last = outermost: the error catcher also covers the auth and version checks.
    app.add_middleware(ApiVersionMiddleware)
    app.add_middleware(ApiKeyMiddleware, authenticate=engine.authenticate)
    app.add_middleware(UnexpectedErrorMiddleware)
    return app
