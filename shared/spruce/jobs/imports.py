"""The bulk import workflow (BEHAVIOR §4.15): plan → load (one chunk per call) → finish.

- **plan**: list ``URI/<namespace>/*.parquet``, check every file's columns against the index
  (DP-IMP-5), check the target namespaces do not exist (DP-IMP-4), count rows for
  ``percentComplete``; the plan is kept in the job's document, so a resumed job never plans twice.
- **load**: up to ``CHUNK_ROWS`` rows (fewer for wide vectors) of one row group per call, parsed
  and validated in bulk (the checks and messages of an upsert), then written the bulk way
  (``Spruce.ingest``): the chunk's records become one slab, then one request-log entry names it
  and gives them their LSN, then a flush commits that slab as it is. The data is written once,
  never encoded into the log and flushed out of it again; the chunk is queryable when the call
  returns. ``continue`` skips bad rows, ``abort`` fails the job on the first one (nothing of that
  chunk is written; earlier chunks stay). A repeated id keeps its last row, as in an upsert. The
  chunk's progress is a versioned update of the document: a cancel in between wins and the next
  call stops.
- **finish**: ``Completed`` at 100 %. Imported records are already queryable (read-your-writes),
  so unlike Pinecone (DP-IMP-8) there is no long InProgress-at-100 % indexing phase.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spruce.engine.metadata import build_metadata_columns, validate_metadata
from spruce.engine.model import DEFAULT_NAMESPACE, IndexConfig
from spruce.engine.records import Record
from spruce.engine.slabs import RecordColumns
from spruce.engine.validation import MAX_ID_LENGTH, parse_id, parse_namespace, parse_sparse
from spruce.errors import SpruceError
from spruce.jobs import bulk
from spruce.jobs.bulk import IN_PROGRESS
from spruce.jobs.sources import Location, import_files, locate
from spruce.jobs.workflow import JobFailed, JobHost, State, Step, Workflow, live_index, register

#: Rows per load call: bounded work per Lambda task, and how soon a cancel is seen. Each call's
#: chunk becomes one slab, so fewer, larger chunks leave compaction less to merge.
CHUNK_ROWS = 50_000
#: Dense values per load call at most (80 MB of float32): wide vectors get fewer rows per chunk.
CHUNK_VALUES = 20_000_000
#: Files per import: the plan lives in the job's document (DynamoDB items hold ≤ 400 KB).
MAX_FILES = 1000
COLUMNS = ("id", "values", "sparse_values", "metadata")


def _config(host: JobHost, state: State) -> IndexConfig:
    return live_index(host, state["index"], state["indexId"],
                      JobFailed(f"Index {state['index']} was deleted while the import ran."))


# ----------------------------------------------------------------------------- plan


def plan(host: JobHost, state: State) -> State:
    found = bulk.load(host.jobs, state["kind"], state["job"])
    assert found is not None, state
    doc = found[1]
    if doc["status"] != bulk.PENDING or "files" in doc:
        return state  # cancelled before it started, or planned already (a resumed job)
    cfg = _config(host, state)
    location = locate(doc["uri"], local_files=host.local_files)
    listed = import_files(location)
    if len(listed) > MAX_FILES:
        raise JobFailed(f"{doc['uri']} holds {len(listed)} Parquet files; Spruce imports at most {MAX_FILES} "
                        "per import. Split the directory.")
    files = []
    for folder, path in listed:
        try:
            namespace = parse_namespace(folder)
        except SpruceError as exc:
            raise JobFailed(f"Folder {folder!r} is not a valid namespace name: {exc.message}") from None
        try:
            meta = pq.read_metadata(path, filesystem=location.fs)
            schema = meta.schema.to_arrow_schema()
        except (OSError, pa.ArrowException) as exc:
            raise JobFailed(f"{path} is not a readable Parquet file: {exc}") from None
        check_columns(schema, cfg, path)
        files.append([namespace, path, meta.num_rows])
    targets = sorted({f[0] for f in files})
    for namespace in targets:
        check_target(host, cfg, namespace)
    check_no_running_import(host, state, targets)

    def planned(doc: bulk.Doc) -> bulk.Doc | None:
        if doc["status"] != bulk.PENDING:
            return None
        return {**doc, "status": IN_PROGRESS, "files": files, "totalRows": sum(f[2] for f in files),
                "cursor": [0, 0], "rowsRead": 0}
    if bulk.mutate(host.jobs, state["kind"], state["job"], planned)["status"] == IN_PROGRESS:
        _reader.read_first(_job(state), location, files, rows_per_chunk(cfg), cfg)
    return state


def check_columns(schema: pa.Schema, cfg: IndexConfig, path: str) -> None:
    """DP-IMP-5: only ``id``, ``values``, ``sparse_values``, ``metadata``, typed as documented."""
    names = schema.names
    extra = [n for n in names if n not in COLUMNS]
    if extra:
        raise JobFailed(f"{path} has column(s) {', '.join(extra)}; allowed columns are id, values, "
                        "sparse_values and metadata.")
    if "id" not in names or not _is_string(schema.field("id").type):
        raise JobFailed(f"{path} needs an `id` column of strings.")
    if "metadata" in names and not (_is_string(schema.field("metadata").type)
                                    or pa.types.is_null(schema.field("metadata").type)):
        raise JobFailed(f"{path}: `metadata` must be a string column holding JSON objects.")
    sparse_index = cfg.vector_type == "sparse"
    if sparse_index and "values" in names:
        raise JobFailed(f"{path} has a `values` column, but index {cfg.name} is sparse: "
                        "send only id, sparse_values and metadata.")
    if not sparse_index:
        if "values" not in names:
            raise JobFailed(f"{path} needs a `values` column (list of {cfg.dimension} floats) "
                            f"for dense index {cfg.name}.")
        kind = schema.field("values").type
        if not (_is_list(kind) and _is_number(kind.value_type)):
            raise JobFailed(f"{path}: `values` must be a list of floats, not {kind}.")
    if "sparse_values" in names:
        if not sparse_index and cfg.metric != "dotproduct":
            raise JobFailed(f"{path} has `sparse_values`, but index {cfg.name} uses {cfg.metric}: sparse values "
                            "need a sparse index or a dense index with the dotproduct metric.")
        kind = schema.field("sparse_values").type
        fields = {kind.field(i).name: kind.field(i).type for i in range(kind.num_fields)} \
            if pa.types.is_struct(kind) else {}
        if not (set(fields) == {"indices", "values"} and _is_list(fields["indices"])
                and pa.types.is_integer(fields["indices"].value_type) and _is_list(fields["values"])
                and _is_number(fields["values"].value_type)):
            raise JobFailed(f"{path}: `sparse_values` must be STRUCT<indices: LIST<UINT32>, values: LIST<FLOAT>>, "
                            f"not {kind}.")
    elif sparse_index:
        raise JobFailed(f"{path} needs a `sparse_values` column for sparse index {cfg.name}.")


def check_target(host: JobHost, cfg: IndexConfig, namespace: str) -> None:
    """DP-IMP-4: targets must not exist; the default namespace must be empty."""
    try:
        info = host.engine.describe_namespace(cfg.name, namespace)
    except SpruceError as exc:
        if exc.status == 404:
            return
        raise
    if namespace == DEFAULT_NAMESPACE:
        if info.record_count:
            raise JobFailed("The default namespace is not empty. Imports into the default namespace are only "
                            "allowed when it holds no records.")
        return
    raise JobFailed(f'The namespace "{namespace}" already exists. Imports are only allowed into nonexistent '
                    "namespaces.")


def check_no_running_import(host: JobHost, state: State, targets: list[str]) -> None:
    """Another import still loading into one of ``targets`` would make it exist mid-way: refuse."""
    for job_id, body in host.jobs.list_jobs(state["kind"]):
        other = json.loads(body)
        if job_id == state["job"] or other["status"] != IN_PROGRESS:
            continue
        clash = sorted(set(targets) & {f[0] for f in other.get("files", [])})
        if clash:
            raise JobFailed(f'The namespace "{clash[0]}" is the target of import {job_id}, still in progress. '
                            "Imports are only allowed into nonexistent namespaces.")


def _is_string(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _is_list(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_floating(kind) or pa.types.is_integer(kind)


# ----------------------------------------------------------------------------- load


@dataclass(slots=True)
class Chunk:
    """One load call's rows, parsed (``parse_chunk``)."""

    rows: int  # rows read from the file (the cursor moves by this many)
    records: RecordColumns  # each id once
    problems: list[tuple[int, str]]  # (row in the chunk, what is wrong with it): rows not in ``records``


@dataclass(slots=True)
class _OpenFile:
    path: str
    file: pa.NativeFile
    batches: Iterator[pa.RecordBatch]
    next_row: int  # the file's row the next batch starts at
    pending: pa.RecordBatch | None = None  # the rest of a batch a resume cut into

    def close(self) -> None:
        self.file.close()


class _Reader:
    """Streams each job's files between load calls (the embedded runner calls load in a loop; a
    warm Lambda container often gets the next call too), and reads and parses the next chunk in
    the background while the caller writes this one: the chunk's Parquet decoding and checks
    (the checks of 50k × 384-d rows: 10–30 ms when their metadata texts repeat, 0.1–0.14 s when
    each differs, 2026-12-06) overlap the slab write and commit, which run in LanceDB's threads
    and SQLite without the GIL. A chunk is one batch of ``rows`` rows, decoded page by page, so
    memory stays bounded (this chunk and the next) whatever the row group size. A call that does
    not continue where the last one stopped (a resumed job, a cold container) reopens the file
    and skips to its row; a read ahead that failed is done again by the call that needs it, so
    its error is that call's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ahead: dict[tuple[str, str], tuple[tuple[str, int], Future]] = {}
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="import-read")

    def chunk(self, job: tuple[str, str], location: Location, files: list, at: tuple[int, int], rows: int,
              cfg: IndexConfig) -> Chunk:
        """Up to ``rows`` rows of ``files[at[0]]`` (``[namespace, path, rows]`` rows) from row
        ``at[1]`` (fewer at a row group's end), parsed for ``cfg``."""
        path, row = files[at[0]][1], at[1]
        with self._lock:
            ahead = self._ahead.pop(job, None)
        opened = parsed = None
        if ahead is not None:
            key, future = ahead
            try:
                parsed, opened = future.result()
            except Exception:  # noqa: BLE001 - read again below, where the error is this call's
                parsed = None
            if key != (path, row):
                parsed = None
        if parsed is None:
            parsed, opened = _read(location, opened, path, row, rows, cfg)
        self._read_ahead(job, location, opened, files, _position(files, at[0], row + parsed.rows), rows, cfg)
        return parsed

    def read_first(self, job: tuple[str, str], location: Location, files: list, rows: int, cfg: IndexConfig) -> None:
        """Start reading ``job``'s first chunk (the plan step: its first load call then finds it
        read, as it finds every later one)."""
        self._read_ahead(job, location, None, files, _position(files, 0, 0), rows, cfg)

    def _read_ahead(self, job: tuple[str, str], location: Location, opened: _OpenFile | None, files: list,
                    at: tuple[int, int], rows: int, cfg: IndexConfig) -> None:
        """Read the chunk at ``at`` (a ``_position``) in the background, from ``opened`` if it
        stands there; past the last file, close ``opened`` instead."""
        if at[0] < len(files):
            key = (files[at[0]][1], at[1])
            future = self._pool.submit(_read, location, opened, *key, rows, cfg)
            with self._lock:
                self._ahead[job] = (key, future)
        elif opened is not None:
            opened.close()

    def forget(self, job: tuple[str, str]) -> None:
        """Drop ``job``'s read ahead (closing its file once the read is over)."""
        with self._lock:
            ahead = self._ahead.pop(job, None)
        if ahead is not None:
            ahead[1].add_done_callback(_close_read)


def _close_read(future: Future) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result()[1].close()


def _read(location: Location, opened: _OpenFile | None, path: str, row: int, rows: int,
          cfg: IndexConfig) -> tuple[Chunk, _OpenFile]:
    """The chunk at ``path``/``row``, from ``opened`` if it stands there (else a new stream), and
    the stream after it. The stream is closed if this fails."""
    if opened is not None and (opened.path != path or opened.next_row != row):
        opened.close()
        opened = None
    if opened is None:
        opened = _seek(location, path, row, rows)
    try:
        batch = opened.pending if opened.pending is not None else next(opened.batches)
        opened.pending = None
        opened.next_row = row + batch.num_rows
        return parse_chunk(pa.Table.from_batches([batch]), cfg), opened
    except BaseException:
        opened.close()
        raise


def _seek(location: Location, path: str, row: int, rows: int) -> _OpenFile:
    handle = location.fs.open_input_file(path)
    parquet = pq.ParquetFile(handle, pre_buffer=False, buffer_size=8 << 20)
    first = 0  # skip whole row groups before ``row`` without decoding them
    groups = range(parquet.metadata.num_row_groups)
    for rg in groups:
        size = parquet.metadata.row_group(rg).num_rows
        if row < first + size:
            break
        first += size
    else:
        handle.close()
        raise RuntimeError(f"row {row} is past the end of {path}")
    opened = _OpenFile(path, handle, parquet.iter_batches(batch_size=rows, row_groups=list(groups[rg:])), first)
    while opened.next_row < row:
        batch = next(opened.batches)
        if opened.next_row + batch.num_rows > row:
            opened.pending = batch.slice(row - opened.next_row)
            opened.next_row = row
        else:
            opened.next_row += batch.num_rows
    return opened


def _position(files: list, file_no: int, row: int) -> tuple[int, int]:
    """``(file_no, row)`` moved past the ends of files (and empty files): ``len(files)`` at the end."""
    while file_no < len(files) and row >= files[file_no][2]:
        file_no, row = file_no + 1, 0
    return file_no, row


def rows_per_chunk(cfg: IndexConfig) -> int:
    """``CHUNK_ROWS``, fewer for wide vectors: a chunk holds at most ``CHUNK_VALUES`` floats."""
    return max(1, min(CHUNK_ROWS, CHUNK_VALUES // max(cfg.dimension or 1, 1)))


_reader = _Reader()


def _job(state: State) -> tuple[str, str]:
    return state["kind"], state["job"]


def load(host: JobHost, state: State) -> State:
    job = _job(state)
    found = bulk.load(host.jobs, *job)
    assert found is not None, state
    doc = found[1]
    if doc["status"] != IN_PROGRESS or host.stopping.is_set():
        _reader.forget(job)
        return {**state, "more": False}
    files = doc["files"]
    file_no, row = _position(files, *doc["cursor"])  # past empty files, or the end of one
    if file_no == len(files):
        return _advance(host, state, doc, (file_no, row), 0, 0)
    cfg = _config(host, state)
    namespace, path, _ = files[file_no]
    chunk = _reader.chunk(job, locate(doc["uri"], local_files=host.local_files), files, (file_no, row),
                          rows_per_chunk(cfg), cfg)
    if chunk.problems and doc["errorMode"] == "abort":
        at, message = chunk.problems[0]
        raise JobFailed(f"{path} row {row + at}: {message} (errorMode abort; {doc['recordsImported']} "
                        "records were imported before it).")
    try:
        if len(chunk.records):
            host.engine.ingest(state["index"], namespace, chunk.records)
    except Exception:  # NotFoundError, or its slab's directory dropped under the write
        _config(host, state)  # the index went away meanwhile: say so as the user's doing
        raise
    return _advance(host, state, doc, (file_no, row + chunk.rows), chunk.rows, len(chunk.records))


def _advance(host: JobHost, state: State, before: bulk.Doc, cursor: tuple[int, int], rows: int,
             written: int) -> State:
    """Record one chunk's progress, unless the job was cancelled (or another run of this step
    moved the cursor) meanwhile; answer whether to load more."""
    def progressed(doc: bulk.Doc) -> bulk.Doc | None:
        if doc["status"] != IN_PROGRESS or doc["cursor"] != before["cursor"]:
            return None
        read = doc["rowsRead"] + rows
        return {**doc, "cursor": list(cursor), "rowsRead": read, "recordsImported": doc["recordsImported"] + written,
                "percentComplete": min(99.9, 100.0 * read / doc["totalRows"]) if doc["totalRows"] else 0.0}
    doc = bulk.mutate(host.jobs, state["kind"], state["job"], progressed)
    more = doc["status"] == IN_PROGRESS and list(doc["cursor"]) != [len(doc["files"]), 0] \
        and not host.stopping.is_set()
    if not more:
        _reader.forget(_job(state))
    return {**state, "more": more}


def parse_chunk(table: pa.Table, cfg: IndexConfig) -> Chunk:
    """Rows → records (each id once: a repeated id keeps its last row, as in an upsert), as the
    columns of a slab, and ``(row, problem)`` for every row that breaks a rule an upsert would
    refuse (the same checks and messages). Vectors and ids are checked in bulk; a chunk whose
    every row is good takes ``_good_rows``, the rest go row by row."""
    n = table.num_rows
    problems: dict[int, str] = {}
    ids = _one_array(table.column("id"))
    good_ids = _good_ids(ids)
    dense = None
    if "values" in table.column_names:
        dense, dense_problems = _dense(table.column("values"), cfg.dimension)
        problems.update(dense_problems)
    sparse = "sparse_values" in table.column_names
    metadata = table.column("metadata") if "metadata" in table.column_names else None
    if not problems and not sparse and cfg.vector_type != "sparse" and good_ids.all():
        records = _good_rows(ids, metadata, dense)
        if records is not None:
            return Chunk(n, records, [])
    return _row_by_row(n, ids.to_pylist(), good_ids, dense,
                       table.column("sparse_values").to_pylist() if sparse else [None] * n,
                       [None] * n if metadata is None else metadata.to_pylist(), problems, cfg)


def _good_rows(ids: pa.Array, metadata: pa.ChunkedArray | None, dense: np.ndarray | None) -> RecordColumns | None:
    """The records of a dense chunk whose ids and vectors all passed, built as columns, with no
    Python object per row: Arrow finds the distinct metadata texts, each is parsed and validated
    once (rows that share one, a category or a source document, share it), and Arrow spreads
    their JSON and typed columns over the rows. None if any metadata fails or an id repeats
    (``_row_by_row`` then says which row, or keeps the last)."""
    n = len(ids)
    if pc.count_distinct(ids).as_py() != n:
        return None
    if metadata is None or pa.types.is_null(metadata.type):
        texts, spread = [], None
    else:
        encoded = pc.dictionary_encode(_one_array(metadata))
        texts, spread = encoded.dictionary.to_pylist(), encoded.indices
    try:
        parsed = [validate_metadata(orjson.loads(text)) for text in texts]
    except (SpruceError, orjson.JSONDecodeError):
        return None
    layout, typed = build_metadata_columns(parsed)
    if spread is None:
        stored = pa.nulls(n, pa.string())
    else:
        stored = pa.array([None if md is None else orjson.dumps(md).decode() for md in parsed], pa.string())
        stored, typed = stored.take(spread), {name: column.take(spread) for name, column in typed.items()}
    return RecordColumns(ids.cast(pa.string()), dense, pa.nulls(n, pa.list_(pa.uint32())),
                         pa.nulls(n, pa.list_(pa.float32())), stored, layout, typed)


def _row_by_row(n: int, ids: list[str | None], good_ids: np.ndarray, dense: np.ndarray | None,
                sparse: list, metadata: list[str | None], problems: dict[int, str], cfg: IndexConfig) -> Chunk:
    """``parse_chunk`` one row at a time, for chunks with a bad row, a repeated id or sparse values."""
    records: dict[str, tuple[int, Record]] = {}
    for i in range(n):
        if i in problems:
            continue
        try:
            record_id = ids[i]
            if not good_ids[i]:
                if record_id is None:
                    raise JobFailed("`id` is required.")
                parse_id(record_id, "id")  # raises, saying what is wrong
            sv = None
            if sparse[i] is not None:
                sv = parse_sparse(sparse[i], "sparse_values")
            elif cfg.vector_type == "sparse":
                raise JobFailed("`sparse_values` is required in a sparse index.")
            md = None
            if metadata[i] is not None:
                try:
                    md = validate_metadata(orjson.loads(metadata[i]))
                except orjson.JSONDecodeError:
                    raise JobFailed("`metadata` is not valid JSON.") from None
            records.pop(record_id, None)  # a repeated id: the later row, in the later row's place
            records[record_id] = (i, Record(record_id, None, sv, md))
        except SpruceError as exc:
            problems[i] = exc.message
        except JobFailed as exc:
            problems[i] = str(exc)
    vectors = dense
    if dense is not None and len(records) < n:  # rows skipped or repeated (else every row, in order: no copy)
        vectors = dense[np.fromiter((i for i, _ in records.values()), dtype=np.int64, count=len(records))]
    kept = [rec for _, rec in records.values()]
    return Chunk(n, RecordColumns.of(kept, None if vectors is None else cfg.dimension, vectors),
                 sorted(problems.items()))


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    """``column`` as one array: its only chunk as it is (a chunk is one batch), else a copy."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _good_ids(column: pa.Array) -> np.ndarray:
    """Which rows hold an id ``parse_id`` accepts (1 to ``MAX_ID_LENGTH`` ASCII characters
    without NUL), checked in bulk: rows that fail are then checked one by one, for the message."""
    ascii_ = pc.string_is_ascii(column)
    length = pc.binary_length(column)  # characters, for ASCII
    good = pc.and_(pc.and_(ascii_, pc.invert(pc.match_substring(column, "\0"))),
                   pc.and_(pc.greater_equal(length, 1), pc.less_equal(length, MAX_ID_LENGTH)))
    return pc.fill_null(good, False).to_numpy(zero_copy_only=False)


def _dense(column: pa.ChunkedArray, dimension: int | None) -> tuple[np.ndarray, dict[int, str]]:
    """The ``values`` column as an (n, dimension) float32 matrix (rows with problems hold zeros)."""
    arr = _one_array(column)  # not combine_chunks(): a copy of the chunk's 77 MB of floats
    n = len(arr)
    dim = dimension or 0
    lengths = pc.fill_null(pc.list_value_length(arr), -1).to_numpy(zero_copy_only=False).astype(np.int64)
    flat_array = pc.list_flatten(arr)
    if not pa.types.is_float32(flat_array.type):
        flat_array = flat_array.cast(pa.float64())  # then to float32 below: out-of-range values become inf
    flat = flat_array.to_numpy(zero_copy_only=False)  # nulls → NaN
    ok = lengths == dim
    with np.errstate(over="ignore", invalid="ignore"):
        if ok.all():  # the usual case: one reshape, no gather
            matrix = flat.reshape(n, dim).astype(np.float32, copy=False)
        else:
            starts = np.concatenate(([0], np.cumsum(np.maximum(lengths, 0))[:-1])).astype(np.int64)
            matrix = np.zeros((n, dim), dtype=np.float32)
            matrix[ok] = flat[starts[ok, None] + np.arange(dim)].astype(np.float32)
    # NaN and ±inf carry through a row's sum, so a row whose sum is finite is: one float per row
    # (a BLAS product, 6× numpy's float64 sum), not a 19 MB boolean matrix of fresh pages per
    # chunk. A float32 sum of finite values can overflow, so rows whose sum is not are looked at.
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.isfinite(matrix @ np.ones(dim, dtype=np.float32))
    suspect = np.flatnonzero(~finite)
    finite[suspect] = np.isfinite(matrix[suspect]).all(axis=1)
    problems: dict[int, str] = {}
    for i in np.flatnonzero(~ok | ~finite):
        if lengths[i] < 0:
            problems[int(i)] = f"`values` is required: a list of {dim} numbers."
        elif lengths[i] != dim:
            problems[int(i)] = f"Vector dimension {lengths[i]} does not match the dimension of the index {dim}."
        else:
            problems[int(i)] = "`values` must contain only finite numbers within the 32-bit float range."
    return matrix, problems


# ----------------------------------------------------------------------------- finish


def finish(host: JobHost, state: State) -> State:
    def completed(doc: bulk.Doc) -> bulk.Doc | None:
        if doc["status"] != IN_PROGRESS or list(doc["cursor"]) != [len(doc["files"]), 0]:
            return None  # cancelled, or stopped by a shutdown (resumed at the next start)
        return {**doc, "status": bulk.COMPLETED, "percentComplete": 100.0, "finishedAt": bulk.now()}
    bulk.mutate(host.jobs, state["kind"], state["job"], completed)
    return {key: value for key, value in state.items() if key != "more"}


def on_failure(host: JobHost, state: State, error: str) -> None:
    _reader.forget(_job(state))  # the file a failed load left open
    bulk.fail_job(host.jobs, state["kind"], state["job"], error)


WORKFLOW = register(Workflow(bulk.IMPORT, (Step("plan", plan), Step("load", load, repeats=True),
                                           Step("finish", finish)), on_failure=on_failure))
