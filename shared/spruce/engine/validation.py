"""Data-plane request parsing: JSON bodies and query parameters into engine types.

Every problem with a data-plane request is ``400 INVALID_ARGUMENT`` (gRPC code 3), wrong
JSON types included: the data-plane OAS declares only 400/4XX, and Pinecone's gRPC gateway
maps body decoding errors to INVALID_ARGUMENT. Fields are accepted in camelCase and
snake_case (NAME-1); unknown fields are ignored, as the gateway does. ``null`` means absent.

The 2 MB upsert limit (DP-UP-1) is measured on the records, not on the JSON text: 4 bytes
per dense value, 8 per sparse entry, plus id and metadata bytes. That is the only reading
that fits the documented batch table (768 dims + 500 B metadata → 559 records; 1536 + 2000 B
→ 245), and it keeps the SDK's default 1000-record batches of 384-d vectors legal even
though their JSON is several MB. The raw body has a looser cap (``MAX_BODY_BYTES``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from spruce.engine.filters import Filter, parse_filter
from spruce.engine.indexes import validate_metadata_schema
from spruce.engine.metadata import validate_metadata
from spruce.engine.model import DEFAULT_NAMESPACE, IndexConfig, QuerySpec
from spruce.engine.records import Record, SparseVector, Update
from spruce.errors import InvalidArgumentError, SpruceError

MAX_BATCH = 1000
MAX_UPSERT_BYTES = 2_000_000
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_ID_LENGTH = 512
MAX_NAMESPACE_LENGTH = 512
MAX_SPARSE_NNZ = 2048
MAX_TOP_K = 10_000
MAX_TOP_K_SPARSE = 1000
MAX_FETCH_IDS = 1000
MAX_DELETE_IDS = 1000
MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 100
MAX_FETCH_BY_METADATA_LIMIT = 10_000  # §12 D4: the SDK's own bound; one page is then ≤ one large fetch
MIN_SCAN_FACTOR, MAX_SCAN_FACTOR = 0.5, 4.0
MAX_CANDIDATES = 100_000
_UINT32_MAX = 2**32 - 1


@dataclass(slots=True, frozen=True)
class DeleteRequest:
    """Exactly one mode is set: ``ids``, ``filter`` or ``delete_all``."""

    ids: list[str] | None = None
    filter: Filter | None = None
    delete_all: bool = False


@dataclass(slots=True, frozen=True)
class FilterUpdate:
    """``POST /vectors/update`` with ``filter`` (2025-10): merge metadata into every match."""

    filter: Filter
    set_metadata: dict[str, Any]
    dry_run: bool


@dataclass(slots=True, frozen=True)
class FetchByMetadata:
    filter: Filter
    limit: int
    token: str | None


@dataclass(slots=True, frozen=True)
class ListParams:
    limit: int
    token: str | None
    prefix: str | None


# ----------------------------------------------------------------------------- bodies


def parse_json(raw: bytes) -> Any:
    """Decode a request body; an empty body is an empty object."""
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidArgumentError(
            f"Request body is {len(raw) / 2**20:.1f} MB, over the {MAX_BODY_BYTES // 2**20} MB limit; "
            "send smaller requests."
        )
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgumentError(f"Request body is not valid JSON: {exc}.") from None


def parse_upsert(body: Any, cfg: IndexConfig) -> tuple[str, list[Record]]:
    """Validate ``POST /vectors/upsert``. Duplicate ids keep the last occurrence (DP-UP-7)."""
    body = _body(body)
    namespace = parse_namespace(body.get("namespace"))
    vectors = body.get("vectors")
    if not isinstance(vectors, list) or not vectors:
        raise InvalidArgumentError("`vectors` is required: send a list of 1 to 1000 records.")
    if len(vectors) > MAX_BATCH:
        raise InvalidArgumentError(
            f"Upsert accepts at most {MAX_BATCH} vectors per request; got {len(vectors)}. Split the batch."
        )
    matrix = _dense_batch(vectors, cfg.dimension) if cfg.vector_type == "dense" else None
    records: dict[str, Record] = {}
    size = 0
    for i, item in enumerate(vectors):
        record = _record(item, cfg, f"vectors[{i}]", None if matrix is None else matrix[i])
        records.pop(record.id, None)
        records[record.id] = record
        size += record_bytes(record)
    if size > MAX_UPSERT_BYTES:
        raise InvalidArgumentError(
            f"Upsert request is {size / 1e6:.2f} MB of vectors and metadata, over the 2 MB limit per request; "
            "send fewer records per batch."
        )
    return namespace, list(records.values())


def parse_query(body: Any, cfg: IndexConfig) -> tuple[str, QuerySpec]:
    body = _body(body)
    namespace = parse_namespace(body.get("namespace"))
    if body.get("queries") is not None:
        raise InvalidArgumentError(
            "The deprecated `queries` field is not supported: send one query per request with `vector` or `id`."
        )
    sparse_index = cfg.vector_type == "sparse"
    top_k = _field(body, "topK", "top_k")
    max_top_k = MAX_TOP_K_SPARSE if sparse_index else MAX_TOP_K
    if top_k is None:
        raise InvalidArgumentError(f"`topK` is required: the number of results to return (1 to {max_top_k}).")
    if not _is_int(top_k) or not 1 <= top_k <= max_top_k:
        raise InvalidArgumentError(f"`topK` must be an integer between 1 and {max_top_k}; got {_show(top_k)}.")

    vector_doc = body.get("vector")
    if sparse_index and vector_doc == []:  # the SDK sends `[]` for "no dense vector"
        vector_doc = None
    sparse_doc = _field(body, "sparseVector", "sparse_vector")
    record_id = body.get("id")
    if record_id is not None and (vector_doc is not None or sparse_doc is not None):
        raise InvalidArgumentError("Query by `id` cannot be combined with `vector` or `sparseVector`; send one.")
    if record_id is None and vector_doc is None and sparse_doc is None:
        source = "`sparseVector` or `id`" if sparse_index else "`vector` or `id`"
        raise InvalidArgumentError(f"A query needs {source}.")
    vector = sparse = None
    if sparse_index:
        if vector_doc is not None:
            raise InvalidArgumentError(
                "Sparse indexes cannot be queried with a dense `vector`; send `sparseVector` or `id`."
            )
    elif vector_doc is not None:
        vector = parse_dense(vector_doc, cfg.dimension, "vector")
    elif sparse_doc is not None:
        raise InvalidArgumentError(
            "Dense indexes cannot run sparse-only queries: send `vector` (with an optional `sparseVector`) or `id`."
        )
    if sparse_doc is not None:
        if not sparse_index and cfg.metric != "dotproduct":
            raise InvalidArgumentError(
                f"Queries with `sparseVector` need an index with the `dotproduct` metric; this index uses "
                f"`{cfg.metric}`. Drop `sparseVector` or query a dotproduct index."
            )
        sparse = parse_sparse(sparse_doc, "sparseVector")
    if record_id is not None:
        record_id = parse_id(record_id, "id")
    scan_factor = _field(body, "scanFactor", "scan_factor")
    max_candidates = _field(body, "maxCandidates", "max_candidates")
    if (scan_factor is not None or max_candidates is not None) and sparse_index:
        raise InvalidArgumentError("`scanFactor` and `maxCandidates` tune dense vector search; sparse indexes "
                                   "are searched exhaustively. Remove them.")
    if scan_factor is not None and (not isinstance(scan_factor, int | float) or isinstance(scan_factor, bool)
                                    or not MIN_SCAN_FACTOR <= scan_factor <= MAX_SCAN_FACTOR):
        raise InvalidArgumentError(
            f"`scanFactor` must be a number between {MIN_SCAN_FACTOR} and {MAX_SCAN_FACTOR}; got {_show(scan_factor)}."
        )
    if max_candidates is not None and (not _is_int(max_candidates)
                                       or not top_k <= max_candidates <= MAX_CANDIDATES):
        raise InvalidArgumentError(
            f"`maxCandidates` must be an integer between topK ({top_k}) and {MAX_CANDIDATES}; "
            f"got {_show(max_candidates)}."
        )
    return namespace, QuerySpec(
        top_k=top_k,
        vector=vector,
        sparse=sparse,
        id=record_id,
        filter=_filter(body.get("filter")),
        include_values=_flag(body, "includeValues", "include_values"),
        include_metadata=_flag(body, "includeMetadata", "include_metadata"),
        scan_factor=None if scan_factor is None else float(scan_factor),
        max_candidates=max_candidates,
    )


def parse_update(body: Any, cfg: IndexConfig) -> tuple[str, Update | FilterUpdate]:
    """By ``id`` (values, sparse values and/or metadata) or, 2025-10, by ``filter`` (metadata
    only, optionally ``dryRun``; the guide's ``dry_run`` spelling is accepted too, DP-U-9)."""
    body = _body(body)
    namespace = parse_namespace(body.get("namespace"))
    if body.get("filter") is not None:
        return namespace, _filter_update(body)
    if _field(body, "dryRun", "dry_run") is not None:
        raise InvalidArgumentError("`dryRun` only applies to updates by `filter`; add a `filter` or remove it.")
    if body.get("id") is None:
        raise InvalidArgumentError(
            "`id` is required: the id of the record to update (or send `filter` to update metadata by filter)."
        )
    record_id = parse_id(body["id"], "id")
    values_doc = body.get("values")
    sparse_doc = _field(body, "sparseValues", "sparse_values")
    metadata = _field(body, "setMetadata", "set_metadata")
    if values_doc == [] and cfg.vector_type == "sparse":
        values_doc = None
    if values_doc is None and sparse_doc is None and metadata is None:
        raise InvalidArgumentError("Update needs at least one of `values`, `sparseValues` or `setMetadata`.")
    if values_doc is not None and cfg.vector_type == "sparse":
        raise InvalidArgumentError("Sparse indexes do not store dense `values`; update `sparseValues` instead.")
    return namespace, Update(
        id=record_id,
        values=None if values_doc is None else parse_dense(values_doc, cfg.dimension, "values"),
        sparse=None if sparse_doc is None else parse_sparse(sparse_doc, "sparseValues"),
        set_metadata=None if metadata is None else _metadata(metadata, "setMetadata"),
    )


def _filter_update(body: dict) -> FilterUpdate:
    if body.get("id") is not None:
        raise InvalidArgumentError("Update by `id` and by `filter` cannot be combined; send one.")
    if body.get("values") not in (None, []) or _field(body, "sparseValues", "sparse_values") is not None:
        raise InvalidArgumentError(
            "Updates by `filter` can only set metadata: remove `values` / `sparseValues` (update vectors by `id`)."
        )
    flt = _filter(body["filter"])
    if flt is None:
        raise InvalidArgumentError("`filter` must not be empty: it selects the records to update.")
    metadata = _field(body, "setMetadata", "set_metadata")
    if metadata is None:
        raise InvalidArgumentError("Updates by `filter` need `setMetadata`: the metadata to merge into each match.")
    dry_run = _field(body, "dryRun", "dry_run")
    if dry_run is not None and not isinstance(dry_run, bool):
        raise InvalidArgumentError(f"`dryRun` must be true or false; got {_show(dry_run)}.")
    return FilterUpdate(flt, _metadata(metadata, "setMetadata") or {}, bool(dry_run))


def parse_fetch_by_metadata(body: Any) -> tuple[str, FetchByMetadata]:
    """``POST /vectors/fetch_by_metadata`` (2025-10, DP-FM-1): a non-empty filter, ``limit``
    1–10000 (default 100), ``paginationToken``."""
    body = _body(body)
    namespace = parse_namespace(body.get("namespace"))
    if body.get("filter") is None:
        raise InvalidArgumentError("`filter` is required: the metadata filter selecting the records to fetch.")
    flt = _filter(body["filter"])
    if flt is None:
        raise InvalidArgumentError("`filter` must not be empty; use `/vectors/list` to page through every record.")
    limit = body.get("limit")
    if limit is None:
        limit = DEFAULT_LIST_LIMIT
    elif not _is_int(limit) or not 1 <= limit <= MAX_FETCH_BY_METADATA_LIMIT:
        raise InvalidArgumentError(
            f"`limit` must be an integer between 1 and {MAX_FETCH_BY_METADATA_LIMIT}; got {_show(limit)}."
        )
    token = _field(body, "paginationToken", "pagination_token")
    if token is not None and not isinstance(token, str):
        raise InvalidArgumentError(f"`paginationToken` must be a string; got {_show(token)}.")
    return namespace, FetchByMetadata(flt, limit, token or None)


def parse_create_namespace(body: Any) -> tuple[str, dict[str, Any] | None]:
    """``POST /namespaces`` (2025-10, DP-NSA-4): ``name`` and an optional metadata ``schema``."""
    body = _body(body)
    name = body.get("name")
    if name is None or name == "":
        raise InvalidArgumentError("`name` is required: the name of the namespace to create.")
    name = parse_namespace(name)
    schema = body.get("schema")
    return name, None if schema is None else _metadata_schema(schema)


def parse_delete(body: Any) -> tuple[str, DeleteRequest]:
    body = _body(body)
    namespace = parse_namespace(body.get("namespace"))
    ids = body.get("ids")
    filter_doc = body.get("filter")
    delete_all = _flag(body, "deleteAll", "delete_all")
    modes = sum((ids is not None, filter_doc is not None, delete_all))
    if modes != 1:
        raise InvalidArgumentError(
            "Delete needs exactly one of `ids` (1 to 1000 ids), `filter` or `deleteAll: true`"
            + ("; they cannot be combined." if modes else ".")
        )
    if ids is not None:
        return namespace, DeleteRequest(ids=_id_list(ids, "ids", MAX_DELETE_IDS))
    if filter_doc is not None:
        parsed = _filter(filter_doc)
        if parsed is None:
            raise InvalidArgumentError("`filter` must not be empty; use `deleteAll: true` to delete every record.")
        return namespace, DeleteRequest(filter=parsed)
    return namespace, DeleteRequest(delete_all=True)


def parse_stats(body: Any) -> None:
    """``describe_index_stats`` takes no filter on serverless indexes (DP-ST-3)."""
    if _body(body).get("filter") is not None:
        raise InvalidArgumentError(
            "describe_index_stats does not support `filter` on serverless indexes; remove it "
            "(count matching records with `query` or `/vectors/list` instead)."
        )


# ----------------------------------------------------------------------------- query params


def parse_fetch_ids(ids: list[str]) -> list[str]:
    if not ids:
        raise InvalidArgumentError("`ids` is required: pass 1 to 1000 ids as repeated `ids` query parameters.")
    return list(dict.fromkeys(_id_list(ids, "ids", MAX_FETCH_IDS)))


def parse_list_params(limit: str | None, token: str | None, prefix: str | None) -> ListParams:
    """``limit`` (default 100, at most 100: BEHAVIOR §12 D4), ``paginationToken``, ``prefix``."""
    if limit is None or limit == "":
        n = DEFAULT_LIST_LIMIT
    else:
        try:
            n = int(limit)
        except ValueError:
            n = 0
        if not 1 <= n <= MAX_LIST_LIMIT:
            raise InvalidArgumentError(f"`limit` must be an integer between 1 and {MAX_LIST_LIMIT}; got {limit!r}.")
    return ListParams(limit=n, token=token or None, prefix=prefix or None)


def parse_namespace(value: Any) -> str:
    """``""`` or missing means the default namespace (DP-NS-3); ≤512 ASCII, no NUL."""
    if value is None or value == "":
        return DEFAULT_NAMESPACE
    if not isinstance(value, str):
        raise InvalidArgumentError(f"`namespace` must be a string; got {_show(value)}.")
    if len(value) > MAX_NAMESPACE_LENGTH or not value.isascii() or "\0" in value:
        raise InvalidArgumentError(
            f"Namespace names must be at most {MAX_NAMESPACE_LENGTH} ASCII characters without NUL; "
            f"got {_show(value)}."
        )
    return value


def parse_id(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"`{path}` must be a string; got {_show(value)}.")
    if not 1 <= len(value) <= MAX_ID_LENGTH or not value.isascii() or "\0" in value:
        raise InvalidArgumentError(
            f"`{path}` must be 1 to {MAX_ID_LENGTH} ASCII characters without NUL; got {_show(value)}."
        )
    return value


# ----------------------------------------------------------------------------- records


def _dense_batch(items: list, dimension: int | None) -> np.ndarray | None:
    """Every item's ``values`` as one float32 matrix, when all are valid: one numpy conversion
    per request instead of one per record (with its own checks), about half of validating a
    200 × 384-d upsert. None when anything is off; the per-record checks then name the item."""
    try:
        rows = [item["values"] for item in items]
    except (KeyError, TypeError):
        return None
    # A row of booleans becomes 0/1 once stacked with numbers, but is refused on its own: such
    # rows (they start with a boolean) take the per-record path, so both paths accept the same.
    if not all(type(row) is list and len(row) == dimension and type(row[0]) is not bool for row in rows):
        return None
    try:
        arr = np.array(rows)
    except (ValueError, TypeError):
        return None
    if arr.ndim != 2 or arr.dtype.kind not in "fiu":
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(np.float32)
    return out if np.isfinite(out).all() else None


def _record(item: Any, cfg: IndexConfig, path: str, values: np.ndarray | None = None) -> Record:
    """One upsert item; ``values``: its dense vector, already validated by ``_dense_batch``."""
    if not isinstance(item, dict):
        raise InvalidArgumentError(f"`{path}` must be an object with `id` and `values`; got {_show(item)}.")
    if item.get("id") is None:
        raise InvalidArgumentError(f"`{path}.id` is required.")
    record_id = parse_id(item["id"], f"{path}.id")
    values_doc = item.get("values")
    sparse_doc = _field(item, "sparseValues", "sparse_values")
    if cfg.vector_type == "sparse":
        if values_doc:
            raise InvalidArgumentError(
                f"`{path}` has dense `values`, but this is a sparse index: send only `sparseValues`."
            )
        if sparse_doc is None:
            raise InvalidArgumentError(f"`{path}.sparseValues` is required in a sparse index.")
        values = None
    elif values is None:
        if values_doc is None:
            raise InvalidArgumentError(f"`{path}.values` is required: a list of {cfg.dimension} numbers.")
        values = parse_dense(values_doc, cfg.dimension, f"{path}.values")
    metadata = item.get("metadata")
    return Record(
        id=record_id,
        values=values,
        sparse=None if sparse_doc is None else parse_sparse(sparse_doc, f"{path}.sparseValues"),
        metadata=None if metadata is None else _metadata(metadata, f"{path}.metadata"),
    )


def record_bytes(record: Record) -> int:
    """A record's size as the write path counts it: id, vector bytes, compact JSON metadata."""
    size = len(record.id)
    if record.values is not None:
        size += record.values.nbytes
    if record.sparse is not None:
        size += record.sparse.indices.nbytes + record.sparse.values.nbytes
    if record.metadata:
        size += len(orjson.dumps(record.metadata))
    return size


def parse_dense(doc: Any, dimension: int | None, path: str) -> np.ndarray:
    if not isinstance(doc, list):
        raise InvalidArgumentError(f"`{path}` must be a list of numbers; got {_show(doc)}.")
    if len(doc) != dimension:
        raise InvalidArgumentError(
            f"Vector dimension {len(doc)} does not match the dimension of the index {dimension} (`{path}`)."
        )
    return _floats(doc, path)


def parse_sparse(doc: Any, path: str) -> SparseVector:
    if not isinstance(doc, dict) or doc.get("indices") is None or doc.get("values") is None:
        raise InvalidArgumentError(
            f'`{path}` must be an object {{"indices": [...], "values": [...]}}; got {_show(doc)}.'
        )
    indices, values = doc["indices"], doc["values"]
    if not isinstance(indices, list) or not isinstance(values, list):
        raise InvalidArgumentError(f"`{path}.indices` and `{path}.values` must be lists.")
    if len(indices) != len(values):
        raise InvalidArgumentError(
            f"`{path}` has {len(indices)} indices but {len(values)} values; they must have the same length."
        )
    if not indices:
        raise InvalidArgumentError(f"`{path}` must have at least one index/value pair.")
    if len(indices) > MAX_SPARSE_NNZ:
        raise InvalidArgumentError(
            f"`{path}` has {len(indices)} non-zero values; sparse vectors are limited to {MAX_SPARSE_NNZ}."
        )
    arr = _array(indices)
    if arr is None or arr.dtype.kind not in "iu":
        raise InvalidArgumentError(f"`{path}.indices` must be integers between 0 and {_UINT32_MAX}.")
    if arr.min() < 0 or arr.max() > _UINT32_MAX:
        raise InvalidArgumentError(f"`{path}.indices` must be between 0 and {_UINT32_MAX} (unsigned 32-bit).")
    if np.unique(arr).size != arr.size:
        raise InvalidArgumentError(f"`{path}.indices` must not contain duplicates.")
    return SparseVector(indices=arr.astype(np.uint32), values=_floats(values, f"{path}.values"))


def _floats(doc: list, path: str) -> np.ndarray:
    """A list of JSON numbers as float32; rejects non-numbers and values outside float32."""
    arr = _array(doc)
    if arr is None or arr.dtype.kind not in "fiu":
        bad = [v for v in doc if isinstance(v, bool) or not isinstance(v, int | float)][:1]
        if bad:
            raise InvalidArgumentError(f"`{path}` must contain only numbers; found {_show(bad[0])}.")
        arr = np.array(doc, dtype=np.float64)  # ints beyond int64 arrive as Python objects
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise InvalidArgumentError(f"`{path}` must contain only finite numbers within the 32-bit float range.")
    return out


def _array(doc: list) -> np.ndarray | None:
    """``doc`` as a 1-d array, or None when it nests lists (numpy refuses ragged ones)."""
    try:
        arr = np.array(doc)
    except (ValueError, TypeError):
        return None
    return arr if arr.ndim == 1 else None


def _metadata(doc: Any, path: str) -> dict[str, Any] | None:
    try:
        return validate_metadata(doc)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"`{path}`: {exc.message}") from None


def _metadata_schema(doc: Any) -> dict[str, Any]:
    """Validate a namespace ``schema``; body-shape problems are 400s on the data plane."""
    try:
        return validate_metadata_schema(doc, "schema")
    except SpruceError as exc:
        raise InvalidArgumentError(exc.message) from None


def _filter(doc: Any) -> Filter | None:
    return None if doc is None else parse_filter(doc)


def _id_list(ids: Any, path: str, limit: int) -> list[str]:
    if not isinstance(ids, list) or not ids:
        raise InvalidArgumentError(f"`{path}` must be a list of 1 to {limit} ids.")
    if len(ids) > limit:
        raise InvalidArgumentError(f"`{path}` accepts at most {limit} ids per request; got {len(ids)}.")
    return [parse_id(v, f"{path}[{i}]") for i, v in enumerate(ids)]


# ----------------------------------------------------------------------------- helpers


def _body(body: Any) -> dict:
    if not isinstance(body, dict):
        raise InvalidArgumentError(f"Request body must be a JSON object; got {_show(body)}.")
    return body


def _field(body: dict, camel: str, snake: str | None = None) -> Any:
    value = body.get(camel)
    return body.get(snake) if value is None and snake else value


def _flag(body: dict, camel: str, snake: str) -> bool:
    value = _field(body, camel, snake)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"`{camel}` must be true or false; got {_show(value)}.")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    text = orjson.dumps(value, default=repr).decode()
    return text if len(text) <= 60 else text[:57] + "..."
