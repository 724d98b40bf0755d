"""The model-provider ports: what the service needs from a model, whatever runs it.

Two levels:

- **Providers** (``EmbedProvider``, ``RerankProvider``) take a request the service has
  already validated against the model's ``ModelSpec`` (model, parameters, batch size) and
  return vectors or scores plus the token count. Every model is served through one: a model
  run in this process (``local``), the packaged models in the AWS inference function
  (``remote``), Amazon Bedrock (``bedrock``).
- **Token models** (``TokenEmbedder``, ``TokenSparseEncoder``, ``TokenReranker``) are models
  whose tokenizer runs here; ``local`` wraps them in providers and applies the token rules
  (truncation, the token limit, token counting) in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Tokenized:
    """Token ids of one text, without the model's special tokens (``[CLS]``/``[SEP]``)."""

    ids: list[int]


@dataclass(frozen=True)
class SparseVector:
    """Vocabulary ids and weights; ``tokens`` (the ids' strings) only when asked for."""

    indices: list[int]
    values: list[float]
    tokens: list[str] | None = None


@dataclass(frozen=True)
class EmbedRequest:
    """A validated embed request. ``truncate`` is END or NONE; ``max_tokens`` is the token
    limit per text (the model's, or ``max_tokens_per_sequence``); ``dimension`` is the
    requested one (dense models)."""

    model: str
    texts: list[str]
    input_type: str
    truncate: str
    max_tokens: int
    dimension: int | None = None
    return_tokens: bool = False


@dataclass(frozen=True)
class Embeddings:
    """One dense row (``dense``: n × dimension float32) or one sparse vector per text, in
    order, and the tokens the model read (INF-E-8)."""

    total_tokens: int
    dense: np.ndarray | None = None
    sparse: list[SparseVector] | None = None


@dataclass(frozen=True)
class RerankRequest:
    """A validated rerank request: the text of each document to score (its rank fields)."""

    model: str
    query: str
    documents: list[str]
    truncate: str
    max_tokens: int


class EmbedProvider(Protocol):
    def embed(self, request: EmbedRequest) -> Embeddings: ...


class RerankProvider(Protocol):
    def rerank(self, request: RerankRequest) -> np.ndarray:
        """One relevance score in [0, 1] per document, in order (higher is more relevant)."""
        ...


class TokenModel(Protocol):
    def tokenize(self, texts: list[str]) -> list[Tokenized]: ...


class TokenEmbedder(TokenModel, Protocol):
    """Dense text embedder. ``embed_ids`` takes already-truncated token ids (specials are the
    model's business) and returns one L2-normalised float32 row per input, in order."""

    dimension: int

    def embed_ids(self, ids: list[list[int]]) -> np.ndarray: ...


class TokenSparseEncoder(TokenModel, Protocol):
    """Sparse text encoder over a vocabulary: ``token`` names a vocabulary id."""

    def encode_ids(self, ids: list[list[int]]) -> list[SparseVector]: ...

    def token(self, vocab_id: int) -> str: ...


class TokenReranker(TokenModel, Protocol):
    """Scores each document against the query; scores in [0, 1], higher is more relevant."""

    def score_ids(self, query: list[int], documents: list[list[int]]) -> np.ndarray: ...
