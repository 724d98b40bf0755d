from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="session")
def moto_server():
    """One moto server for the whole session (LanceDB's Rust S3 client bypasses moto's
    in-process mock, so anything touching lancedb on S3 needs a real endpoint)."""
    from moto.server import ThreadedMotoServer

    from tests.aws import MotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoServer(f"http://{host}:{port}")
    finally:
        server.stop()
