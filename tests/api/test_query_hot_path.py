"""``POST /data/{index}/query`` is answered ahead of FastAPI's router (``SpruceApp``), and
still behaves as every other route: key, version, error shapes (AUTH-1, ERR-3/5), 405."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.conftest import KEY, SERVERLESS, api_client

QUERY = "/data/movies/query"


@pytest.fixture
def client(tmp_path):
    with api_client(tmp_path) as c:
        assert c.post("/indexes", json={"name": "movies", "dimension": 2, "spec": SERVERLESS}).status_code == 201
        assert c.post("/data/movies/vectors/upsert",
                      json={"vectors": [{"id": "a", "values": [1.0, 0.0]}, {"id": "b", "values": [0.0, 1.0]}]}
                      ).status_code == 200
        yield c


@pytest.fixture
def routed(client, monkeypatch):
    """The paths FastAPI's router saw."""
    seen: list[str] = []
    router = client.app.router

    class Spy:
        def __getattr__(self, name):
            return getattr(router, name)

        async def __call__(self, scope, receive, send):
            seen.append(scope["path"])
            await router(scope, receive, send)

    monkeypatch.setattr(client.app, "router", Spy())
    client.app.middleware_stack = None  # rebuilt around the spy on the next request
    return seen


def test_query_skips_the_router_but_other_routes_do_not(client, routed):
    r = client.post(QUERY, json={"vector": [1.0, 0.1], "topK": 1}, headers={"X-Pinecone-API-Version": "2025-10"})
    assert r.status_code == 200, r.text
    assert [m["id"] for m in r.json()["matches"]] == ["a"]
    assert "x-pinecone-max-indexed-lsn" in r.headers and r.headers["x-pinecone-api-version"] == "2025-10"
    assert routed == []
    assert client.get("/data/movies/vectors/list").status_code == 200
    assert routed == ["/data/movies/vectors/list"]


def test_query_needs_a_valid_key(client):
    r = client.post(QUERY, json={"vector": [1.0, 0.0], "topK": 1}, headers={"Api-Key": KEY + "x"})
    assert r.status_code == 401
    assert r.json()["message"] == "Invalid API key." and r.json()["code"] == 16


def test_query_rejects_an_unknown_api_version(client):
    r = client.post(QUERY, json={"vector": [1.0, 0.0], "topK": 1}, headers={"X-Pinecone-API-Version": "1999-01"})
    assert r.status_code == 400 and r.json()["code"] == 3 and "no longer supported" in r.json()["message"]


def test_query_errors_are_data_plane_shaped(client):
    r = client.post(QUERY, json={"vector": [1.0, 0.0, 2.0], "topK": 1})
    assert r.status_code == 400
    assert set(r.json()) == {"code", "message", "details"} and "dimension" in r.json()["message"]
    missing = client.post("/data/nope/query", json={"vector": [1.0, 0.0], "topK": 1})
    assert missing.status_code == 404 and missing.json()["message"] == "Index nope not found."


def test_other_methods_on_query_get_405_as_on_every_route(client):
    for method in ("GET", "PUT", "DELETE"):
        r = client.request(method, QUERY, headers={"X-Pinecone-API-Version": "2025-10"})
        routed = client.request(method, "/data/movies/vectors/upsert", headers={"X-Pinecone-API-Version": "2025-10"})
        assert r.status_code == routed.status_code == 405
        assert r.json() == {"code": 12, "message": f"Method {method} is not allowed on {QUERY}.", "details": []}
        for header in ("allow", "x-pinecone-api-version"):
            assert r.headers[header] == routed.headers[header], header
        assert r.headers["allow"] == "POST" and r.headers["x-pinecone-api-version"] == "2025-10"


def test_the_key_and_version_are_checked_before_the_method(client):
    assert client.get(QUERY, headers={"Api-Key": "wrong"}).status_code == 401
    assert client.get(QUERY, headers={"X-Pinecone-API-Version": "garbage"}).status_code == 400


def test_query_errors_echo_the_version_served(client):
    r = client.post(QUERY, json={"vector": [1.0], "topK": 1}, headers={"X-Pinecone-API-Version": "2026-01"})
    assert r.status_code == 400 and r.headers["x-pinecone-api-version"] == "2025-10"


def test_a_body_sent_in_chunks_is_read_whole(client):
    def chunks():
        yield b'{"vector": [1.0, '
        yield b'0.1], "topK": 1}'

    r = client.post(QUERY, content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert [m["id"] for m in r.json()["matches"]] == ["a"]


def test_a_client_that_disconnects_mid_body_gets_no_answer(client):
    sent: list[dict] = []
    messages = iter([{"type": "http.request", "body": b'{"vector": [1.0', "more_body": True},
                     {"type": "http.disconnect"}])

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": QUERY, "headers": [(b"api-key", KEY.encode())],
             "query_string": b""}
    asyncio.run(client.app(scope, receive, send))
    assert sent == []


@pytest.mark.parametrize("path", ["/data//query", "/data/a/b/query", "/data/movies/queryx"])
def test_paths_that_are_not_a_query_route_go_to_the_router(client, path):
    assert client.post(path, json={}).status_code == 404


@pytest.mark.parametrize(("path", "body"), [
    (QUERY, {"vector": [1.0, 0.1], "topK": 1}),
    ("/data/movies/vectors/upsert", {"vectors": [{"id": "c", "values": [0.5, 0.5]}]}),
    ("/data/movies/vectors/update", {"id": "a", "setMetadata": {"genre": "drama"}}),
    ("/data/movies/vectors/update", {"filter": {"genre": "drama"}, "setMetadata": {"seen": True}}),
    ("/data/movies/describe_index_stats", {}),
])
def test_one_catalog_read_per_data_plane_request(client, monkeypatch, path, body):
    """The router validates against the index's config and hands that config to the engine: a
    second read would be a second consistent GetItem per request on AWS."""
    catalog = client.app.state.engine._catalog
    reads: list[str] = []
    get_index = catalog.get_index
    monkeypatch.setattr(catalog, "get_index", lambda name: reads.append(name) or get_index(name))
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    assert reads == ["movies"]
