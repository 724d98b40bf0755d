"""``spruce serve``: the embedded server on one machine, data kept on disk across restarts."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
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
    args = parser.parse_args(argv)
    _serve(args.host, args.port, args.data_dir.resolve(), args.public_url)


def _serve(host: str, port: int, data_dir: Path, public_url: str | None) -> None:
    import uvicorn

    from spruce.api.app import create_app
    from spruce.engine.local import open_local
    from spruce.jobs.embedded import open_jobs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
