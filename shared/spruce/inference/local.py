"""Providers over models run in this process: the token rules live here.

Token counting (INF-E-8): the model's own WordPiece tokens of each text, **without**
``[CLS]`` and ``[SEP]`` and after truncation ("What is the maximum diameter of a red pine?"
counts 10, as in Pinecone's example). The limit (``max_sequence_length``, or
``max_tokens_per_sequence``) counts what the model sees, i.e. including the two special
tokens, so a text keeps at most limit - 2 tokens; ``truncate`` END cuts there, NONE refuses
(INF-E-3, INF-R-5).
"""

from __future__ import annotations

import numpy as np

from spruce.errors import InvalidArgumentError
from spruce.inference.ports import (
    Embeddings,
    EmbedRequest,
    RerankRequest,
    SparseVector,
    TokenEmbedder,
    TokenReranker,
    TokenSparseEncoder,
)

SPECIAL_TOKENS = 2  # [CLS] and [SEP]


def fit(ids: list[int], limit: int, truncate: str, model: str, what: str) -> list[int]:
    """Apply the token limit: cut at the end (END) or refuse (NONE)."""
    content = limit - SPECIAL_TOKENS
    if len(ids) <= content:
        return ids
    if truncate == "NONE":
        raise InvalidArgumentError(
            f"{what} is {len(ids) + SPECIAL_TOKENS} tokens, over the {limit}-token limit of model '{model}' "
            f"(counting [CLS] and [SEP]), and truncate is NONE. Shorten it or use truncate END."
        )
    return ids[:content]


def _fitted(model: TokenEmbedder | TokenSparseEncoder, request: EmbedRequest) -> list[list[int]]:
    return [fit(t.ids, request.max_tokens, request.truncate, request.model, f"inputs[{i}]")
            for i, t in enumerate(model.tokenize(request.texts))]


class LocalDenseEmbedder:
    """``EmbedProvider`` over a dense token model. ``input_type`` has no effect: the packaged
    MiniLM was trained without query/passage prefixes."""

    def __init__(self, model: TokenEmbedder) -> None:
        self._model = model

    def embed(self, request: EmbedRequest) -> Embeddings:
        ids = _fitted(self._model, request)
        return Embeddings(total_tokens=sum(map(len, ids)), dense=self._model.embed_ids(ids))


class LocalSparseEmbedder:
    """``EmbedProvider`` over a sparse token model; ``return_tokens`` names each index's
    vocabulary entry. ``input_type`` has no effect (one SPLADE encoder for both)."""

    def __init__(self, model: TokenSparseEncoder) -> None:
        self._model = model

    def embed(self, request: EmbedRequest) -> Embeddings:
        ids = _fitted(self._model, request)
        vectors = self._model.encode_ids(ids)
        if request.return_tokens:
            vectors = [SparseVector(v.indices, v.values, [self._model.token(i) for i in v.indices]) for v in vectors]
        return Embeddings(total_tokens=sum(map(len, ids)), sparse=vectors)


class LocalReranker:
    """``RerankProvider`` over a token reranker: the limit applies to the query and to each
    document separately."""

    def __init__(self, model: TokenReranker) -> None:
        self._model = model

    def rerank(self, request: RerankRequest) -> np.ndarray:
        tokens = self._model.tokenize([request.query, *request.documents])
        limit, truncate, name = request.max_tokens, request.truncate, request.model
        query = fit(tokens[0].ids, limit, truncate, name, "The query")
        docs = [fit(t.ids, limit, truncate, name, f"documents[{i}]") for i, t in enumerate(tokens[1:])]
        return self._model.score_ids(query, docs)
