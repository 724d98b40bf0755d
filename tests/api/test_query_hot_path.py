"""``POST /data/{index}/query`` is answered ahead of FastAPI's router (``SpruceApp``), and
still behaves as every other route: key, version, error shapes (AUTH-1, ERR-3/5), 405."""

from __future__ import annotations

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


def test_other_methods_on_query_get_405(client):
    r = client.get(QUERY)
    assert r.status_code == 405 and r.json()["code"] == 12


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
