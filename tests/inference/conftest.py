from __future__ import annotations

import pytest

from spruce.inference import onnx_minilm
from spruce.inference.service import InferenceService


@pytest.fixture(scope="session")
def minilm() -> onnx_minilm.MiniLM:
    """The packaged model, loaded once per test session (the process-wide instance)."""
    return onnx_minilm.get()


@pytest.fixture(scope="session")
def service(minilm) -> InferenceService:
    return InferenceService()
