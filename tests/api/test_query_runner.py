"""Where a query runs (``spruce.api.runner``): on the event loop only when it is alone and its
index's queries have been quick; otherwise on a worker thread, so a slow query or a second
one in flight never holds the loop."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from spruce.api.runner import INLINE_BELOW_S, QueryRunner
from tests.api.conftest import KEY, SERVERLESS, api_client


def _thread(delay: float = 0.0) -> int:
    time.sleep(delay)
    return threading.get_ident()


def _runs_inline(runner: QueryRunner, index: str, delay: float = 0.0) -> bool:
    async def go() -> bool:
        return await runner.run(index, _thread, delay) == threading.get_ident()
    return asyncio.run(go())


def test_an_index_first_query_runs_on_a_worker_then_quick_ones_on_the_loop():
    runner = QueryRunner()
    assert not _runs_inline(runner, "movies")
    assert _runs_inline(runner, "movies")
    assert not _runs_inline(runner, "books")  # each index earns it on its own


def test_slow_queries_go_back_to_a_worker():
    runner = QueryRunner()
    _runs_inline(runner, "movies")
    assert _runs_inline(runner, "movies", delay=INLINE_BELOW_S * 20)  # runs inline: it looked quick
    assert not _runs_inline(runner, "movies")  # the average is now well over the bound
    for _ in range(30):  # quick queries bring it back under
        _runs_inline(runner, "movies")
    assert _runs_inline(runner, "movies")


def test_a_query_while_another_is_in_flight_runs_on_a_worker():
    runner = QueryRunner()
    _runs_inline(runner, "movies")

    async def go() -> tuple[int, int]:
        # "books" has no record yet, so its query goes to a worker and is in flight while the
        # quick "movies" query starts.
        return await asyncio.gather(runner.run("books", _thread, 0.05), runner.run("movies", _thread))

    books, movies = asyncio.run(go())
    loop_thread = threading.get_ident()
    assert books != loop_thread and movies != loop_thread
    assert runner.inline("movies")  # alone again


def test_a_failed_query_is_not_remembered():
    runner = QueryRunner()

    def missing() -> None:
        raise LookupError("no such index")

    with pytest.raises(LookupError):
        asyncio.run(runner.run("nope", missing))
    assert not runner.inline("nope") and runner._recent == {}


def test_concurrent_queries_through_the_api_all_answer(tmp_path):
    with api_client(tmp_path) as client:
        assert client.post("/indexes", json={"name": "movies", "dimension": 2, "spec": SERVERLESS}).status_code == 201
        vectors = [{"id": str(i), "values": [1.0, i / 10]} for i in range(10)]
        assert client.post("/data/movies/vectors/upsert", json={"vectors": vectors}).status_code == 200

        async def go() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=client.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                         headers={"Api-Key": KEY}) as c:
                return await asyncio.gather(*[c.post("/data/movies/query", json={"vector": [1.0, i / 10], "topK": 1})
                                              for i in range(10)])

        for _ in range(2):  # the first round puts the index on the inline path
            answers = asyncio.run(go())
            assert [r.status_code for r in answers] == [200] * 10
            assert [r.json()["matches"][0]["id"] for r in answers] == [str(i) for i in range(10)]
