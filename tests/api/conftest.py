from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from spruce.api.app import create_app
from spruce.engine.local import open_local

KEY = "test-key"
SERVERLESS = {"serverless": {"cloud": "aws", "region": "us-east-1"}}


@contextmanager
def api_client(data_dir: Path) -> Iterator[TestClient]:
    """An embedded engine behind the ASGI app, with a client that sends a valid key."""
    engine = open_local(data_dir)
    engine.register_api_key(KEY)
    try:
        with TestClient(create_app(engine, public_url="http://testserver"), headers={"Api-Key": KEY}) as c:
            yield c
    finally:
        engine.close()
