from __future__ import annotations

import pytest
from pinecone import Pinecone

from tests.sdk.server import Server


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path / "data").start()
    yield srv
    srv.stop()


@pytest.fixture
def pc(server) -> Pinecone:
    return Pinecone(api_key=server.api_key, host=server.url)
