"""FastAPI dependencies shared by the routers. They are `async` so FastAPI runs them inline
instead of hopping to a worker thread; the routes themselves are sync (engine calls block)."""

from __future__ import annotations

from fastapi import Request

from spruce.api.versions import ApiVersion, version_of
from spruce.engine.service import Spruce
from spruce.errors import UnavailableError
from spruce.inference.service import InferenceService
from spruce.jobs.workflow import JobHost


async def engine(request: Request) -> Spruce:
    return request.app.state.engine


async def inference(request: Request) -> InferenceService:
    """The app's Inference API service (its host's model catalogue)."""
    return request.app.state.inference


async def public_url(request: Request) -> str:
    """The configured public URL, else the one the client used (API Gateway terminates TLS
    and says so in ``X-Forwarded-Proto``)."""
    if request.app.state.public_url is not None:
        return request.app.state.public_url
    scheme = request.headers.get("x-forwarded-proto", request.url.scheme)
    return f"{scheme}://{request.headers.get('host', request.url.netloc)}"


async def raw_body(request: Request) -> bytes:
    """The body as bytes, read on the event loop so the (sync) route can parse it in a worker."""
    return await request.body()


async def api_version(request: Request) -> ApiVersion:
    """The API version this request is answered in (negotiated by ``ApiVersionMiddleware``)."""
    return version_of(request.scope)


async def job_host(request: Request) -> JobHost:
    """What long-running jobs (backups, restores, imports) run against on this host."""
    host = getattr(request.app.state, "jobs", None)
    if host is None:
        raise UnavailableError("This server was started without a job runner, so it cannot run backups, "
                               "restores or imports; start it with `spruce serve`.")
    return host
