"""The resumable relay, in one process: event ids, resume, ends, bounds, on both stores
(in memory, and a real Redis server on loopback)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import xstream
from tests.conftest import KEY
from tests.relay.conftest import RedisServer
from xstream._sse.decoder import SSEDecoder
from xstream.testing import MockServer, Reply

TEXT = " ".join(f"w{i}" for i in range(60))


def events_of(body: bytes) -> list[tuple[str | None, str, str]]:
    """(id, event name, data) of each event in an SSE body (comments skipped)."""
    decoder = SSEDecoder()
    events = decoder.feed(body) + decoder.close()
    return [(e.id or None, e.event, e.data) for e in events]


async def read_all(relay: xstream.ResumableRelay, sid: str, after: str | None = None) -> bytes:
    return b"".join([b async for b in relay.events(sid, after)])


async def until_closed(srv: MockServer, seconds: float = 5.0) -> None:
    """Wait until the server has no stream open (upstream closed), or fail."""
    for _ in range(int(seconds / 0.05)):
        if srv.open_streams == 0:
            return
        await asyncio.sleep(0.05)
    assert srv.open_streams == 0


def text_of(events: list[tuple[str | None, str, str]]) -> str:
    out = []
    for _, name, data in events:
        if name == "message" and data != "[DONE]":
            chunk = json.loads(data)
            out.append(
                chunk["choices"][0]["delta"].get("content") or "" if chunk["choices"] else ""
            )
    return "".join(out)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "memory":
        s: Any = xstream.MemoryStore()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        s = xstream.RedisStore(server.url, prefix=f"t{id(request)}:")
    yield s
    await s.aclose()


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[MockServer, xstream.AsyncClient]]:
    async with (
        MockServer() as srv,
        xstream.AsyncClient(api_key=KEY, base_url=srv.base_url) as client,
    ):
        yield srv, client


async def start(relay: xstream.ResumableRelay, client: xstream.AsyncClient, **options: Any) -> str:
    stream = await client.chat.completions.create(
        model="grok-4", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    return await relay.start(stream, **options)


async def test_every_event_has_an_id_and_the_end_ends_the_response(
    store: Any, upstream: tuple[MockServer, xstream.AsyncClient]
) -> None:
    srv, client = upstream
    srv.enqueue(Reply(text=TEXT, chunk_size=8))
    relay = xstream.ResumableRelay(store)
    sid = await start(relay, client)
    events = events_of(await read_all(relay, sid))
    assert [e[0] for e in events] == [str(i) for i in range(1, len(events) + 1)]
    assert events[-1][2] == "[DONE]"
    assert text_of(events) == TEXT


async def test_a_reader_resumes_after_its_last_id_with_nothing_lost_or_twice(
    store: Any, upstream: tuple[MockServer, xstream.AsyncClient]
) -> None:
    srv, client = upstream
    srv.enqueue(Reply(text=TEXT, chunk_size=4, delay=0.01))
    relay = xstream.ResumableRelay(store)
    sid = await start(relay, client)
    first: list[bytes] = []
    async with contextlib_aclosing(relay.events(sid)) as reader:
        async for block in reader:
            first.append(block)
            if len(first) == 5:
                break  # the browser's connection drops
    seen = events_of(b"".join(first))
    last = seen[-1][0]
    rest = events_of(await read_all(relay, sid, last))
    ids = [e[0] for e in seen + rest]
    assert ids == [str(i) for i in range(1, len(ids) + 1)]
    assert text_of(seen + rest) == TEXT


async def test_two_readers_resuming_at_once_get_the_same_events(
    store: Any, upstream: tuple[MockServer, xstream.AsyncClient]
) -> None:
    srv, client = upstream
    srv.enqueue(Reply(text=TEXT, chunk_size=4, delay=0.005))
    relay = xstream.ResumableRelay(store)
    sid = await start(relay, client)
    await asyncio.sleep(0.05)
    a, b = await asyncio.gather(read_all(relay, sid, "3"), read_all(relay, sid, "3"))
    assert events_of(a) == events_of(b)
    assert events_of(a)[0][0] == "4"


async def test_the_producer_outlives_its_reader_within_keep_alive(
    store: Any, upstream: tuple[MockServer, xstream.AsyncClient]
) -> None:
    srv, client = upstream
    srv.enqueue(Reply(text=TEXT, chunk_size=4, delay=0.005))
    relay = xstream.ResumableRelay(store, keep_alive=5.0)
    sid = await start(relay, client)
    async for _ in relay.events(sid):
        break  # the reader leaves at once
    await asyncio.sleep(0.6)  # the answer goes on into the store
    events = events_of(await read_all(relay, sid, "1"))
    assert events[-1][2] == "[DONE]"
    assert text_of(events_of(await read_all(relay, sid))) == TEXT


async def test_with_no_reader_for_keep_alive_upstream_is_closed(
    store: Any, upstream: tuple[MockServer, xstream.AsyncClient]
) -> None:
    srv, client = upstream
    srv.enqueue(Reply(text=TEXT * 20, chunk_size=4, delay=0.02))  # about 12 s
    relay = xstream.ResumableRelay(store, keep_alive=0.3, idle=1.0)
    sid = await start(relay, client)
    await asyncio.sleep(1.0)
    await until_closed(srv)  # the model stopped, long before the answer's end (12 s)
    events = events_of(await read_all(relay, sid))
    assert events[-1][1] == "error"
    assert json.loads(events[-1][2])["error"]["type"] == "stream_stopped"


async def test_stop_works_from_another_replica(
    store: Any, upstream: tuple[MockServer, xstream.AsyncClient]
) -> None:
    srv, client = upstream
    srv.enqueue(Reply(text=TEXT * 20, chunk_size=4, delay=0.02))
    producer = xstream.ResumableRelay(store, idle=3.0)
    other = xstream.ResumableRelay(store, idle=3.0)  # shares the store, produces nothing
    sid = await start(producer, client)
    reading = asyncio.ensure_future(read_all(other, sid))
    await asyncio.sleep(0.3)
    await other.stop(sid)
    body = await asyncio.wait_for(reading, 5)
    events = events_of(body)
    assert json.loads(events[-1][2])["error"]["type"] == "stream_stopped"
    await until_closed(srv)


async def test_a_stop_asked_before_the_producer_starts_holds(
    store: Any, upstream: tuple[MockServer, xstream.AsyncClient]
) -> None:
    # A server makes the answer for its readers, the user presses Stop, and only then
    # does the worker take the question up: the stop must not be lost.
    srv, client = upstream
    srv.enqueue(Reply(text=TEXT * 20, chunk_size=4, delay=0.02))
    relay = xstream.ResumableRelay(store, idle=3.0)
    await store.create("early")
    await relay.stop("early")
    await start(relay, client, stream_id="early")
    events = events_of(await asyncio.wait_for(read_all(relay, "early"), 10))
    assert json.loads(events[-1][2])["error"]["type"] == "stream_stopped"
    await until_closed(srv)


async def test_an_upstream_error_reaches_the_reader_as_an_error_event(
    store: Any, upstream: tuple[MockServer, xstream.AsyncClient]
) -> None:
    srv, client = upstream
    srv.enqueue(Reply(text=TEXT, chunk_size=4, drop_after=3))
    relay = xstream.ResumableRelay(store)
    sid = await start(relay, client)
    events = events_of(await read_all(relay, sid))
    assert [e[1] for e in events[:3]] == ["message"] * 3
    assert events[-1][1] == "error"
    assert KEY not in str(events)


async def test_a_silent_producer_is_gone_for_its_readers(store: Any) -> None:
    relay = xstream.ResumableRelay(store, idle=0.4, poll=0.1)
    await store.create("orphan")
    await store.append("orphan", b"data: 1\n\n")  # then its replica dies: no end, no beat
    events = events_of(await asyncio.wait_for(read_all(relay, "orphan"), 5))
    assert events[0] == ("1", "message", "1")
    assert json.loads(events[-1][2])["error"]["type"] == "producer_gone"


async def test_an_unknown_answer_is_a_clear_error(store: Any) -> None:
    relay = xstream.ResumableRelay(store)
    (event,) = events_of(await read_all(relay, "nope"))
    assert event[1] == "error" and json.loads(event[2])["error"]["type"] == "stream_not_found"
    (event,) = events_of(await read_all(relay, "nope", "not-a-number"))
    assert json.loads(event[2])["error"]["type"] == "invalid_last_event_id"


async def test_a_store_is_bounded_per_answer_and_forgets_it_after_its_ttl() -> None:
    store = xstream.MemoryStore(max_events=5, max_bytes=10_000, ttl=0.2)
    relay = xstream.ResumableRelay(store)
    await store.create("a")
    for i in range(20):
        await store.append("a", b"data: %d\n\n" % i)
    assert store.held_bytes <= 5 * len(b"data: 19\n\n")
    (event,) = events_of(await read_all(relay, "a", "1"))
    assert json.loads(event[2])["error"]["type"] == "resume_point_expired"
    big = xstream.MemoryStore(max_events=1000, max_bytes=1000)
    await big.create("b")
    for _ in range(100):
        await big.append("b", b"data: " + b"x" * 94 + b"\n\n")
    assert big.held_bytes <= 1000
    await asyncio.sleep(0.3)
    await store.create("c")  # a write sweeps what expired
    assert await store.meta("a") is None


async def test_redis_trims_to_max_events(redis_server: RedisServer) -> None:
    store = xstream.RedisStore(redis_server.url, prefix="trim:", max_events=5)
    try:
        await store.create("a")
        for i in range(20):
            await store.append("a", b"data: %d\n\n" % i)
        assert await store.redis.xlen("trim:a") == 5
        relay = xstream.ResumableRelay(store)
        (event,) = events_of(await read_all(relay, "a", "2"))
        assert json.loads(event[2])["error"]["type"] == "resume_point_expired"
    finally:
        await store.aclose()


async def test_redis_restarted_mid_answer_is_a_clear_error_and_nothing_twice(
    upstream: tuple[MockServer, xstream.AsyncClient],
) -> None:
    srv, client = upstream
    redis = RedisServer()
    redis.start()
    store = xstream.RedisStore(redis.url, prefix="restart:")
    try:
        srv.enqueue(Reply(text=TEXT * 10, chunk_size=4, delay=0.01))
        relay = xstream.ResumableRelay(store, poll=0.2)
        sid = await start(relay, client)
        got: list[bytes] = []

        async def read() -> None:
            async for block in relay.events(sid):
                got.append(block)

        reading = asyncio.ensure_future(read())
        await asyncio.sleep(0.4)
        redis.stop()
        redis.start()  # the same port, empty
        await asyncio.wait_for(reading, 10)
        events = events_of(b"".join(got))
        ids = [int(e[0]) for e in events if e[1] == "message" and e[0]]
        assert ids == sorted(set(ids))  # nothing twice
        assert events[-1][1] == "error"
        assert json.loads(events[-1][2])["error"]["type"] in {
            "store_unavailable",
            "stream_not_found",
        }
        # the producer did not go on appending to a broken answer
        await asyncio.sleep(0.3)
        assert not relay._producers
    finally:
        await store.aclose()
        redis.stop()


# -- the web glue -------------------------------------------------------------------------


async def test_the_aiohttp_glue_resumes_after_the_header_or_the_query_parameter(
    upstream: tuple[MockServer, xstream.AsyncClient],
) -> None:
    srv, client = upstream
    srv.enqueue(Reply(text=TEXT, chunk_size=8))
    relay = xstream.ResumableRelay()
    sid = await start(relay, client)

    async def handler(request: web.Request) -> web.StreamResponse:
        return await relay.to_aiohttp_response(request, request.match_info["sid"])

    app = web.Application()
    app.router.add_get("/answers/{sid}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/answers/{sid}"
            async with session.get(url) as r:
                whole = events_of(await r.read())
                assert r.headers["Content-Type"].startswith("text/event-stream")
            async with session.get(url, headers={"Last-Event-ID": "4"}) as r:
                by_header = events_of(await r.read())
            async with session.get(url + "?last_event_id=4") as r:
                by_query = events_of(await r.read())
    finally:
        await runner.cleanup()
    assert by_header == by_query == whole[4:]


def test_the_last_event_id_is_read_from_starlette_requests_too() -> None:
    class StarletteLike:  # Starlette's Request: headers, query_params (no .query)
        def __init__(self) -> None:
            self.headers: dict[str, str] = {}
            self.query_params = {"last_event_id": "7"}

    from xstream._streams.resumable import last_event_id_of

    assert last_event_id_of(StarletteLike()) == "7"


def contextlib_aclosing(gen: Any) -> Any:
    import contextlib

    return contextlib.aclosing(gen)


async def test_the_starlette_glue_serves_the_answer_over_asgi() -> None:
    from starlette.requests import Request

    relay = xstream.ResumableRelay()
    await relay.store.create("s")
    for i in range(1, 4):
        await relay.store.append("s", b"data: %d\n\n" % i)
    await relay.store.append("s", b"")  # the end
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/answers/s",
        "query_string": b"last_event_id=1",
        "headers": [],
    }
    response = relay.to_starlette_response(Request(scope), "s")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await response(scope, receive, send)
    assert sent[0]["status"] == 200
    assert dict(sent[0]["headers"])[b"content-type"].startswith(b"text/event-stream")
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert events_of(body) == [("2", "message", "2"), ("3", "message", "3")]


def test_the_readmes_two_replicas_run_as_pasted_and_print_what_it_says() -> None:
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Resumable streams") :]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    said = section.split("prints `", 1)[1].split("`", 1)[0]
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == said
