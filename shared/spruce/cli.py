"""``spruce serve``: the embedded server on one machine, data kept on disk across restarts.
``spruce import`` / ``spruce export``: bulk jobs on a running server, followed with a progress bar."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

KEY_ENV = "SPRUCE_API_KEY"
KEY_FILE = "api_key"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="spruce", description="A vector database that speaks the Pinecone API.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the embedded server", description=(
        f"Run the embedded server. The API key comes from ${KEY_ENV}; without it a key is generated "
        f"on first start and kept in DATA_DIR/{KEY_FILE}."
    ))
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=5080, help="port to listen on (default: 5080)")
    serve.add_argument("--data-dir", type=Path, default=Path("spruce-data"),
                       help="where indexes are stored (default: ./spruce-data)")
    serve.add_argument("--public-url", help="URL clients use to reach this server (default: http://HOST:PORT)")
    _bulk_commands(commands)
    args = parser.parse_args(argv)
    if args.command == "serve":
        # uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the signal again under
        # the handler it found. Python's SIGTERM handler ends the process there, before ``_serve``
        # closes the engine: its index-building child then outlived it, holding 0.6–0.7 GB (and
        # building on, if a build was running). So SIGTERM, like SIGINT, becomes an exception.
        signal.signal(signal.SIGTERM, _terminated)
        try:
            _serve(args.host, args.port, args.data_dir.resolve(), args.public_url)
        except (KeyboardInterrupt, _Terminated) as stop:
            # End by the signal, as Python would, so a calling shell sees it, but without
            # Python's traceback of it.
            signum = signal.SIGTERM if isinstance(stop, _Terminated) else signal.SIGINT
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
    else:
        raise SystemExit(_bulk(args))


class _Terminated(BaseException):
    """SIGTERM arrived (``spruce serve``): raised where the signal is handled, as SIGINT raises
    ``KeyboardInterrupt``."""


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _bulk_commands(commands) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default="http://127.0.0.1:5080",
                        help="spruce serve's URL or the AWS stack's ApiUrl (default: http://127.0.0.1:5080)")
    common.add_argument("--api-key", help=f"API key (default: ${KEY_ENV}, else DATA_DIR/{KEY_FILE})")
    common.add_argument("--data-dir", type=Path, default=Path("spruce-data"),
                        help="where spruce serve keeps its key file (default: ./spruce-data)")
    common.add_argument("--index", required=True, help="the index")
    common.add_argument("--no-wait", action="store_true", help="start the job and return at once")
    imp = commands.add_parser("import", parents=[common], help="bulk-import Parquet files into an index",
                              description="Import URI/<namespace>/*.parquet (Pinecone's layout; s3://, file:// or a "
                                          "path on the server's machine) into new namespaces. Ctrl-C cancels.")
    imp.add_argument("uri")
    imp.add_argument("--error-mode", choices=("continue", "abort"), default="continue",
                     help="skip bad rows (continue, default) or stop at the first one (abort)")
    exp = commands.add_parser("export", parents=[common], help="export a namespace to Parquet (import layout)",
                              description="Write one namespace to URI/<namespace>/part-NNNNN.parquet, which "
                                          "`spruce import` reads back. Ctrl-C cancels.")
    exp.add_argument("uri")
    exp.add_argument("--namespace", default="", help="the namespace (default: the default namespace)")


def _bulk(args: argparse.Namespace) -> int:
    from spruce.bulk_client import ApiError, Client, run_export, run_import

    key = args.api_key or os.environ.get(KEY_ENV, "").strip()
    if not key and (args.data_dir / KEY_FILE).exists():
        key = (args.data_dir / KEY_FILE).read_text().strip()
    if not key:
        print(f"no API key: pass --api-key, set ${KEY_ENV}, or point --data-dir at the server's data", file=sys.stderr)
        return 2
    client = Client(args.url, key)
    try:
        if args.command == "import":
            return run_import(client, args.index, args.uri, error_mode=args.error_mode, wait=not args.no_wait)
        return run_export(client, args.index, args.namespace, args.uri, wait=not args.no_wait)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _serve(host: str, port: int, data_dir: Path, public_url: str | None) -> None:
    import uvicorn

    from spruce.api.app import create_app
    from spruce.engine.local import open_local
    from spruce.jobs.embedded import open_jobs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tune_server_process()
    public_url = (public_url or f"http://{_client_host(host)}:{port}").rstrip("/")
    engine = open_local(data_dir)
    jobs, runner = open_jobs(engine)
    try:
        api_key = load_api_key(data_dir)
        engine.register_api_key(api_key)
        print(f"Spruce is serving {public_url} (data in {data_dir})", flush=True)
        print(f"API key: {api_key}", flush=True)
        print(f'Connect with: Pinecone(api_key="{api_key}", host="{public_url}")', flush=True)
        # uvicorn turns SIGINT/SIGTERM into a graceful shutdown; run() then returns.
        uvicorn.Server(uvicorn.Config(create_app(engine, public_url=public_url, jobs=jobs), host=host, port=port,
                                    access_log=False)).run()
    finally:
        runner.close()
        engine.close()
        print(f"Spruce stopped (data in {data_dir} closed)", flush=True)


#: The collector's first threshold in the server (CPython's default is 700 container allocations).
GC_THRESHOLD0 = 50_000


def tune_server_process() -> None:
    """Process-wide settings of the embedded server.

    Requests run on a thread pool, so a query's matrix products need no BLAS threads of their
    own: extra ones only wait for cores (on 2 busy cores, p99 of a 50k-row scan went 12 → 6 ms).

    A 200-record upsert allocates ~600 containers (the parsed body's lists and dicts), so at
    CPython's default threshold the collector ran 2,400 young and 13 full collections during a
    200k-record load through the SDK, 2.4 s holding the GIL; with ``GC_THRESHOLD0`` it ran 15
    (0.2 s), the server's CPU for the load fell from 25–26 to 21–22 s and ingest rose from
    10.0–10.5k to 11.9–12.2k records/s (bench/RESULTS.md, 2026-12-04). Reference cycles wait
    longer to be freed: at most ``GC_THRESHOLD0`` new containers' worth.

    Arrow allocates from jemalloc, not its default mimalloc (``spruce.arrow_memory``): a bulk
    import, the first in a fresh server, no longer pays for zeroing huge pages."""
    from threadpoolctl import threadpool_limits

    from spruce.arrow_memory import use_jemalloc

    threadpool_limits(1, user_api="blas")
    gc.set_threshold(GC_THRESHOLD0)
    use_jemalloc()


def load_api_key(data_dir: Path) -> str:
    """``$SPRUCE_API_KEY``, else the key kept in ``data_dir/api_key``, else a new one stored there (0600)."""
    if key := os.environ.get(KEY_ENV, "").strip():
        return key
    path = data_dir / KEY_FILE
    if path.exists() and (key := path.read_text().strip()):
        return key
    key = "spruce_" + secrets.token_urlsafe(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(key + "\n")
    return key


def _client_host(host: str) -> str:
    """A wildcard listen address is not something a client can dial."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


if __name__ == "__main__":
    main()
