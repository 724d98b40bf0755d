"""The model-provider port: what the service needs from a model, whatever runs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Tokenized:
    """Token ids of one text, without the model's special tokens (``[CLS]``/``[SEP]``)."""

    ids: list[int]


class Tokenizer(Protocol):
    def tokenize(self, texts: list[str]) -> list[Tokenized]: ...


class Embedder(Protocol):
    """Dense text embedder. ``embed_ids`` takes already-truncated token ids (specials are the
    provider's business) and returns one L2-normalised float32 row per input, in order."""

    dimension: int

    def tokenize(self, texts: list[str]) -> list[Tokenized]: ...

    def embed_ids(self, ids: list[list[int]]) -> np.ndarray: ...


class Reranker(Protocol):
    """Scores each document against the query; scores in [0, 1], higher is more relevant."""

    def tokenize(self, texts: list[str]) -> list[Tokenized]: ...

    def score_ids(self, query: list[int], documents: list[list[int]]) -> np.ndarray: ...
