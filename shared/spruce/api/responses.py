"""JSON rendering with orjson: numpy arrays (record values) serialise without a Python copy."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from starlette.responses import Response

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _fallback(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):  # non-contiguous arrays, numpy scalars
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_fallback, option=_OPTIONS)
