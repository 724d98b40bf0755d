"""The packaged models in another process: the AWS API functions (a lean zip, no model
runtime) send validated requests to the inference function (the worker image), which runs
them with the local providers.

Messages are JSON (orjson). A request is ``{"op": "embed" | "rerank", "request": {...}}``
(the fields of ``EmbedRequest`` / ``RerankRequest``); a reply is the result
(``total_tokens`` with ``dense`` as base64 little-endian float32 rows, or ``sparse``;
``scores`` for rerank) or ``{"error": {"status", "code", "message"}}``, which the caller
raises again as the same ``SpruceError`` (e.g. a NONE-truncation 400), so a remote model
answers exactly as a local one.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import orjson

from spruce.errors import SpruceError, UnavailableError
from spruce.inference.hub import HostedModel, ModelHub
from spruce.inference.models import PACKAGED
from spruce.inference.ports import Embeddings, EmbedRequest, RerankRequest, SparseVector

#: Sends one request to the inference function and returns its reply (both JSON bytes).
Invoke = Callable[[bytes], bytes]


def _error_class(status: int, code: str) -> type[SpruceError]:
    pending: list[type[SpruceError]] = [SpruceError]
    while pending:
        cls = pending.pop()
        if cls.status == status and cls.code == code:
            return cls
        pending.extend(cls.__subclasses__())
    return UnavailableError


class RemoteModel:
    """``EmbedProvider`` and ``RerankProvider`` through ``invoke``."""

    def __init__(self, invoke: Invoke) -> None:
        self._invoke = invoke

    def _call(self, op: str, request: EmbedRequest | RerankRequest) -> dict[str, Any]:
        try:
            reply = orjson.loads(self._invoke(orjson.dumps({"op": op, "request": asdict(request)})))
        except Exception as exc:  # the transport or the function itself failed (timeout, out of memory, ...)
            raise UnavailableError(f"The inference function failed to run model '{request.model}': {exc}. "
                                   "Retry later.") from exc
        error = reply.get("error")
        if error is not None:
            raise _error_class(error["status"], error["code"])(error["message"])
        return reply

    def embed(self, request: EmbedRequest) -> Embeddings:
        reply = self._call("embed", request)
        if "dense" in reply:
            rows = np.frombuffer(base64.b64decode(reply["dense"]), dtype="<f4").reshape(len(request.texts), -1)
            return Embeddings(total_tokens=reply["total_tokens"], dense=rows.astype(np.float32))
        return Embeddings(total_tokens=reply["total_tokens"],
                          sparse=[SparseVector(v["indices"], v["values"], v.get("tokens")) for v in reply["sparse"]])

    def rerank(self, request: RerankRequest) -> np.ndarray:
        return np.asarray(self._call("rerank", request)["scores"], dtype=np.float64)


def remote_models(invoke: Invoke) -> list[HostedModel]:
    """The packaged models, served through the inference function."""
    model = RemoteModel(invoke)
    return [HostedModel(spec, lambda: model) for spec in PACKAGED]


def serve(hub: ModelHub, message: dict[str, Any]) -> dict[str, Any]:
    """The inference function's side: run one request with ``hub``'s providers."""
    try:
        op, fields = message["op"], message["request"]
        if op == "embed":
            request = EmbedRequest(**fields)
            out = hub.provider(request.model).embed(request)  # type: ignore[union-attr]
            if out.dense is not None:
                dense = np.ascontiguousarray(out.dense, dtype="<f4")
                return {"total_tokens": out.total_tokens, "dense": base64.b64encode(dense.tobytes()).decode()}
            return {"total_tokens": out.total_tokens,
                    "sparse": [{"indices": v.indices, "values": v.values, "tokens": v.tokens} for v in out.sparse or ()]}
        if op == "rerank":
            request = RerankRequest(**fields)
            return {"scores": hub.provider(request.model).rerank(request).tolist()}  # type: ignore[union-attr]
        raise ValueError(f"unknown op {op!r}")
    except SpruceError as exc:
        return {"error": {"status": exc.status, "code": exc.code, "message": exc.message}}
