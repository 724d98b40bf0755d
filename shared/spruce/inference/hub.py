"""A host's model catalogue: which models it serves (``ModelSpec``) and who runs each one.

The embedded host serves the packaged models in-process (``packaged_hub``); the AWS control
plane serves the same specs through the inference function and adds Amazon Bedrock models
(``spruce.aws.inference``). Providers are built on first use, once per hub (thread-safe), so
listing models never loads one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

from spruce.inference.models import MINILM, MINILM_RERANK, PACKAGED, PINECONE_HOSTED, SPLADE, ModelSpec
from spruce.inference.ports import EmbedProvider, RerankProvider

Provider = EmbedProvider | RerankProvider


@dataclass(frozen=True)
class HostedModel:
    spec: ModelSpec
    provider: Callable[[], Provider]  # called once, on the model's first request


class ModelHub:
    def __init__(self, models: Iterable[HostedModel]) -> None:
        self._models = {m.spec.name: m for m in models}
        self._providers: dict[str, Provider] = {}
        self._lock = threading.Lock()

    def spec(self, name: str) -> ModelSpec | None:
        model = self._models.get(name)
        return None if model is None else model.spec

    def specs(self) -> list[ModelSpec]:
        return [m.spec for m in self._models.values()]

    def names(self, type_: str | None = None) -> list[str]:
        return [m.spec.name for m in self._models.values() if type_ is None or m.spec.type == type_]

    def hosted_elsewhere(self, name: str) -> bool:
        """A Pinecone-hosted model this host does not serve."""
        return name in PINECONE_HOSTED and name not in self._models

    def provider(self, name: str) -> Provider:
        provider = self._providers.get(name)
        if provider is None:
            with self._lock:
                provider = self._providers.get(name)
                if provider is None:
                    provider = self._providers[name] = self._models[name].provider()
        return provider


def _minilm_embedder() -> Provider:
    from spruce.inference import onnx_minilm  # noqa: PLC0415 - the runtime loads on first use
    from spruce.inference.local import LocalDenseEmbedder  # noqa: PLC0415

    return LocalDenseEmbedder(onnx_minilm.get())


def _minilm_reranker() -> Provider:
    from spruce.inference import onnx_minilm  # noqa: PLC0415
    from spruce.inference.local import LocalReranker  # noqa: PLC0415

    return LocalReranker(onnx_minilm.get())


def _splade() -> Provider:
    from spruce.inference import splade  # noqa: PLC0415
    from spruce.inference.local import LocalSparseEmbedder  # noqa: PLC0415

    return LocalSparseEmbedder(splade.get())


#: The packaged models and their in-process providers.
PACKAGED_PROVIDERS: dict[str, Callable[[], Provider]] = {
    MINILM.name: _minilm_embedder, SPLADE.name: _splade, MINILM_RERANK.name: _minilm_reranker,
}


@cache
def packaged_hub() -> ModelHub:
    """The embedded host's hub (one per process): the packaged models, run here."""
    return ModelHub(HostedModel(spec, PACKAGED_PROVIDERS[spec.name]) for spec in PACKAGED)
