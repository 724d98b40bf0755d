"""Integrated indexes (BEHAVIOR §3.7, §4.4, §4.6): an index that embeds its own text.

- ``new_model_index_config``: ``POST /indexes/create-for-model`` → an ``IndexConfig`` whose
  ``extra["embed"]`` holds the embed block (model, metric, dimension, vector_type, field_map,
  read/write parameters), echoed by describe/list.
- ``Records.upsert``: NDJSON text records; the ``field_map`` text field is embedded with the
  index's ``write_parameters`` (default ``input_type`` passage), every other field — the text field
  included, so ``fields`` can return it — is stored as metadata.
- ``Records.search``: ``query.inputs.text`` (embedded as a query), ``query.vector`` or
  ``query.id``; ``filter``, ``fields``, and ``rerank`` over the top_k hits.

Embedding and reranking go through the Inference API's ``InferenceService`` (its model,
parameter, truncation and batch validation applies unchanged); nothing here imports
onnxruntime: the model loads on the first embed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from spruce.engine.embed import DEFAULT_READ, DEFAULT_WRITE, embed_of
from spruce.engine.filters import parse_filter
from spruce.engine.metadata import validate_metadata
from spruce.engine.model import IndexConfig, QuerySpec, ReadResult, WriteResult
from spruce.engine.records import Record
from spruce.engine.service import Spruce
from spruce.engine.validation import MAX_TOP_K, parse_dense, parse_id, parse_namespace
from spruce.errors import InvalidArgumentError
from spruce.inference.service import InferenceService

MAX_RECORDS = 96  # DP-UR-4
MAX_FIELDS = 100  # DP-S-3


# ----------------------------------------------------------------------------- data plane


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
                "POST /indexes/create-for-model. Upsert vectors with /vectors/upsert instead."
            )
        text_field = embed["field_map"]["text"]
        docs = _ndjson(raw)
        records: dict[str, tuple[str, dict[str, Any]]] = {}
        for i, doc in enumerate(docs):
            path = f"records[{i}]"
            if not isinstance(doc, dict):
                raise InvalidArgumentError(f"`{path}` must be a JSON object.")
            rid = doc.get("_id", doc.get("id"))
            if rid is None:
                raise InvalidArgumentError(f"`{path}` needs an `_id` (or `id`).")
            rid = parse_id(rid, f"{path}._id")
            fields = {k: v for k, v in doc.items() if k not in ("_id", "id")}
            text = fields.get(text_field)
            if not isinstance(text, str) or not text.strip():
                raise InvalidArgumentError(
                    f"`{path}` has no text to embed: the index's field_map maps `text` to `{text_field}`, which "
                    "must be a non-empty string."
                )
            metadata = validate_metadata(fields) or {}
            records.pop(rid, None)
            records[rid] = (text, metadata)
        params = {**DEFAULT_WRITE, **(embed.get("write_parameters") or {})}
        out = self._inference.embed({
            "model": embed["model"], "parameters": params,
            "inputs": [{"text": text} for text, _ in records.values()],
        })
        vectors = [np.asarray(d["values"], dtype=np.float32) for d in out["data"]]
        batch = [Record(id=rid, values=v, metadata=md) for (rid, (_, md)), v in zip(records.items(), vectors,
                                                                                    strict=True)]
        return self._engine.upsert(index, namespace, batch)

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
        if query.get("match_terms") is not None:
            raise InvalidArgumentError(
                "`query.match_terms` is not supported: it needs a sparse index integrated with "
                "pinecone-sparse-english-v0, which Spruce does not host."
            )
        top_k = query.get("top_k")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise InvalidArgumentError(
                f"`query.top_k` is required: an integer between 1 and {MAX_TOP_K}; got {top_k!r}.")
        inputs, vector_doc, rid = query.get("inputs"), query.get("vector"), query.get("id")
        sources = [s for s in (inputs, vector_doc, rid) if s is not None]
        if len(sources) != 1:
            raise InvalidArgumentError("A search needs exactly one of `query.inputs`, `query.vector` or `query.id`.")
        fields = _fields(body.get("fields"))
        rerank = _rerank(body.get("rerank"), top_k)
        usage: dict[str, Any] = {"read_units": 1}
        text: str | None = None
        spec = QuerySpec(top_k=top_k, filter=parse_filter(query["filter"]) if query.get("filter") is not None else None,
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
            params = {**DEFAULT_READ, **(embed.get("read_parameters") or {})}
            out = self._inference.embed({"model": embed["model"], "parameters": params, "inputs": [{"text": text}]})
            spec.vector = np.asarray(out["data"][0]["values"], dtype=np.float32)
            usage["embed_total_tokens"] = out["usage"]["total_tokens"]
        elif vector_doc is not None:
            if cfg.vector_type != "dense":
                raise InvalidArgumentError("Search by vector on a sparse index is not supported; search by `id`.")
            if not isinstance(vector_doc, dict):
                raise InvalidArgumentError('`query.vector` must be an object like {"values": [...]}.')
            if vector_doc.get("sparse_values") is not None or vector_doc.get("sparse_indices") is not None:
                raise InvalidArgumentError(
                    "`query.vector.sparse_values` / `sparse_indices` are not supported by the search endpoint on "
                    "Spruce; send dense `values`, or use POST /query for hybrid queries."
                )
            spec.vector = parse_dense(vector_doc.get("values"), cfg.dimension, "query.vector.values")
        else:
            spec.id = parse_id(rid, "query.id")
        found = self._engine.query(index, namespace, spec)
        hits = [{"_id": m.id, "_score": float(m.score), "md": m.metadata or {}} for m in found.value]
        if rerank is not None and hits:
            rerank_query = rerank.get("query") or text
            if not rerank_query:
                raise InvalidArgumentError(
                    "`rerank.query` is required when searching by `vector` or `id`: there is no query text to "
                    "rerank by."
                )
            out = self._inference.rerank({
                "model": rerank["model"], "query": rerank_query, "rank_fields": rerank["rank_fields"],
                "top_n": min(rerank["top_n"], len(hits)), "parameters": rerank.get("parameters"),
                "documents": [h["md"] for h in hits], "return_documents": False,
            })
            hits = [{**hits[d["index"]], "_score": d["score"]} for d in out["data"]]
            usage["rerank_units"] = out["usage"]["rerank_units"]
        return ReadResult({
            "result": {"hits": [{"_id": h["_id"], "_score": h["_score"], "fields": _select(h["md"], fields)}
                                for h in hits]},
            "usage": usage,
        }, found.max_lsn, found.reconciled_lsn)


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
