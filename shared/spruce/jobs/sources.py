"""Where bulk jobs read and write Parquet: a URI resolved to a pyarrow file system and a root path.

- ``s3://BUCKET/DIR`` on both hosts, through ``pyarrow.fs.S3FileSystem`` with the process's AWS
  credentials (the task function's role on AWS). ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``
  point it elsewhere (moto in tests), ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` give the region.
- ``file:///DIR`` and plain paths where the job runs on this machine (``JobHost.local_files``).

The import layout (DP-IMP-3): ``ROOT/<namespace>/<any>.parquet``, ``__default__`` for the default
namespace; an export writes the same layout.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import pyarrow.fs as pafs

from spruce.jobs.workflow import JobFailed

_s3: pafs.S3FileSystem | None = None
_s3_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Location:
    fs: pafs.FileSystem
    root: str  # path inside ``fs``, without a trailing slash
    uri: str

    def path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))


def s3_filesystem() -> pafs.S3FileSystem:
    """One S3 file system per process (clients are built once)."""
    global _s3
    with _s3_lock:
        if _s3 is None:
            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            options: dict = {"region": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                             or "us-east-1"}
            if endpoint:
                parsed = urlparse(endpoint)
                options.update(endpoint_override=parsed.netloc or parsed.path, scheme=parsed.scheme or "https")
            _s3 = pafs.S3FileSystem(**options)
        return _s3


def locate(uri: str, *, local_files: bool) -> Location:
    """The file system and root of ``uri`` (already checked by ``bulk.parse_uri``)."""
    if uri.lower().startswith("s3://"):
        return Location(s3_filesystem(), uri[len("s3://"):].rstrip("/"), uri)
    if not local_files:
        raise JobFailed(f"{uri} is not an s3:// URI; this host reads only S3.")
    path = unquote(urlparse(uri).path) if uri.lower().startswith("file://") else uri
    return Location(pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(path)).rstrip("/") or "/", uri)


def import_files(location: Location) -> list[tuple[str, str]]:
    """``(namespace folder, file path)`` of every ``*.parquet`` one level under each namespace
    folder, sorted. Other files are ignored; a missing or empty directory is the user's error."""
    try:
        folders = location.fs.get_file_info(pafs.FileSelector(location.root, allow_not_found=True))
    except (OSError, ValueError) as exc:
        raise JobFailed(f"Cannot list {location.uri}: {exc}") from None
    found: list[tuple[str, str]] = []
    for folder in sorted((f for f in folders if f.type == pafs.FileType.Directory), key=lambda f: f.base_name):
        for entry in location.fs.get_file_info(pafs.FileSelector(folder.path)):
            if entry.type == pafs.FileType.File and entry.base_name.endswith(".parquet"):
                found.append((folder.base_name, entry.path))
    if not found:
        raise JobFailed(f"No Parquet files found under {location.uri}: expected "
                        f"{location.uri.rstrip('/')}/<namespace>/<file>.parquet (__default__ for the default "
                        "namespace).")
    return sorted(found)


def has_files(location: Location, folder: str) -> bool:
    infos = location.fs.get_file_info(pafs.FileSelector(location.path(folder), allow_not_found=True))
    return any(info.type == pafs.FileType.File for info in infos)
