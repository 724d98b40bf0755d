"""Records API of integrated indexes (BEHAVIOR §4.4, §4.6): indexes that embed their own text
(the ``embed`` block's rules are ``spruce.engine.embed``).

- ``Records.upsert``: NDJSON text records; the ``field_map`` text field is embedded with the
  index's ``write_parameters``, every other field — the text field included, so ``fields``
  can return it — is stored as metadata. Sparse indexes also store the text's words under
  the hidden ``$terms`` key, for ``match_terms``.
- ``Records.search``: ``query.inputs.text`` (embedded with the ``read_parameters``),
  ``query.vector`` (dense ``values`` and/or ``sparse_values`` + ``sparse_indices``) or
  ``query.id``; ``filter``, ``match_terms`` (sparse indexes: every term's words must be in
  the record's text — a pre-filter, so a search still returns ``top_k`` hits when that many
  records match), ``fields``, and ``rerank`` over the top_k hits.

Embedding and reranking go through the Inference API's ``InferenceService`` (its model,
parameter, truncation and batch validation applies unchanged); nothing here imports
onnxruntime: the model loads on the first embed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from spruce.engine.embed import embed_of, read_parameters, text_field, write_parameters
from spruce.engine.filters import parse_filter, with_all_terms
from spruce.engine.metadata import TERMS_KEY, validate_metadata
from spruce.engine.model import IndexConfig, QuerySpec, ReadResult, WriteResult
from spruce.engine.records import Record, SparseVector
from spruce.engine.service import Spruce
from spruce.engine.terms import words
from spruce.engine.validation import (
    MAX_SPARSE_NNZ, MAX_TOP_K, MAX_TOP_K_SPARSE, parse_dense, parse_id, parse_namespace, parse_sparse,
)
from spruce.errors import InvalidArgumentError
from spruce.inference.service import InferenceService

MAX_RECORDS = 96  # DP-UR-4
MAX_FIELDS = 100  # DP-S-3
MATCH_STRATEGIES = ("all",)

Vector = np.ndarray | SparseVector


class Records:
    """The records API of one engine, embedding and reranking through ``inference``."""

    def __init__(self, engine: Spruce, inference_service: InferenceService) -> None:
        self._engine = engine
        self._inference = inference_service

    def upsert(self, index: str, namespace: str, raw: bytes) -> WriteResult:
        namespace = parse_namespace(namespace)
        cfg = self._engine.describe_index(index)
        embed = embed_of(cfg)
        if embed is None:
            raise InvalidArgumentError(
                f"Index {index} has no integrated embedding: upserting text records needs an index created with "
                "POST /indexes/create-for-model (or converted with PATCH /indexes/{name} and `embed`). Upsert "
                "vectors with /vectors/upsert instead."
            )
        field = text_field(embed)
        records: dict[str, tuple[str, dict[str, Any]]] = {}
        for i, doc in enumerate(_ndjson(raw)):
            path = f"records[{i}]"
            if not isinstance(doc, dict):
                raise InvalidArgumentError(f"`{path}` must be a JSON object.")
            rid = doc.get("_id", doc.get("id"))
            if rid is None:
                raise InvalidArgumentError(f"`{path}` needs an `_id` (or `id`).")
            rid = parse_id(rid, f"{path}._id")
            fields = {k: v for k, v in doc.items() if k not in ("_id", "id")}
            text = fields.get(field)
            if not isinstance(text, str) or not text.strip():
                raise InvalidArgumentError(
                    f"`{path}` has no text to embed: the index's field_map maps `text` to `{field}`, which "
                    "must be a non-empty string."
                )
            metadata = validate_metadata(fields) or {}
            records.pop(rid, None)
            records[rid] = (text, metadata)
        vectors, _ = self._embed(embed, write_parameters(embed), [text for text, _ in records.values()])
        batch = []
        for (rid, (text, md)), vector in zip(records.items(), vectors, strict=True):
            if isinstance(vector, SparseVector):
                if not len(vector.indices):
                    raise InvalidArgumentError(
                        f"The text of record {rid} embeds to an empty sparse vector (model '{embed['model']}' found "
                        "no weighted term in it), which a sparse index cannot store: give it some words."
                    )
                batch.append(Record(id=rid, sparse=vector, metadata={**md, TERMS_KEY: words(text)}))
            else:
                batch.append(Record(id=rid, values=vector, metadata=md))
        return self._engine.upsert(cfg, namespace, batch)

    def search(self, index: str, namespace: str, body: Any) -> ReadResult[dict[str, Any]]:
        namespace = parse_namespace(namespace)
        cfg = self._engine.describe_index(index)
        embed = embed_of(cfg)
        if not isinstance(body, dict):
            raise InvalidArgumentError("The search request body must be a JSON object.")
        query = body.get("query")
        if not isinstance(query, dict):
            raise InvalidArgumentError(
                "`query` is required: an object with `top_k` and one of `inputs`, `vector`, `id`.")
        sparse_index = cfg.vector_type == "sparse"
        max_top_k = MAX_TOP_K_SPARSE if sparse_index else MAX_TOP_K
        top_k = query.get("top_k")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= max_top_k:
            raise InvalidArgumentError(
                f"`query.top_k` is required: an integer between 1 and {max_top_k}; got {top_k!r}.")
        inputs, vector_doc, rid = query.get("inputs"), query.get("vector"), query.get("id")
        if sum(s is not None for s in (inputs, vector_doc, rid)) != 1:
            raise InvalidArgumentError("A search needs exactly one of `query.inputs`, `query.vector` or `query.id`.")
        flt = parse_filter(query.get("filter"))
        terms = _match_terms(cfg, query.get("match_terms"))
        fields = _fields(body.get("fields"))
        rerank = _rerank(body.get("rerank"), top_k)
        usage: dict[str, Any] = {"read_units": 1}
        text: str | None = None
        spec = QuerySpec(top_k=top_k, filter=flt if terms is None else with_all_terms(flt, terms),
                         include_metadata=True)
        if inputs is not None:
            if embed is None:
                raise InvalidArgumentError(
                    f"Index {index} has no integrated embedding, so `query.inputs` cannot be embedded: search with "
                    "`query.vector` or `query.id`, or create the index with POST /indexes/create-for-model."
                )
            text = inputs.get("text") if isinstance(inputs, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise InvalidArgumentError('`query.inputs` must be {"text": "<non-empty query text>"}.')
            (vector,), usage["embed_total_tokens"] = self._embed(embed, read_parameters(embed), [text])
            if isinstance(vector, SparseVector):
                spec.sparse = vector
            else:
                spec.vector = vector
        elif vector_doc is not None:
            spec.vector, spec.sparse = _search_vector(cfg, vector_doc)
        else:
            spec.id = parse_id(rid, "query.id")
        found = self._engine.query(cfg, namespace, spec)
        hits = [{"_id": m.id, "_score": float(m.score), "md": m.metadata or {}} for m in found.value]
        if rerank is not None and hits:
            hits, usage["rerank_units"] = self._rerank(rerank, rerank.get("query") or text, hits)
        return ReadResult({
            "result": {"hits": [{"_id": h["_id"], "_score": h["_score"], "fields": _select(h["md"], fields)}
                                for h in hits]},
            "usage": usage,
        }, found.max_lsn, found.reconciled_lsn)

    def _embed(self, embed: dict[str, Any], params: dict[str, Any], texts: list[str]) -> tuple[list[Vector], int]:
        """One vector per text (dense rows or sparse vectors, as the model makes them) and the
        tokens embedded. A model with several dimensions is asked for the index's."""
        spec = self._inference.model(embed["model"], "embed")
        if embed.get("dimension") is not None and any(p["parameter"] == "dimension" for p in spec.supported_parameters):
            params = {**params, "dimension": embed["dimension"]}
        out = self._inference.embed({"model": embed["model"], "parameters": params,
                                     "inputs": [{"text": t} for t in texts]})
        return [_vector(d) for d in out["data"]], out["usage"]["total_tokens"]

    def _rerank(self, rerank: dict[str, Any], query: str | None,
                hits: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        if not query:
            raise InvalidArgumentError(
                "`rerank.query` is required when searching by `vector` or `id`: there is no query text to "
                "rerank by."
            )
        out = self._inference.rerank({
            "model": rerank["model"], "query": query, "rank_fields": rerank["rank_fields"],
            "top_n": min(rerank["top_n"], len(hits)), "parameters": rerank.get("parameters"),
            "documents": [h["md"] for h in hits], "return_documents": False,
        })
        return [{**hits[d["index"]], "_score": d["score"]} for d in out["data"]], out["usage"]["rerank_units"]


def _vector(item: dict[str, Any]) -> Vector:
    """An embedding of the Inference API as the engine stores it. A sparse one keeps its
    ``MAX_SPARSE_NNZ`` heaviest entries (the sparse vector limit, SP-2); SPLADE-tiny rarely
    weights that many vocabulary terms."""
    if item.get("vector_type") != "sparse":
        return np.asarray(item["values"], dtype=np.float32)
    indices = np.asarray(item["sparse_indices"], dtype=np.uint32)
    values = np.asarray(item["sparse_values"], dtype=np.float32)
    if len(indices) > MAX_SPARSE_NNZ:
        keep = np.sort(np.argsort(-values, kind="stable")[:MAX_SPARSE_NNZ])
        indices, values = indices[keep], values[keep]
    return SparseVector(indices=indices, values=values)


def _search_vector(cfg: IndexConfig, doc: Any) -> tuple[np.ndarray | None, SparseVector | None]:
    """``query.vector`` (DP-S-1): dense ``values``, sparse ``sparse_values`` +
    ``sparse_indices``, or both (hybrid: a dense dotproduct index, HY-1), by the rules of
    ``POST /query`` (DP-Q-2)."""
    if not isinstance(doc, dict):
        raise InvalidArgumentError(
            '`query.vector` must be an object like {"values": [...]} or {"sparse_values": [...], '
            '"sparse_indices": [...]}.'
        )
    values = doc.get("values")
    if cfg.vector_type == "sparse" and values == []:  # SDKs send [] for "no dense values"
        values = None
    sparse_values, sparse_indices = doc.get("sparse_values"), doc.get("sparse_indices")
    if (sparse_values is None) != (sparse_indices is None):
        raise InvalidArgumentError(
            "`query.vector.sparse_values` and `query.vector.sparse_indices` go together: send both or neither.")
    sparse = None
    if sparse_values is not None:
        sparse = parse_sparse({"indices": sparse_indices, "values": sparse_values}, "query.vector.sparse")
    if cfg.vector_type == "sparse":
        if values is not None:
            raise InvalidArgumentError(
                f"Index {cfg.name} is sparse: search it with `query.vector.sparse_values` + `sparse_indices` (or "
                "`query.inputs` / `query.id`), not dense `values`."
            )
        if sparse is None:
            raise InvalidArgumentError(
                f"Index {cfg.name} is sparse: `query.vector` needs `sparse_values` and `sparse_indices`.")
        return None, sparse
    if values is None:
        raise InvalidArgumentError(
            f"Index {cfg.name} is dense: `query.vector` needs `values` (optionally with `sparse_values` + "
            "`sparse_indices` for a hybrid search)."
        )
    if sparse is not None and cfg.metric != "dotproduct":
        raise InvalidArgumentError(
            f"Hybrid searches (`values` with `sparse_values`) need an index with the `dotproduct` metric; index "
            f"{cfg.name} uses `{cfg.metric}`. Drop the sparse part or search a dotproduct index."
        )
    return parse_dense(values, cfg.dimension, "query.vector.values"), sparse


def _match_terms(cfg: IndexConfig, doc: Any) -> list[str] | None:
    """``query.match_terms`` (DP-S-8) as the words every hit's text must contain; None when
    absent. Each term is split into words as the text was (``spruce.engine.terms``)."""
    if doc is None:
        return None
    embed = embed_of(cfg)
    if embed is None or cfg.vector_type != "sparse":
        kind = "a dense index" if embed is not None else "an index without integrated embedding"
        raise InvalidArgumentError(
            f"`query.match_terms` needs a sparse index with integrated embedding (POST /indexes/create-for-model "
            f"with a sparse model such as splade-tiny-msmarco); index {cfg.name} is {kind}. Remove `match_terms` "
            "or use `query.filter` on metadata."
        )
    if not isinstance(doc, dict):
        raise InvalidArgumentError('`query.match_terms` must be an object like {"strategy": "all", "terms": [...]}.')
    strategy = doc.get("strategy", "all")
    if strategy not in MATCH_STRATEGIES:
        raise InvalidArgumentError(
            f"`query.match_terms.strategy` must be `all` (every term must appear in the text); got {strategy!r}.")
    terms = doc.get("terms")
    if not isinstance(terms, list) or not terms or not all(isinstance(t, str) for t in terms):
        raise InvalidArgumentError("`query.match_terms.terms` must be a non-empty list of strings.")
    out: list[str] = []
    for i, term in enumerate(terms):
        found = words(term)
        if not found:
            raise InvalidArgumentError(
                f"`query.match_terms.terms[{i}]` ({term!r}) has no word to match: terms are matched as words, "
                "punctuation and spaces are ignored."
            )
        out.extend(found)
    return list(dict.fromkeys(out))


def _ndjson(raw: bytes) -> list[Any]:
    lines = [line for line in raw.splitlines() if line.strip()]
    if not lines:
        raise InvalidArgumentError(
            f"The request body must hold 1 to {MAX_RECORDS} records, one JSON object per line (NDJSON)."
        )
    if len(lines) > MAX_RECORDS:
        raise InvalidArgumentError(
            f"Upsert records accepts at most {MAX_RECORDS} records per request; got {len(lines)}. Split the batch."
        )
    docs = []
    for i, line in enumerate(lines):
        try:
            docs.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise InvalidArgumentError(f"Line {i + 1} of the NDJSON body is not valid JSON: {exc}.") from None
    if len(docs) == 1 and isinstance(docs[0], list):  # a JSON array on one line is accepted too
        docs = docs[0]
        if not 1 <= len(docs) <= MAX_RECORDS:
            raise InvalidArgumentError(
                f"Upsert records accepts 1 to {MAX_RECORDS} records per request; got {len(docs)}.")
    return docs


def _fields(doc: Any) -> list[str] | None:
    """None = every field (absent, or ``["*"]`` as SDK 7.x sends by default)."""
    if doc is None:
        return None
    if not isinstance(doc, list) or not all(isinstance(f, str) for f in doc):
        raise InvalidArgumentError("`fields` must be a list of field names.")
    if len(doc) > MAX_FIELDS:
        raise InvalidArgumentError(f"`fields` lists at most {MAX_FIELDS} names; got {len(doc)}.")
    return None if "*" in doc else doc


def _select(md: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    return dict(md) if fields is None else {k: md[k] for k in fields if k in md}


def _rerank(doc: Any, top_k: int) -> dict[str, Any] | None:
    """Shape checks of ``rerank`` (DP-S-5); the model, rank fields and parameters are checked
    by the rerank service itself."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise InvalidArgumentError("`rerank` must be an object with `model` and `rank_fields`.")
    if doc.get("model") is None or doc.get("rank_fields") is None:
        raise InvalidArgumentError("`rerank.model` and `rerank.rank_fields` are required.")
    top_n = doc.get("top_n")
    if top_n is None:
        top_n = top_k
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise InvalidArgumentError(f"`rerank.top_n` must be a positive integer; got {top_n!r}.")
    query = doc.get("query")
    if query is not None and not isinstance(query, str):
        raise InvalidArgumentError("`rerank.query` must be a string.")
    return {**doc, "top_n": top_n}
