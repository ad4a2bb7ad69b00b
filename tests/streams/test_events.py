"""Any event stream (``client.sse``, ``open_sse``): resume, retry:, 204, POST, typed events.

Every test runs a real aiohttp server on 127.0.0.1, written here, whose
handlers drop connections, honour ``Last-Event-ID`` and record what they saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

import xstream
from tests.conftest import KEY
from xstream import EventStream, open_sse

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[..., Awaitable[str]]


@dataclass
class Seen:
    """What one request looked like when it reached the server."""

    method: str
    last_event_id: str | None
    authorization: str | None
    body: bytes
    at: float = field(default_factory=time.monotonic)


def build_app(routes: dict[str, Handler], seen: list[Seen]) -> web.Application:
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen.append(
            Seen(
                request.method,
                request.headers.get("Last-Event-ID"),
                request.headers.get("Authorization"),
                await request.read(),
            )
        )
        return await handler(request)

    app = web.Application()
    for path, handler in routes.items():

        async def route(request: web.Request, handler: Handler = handler) -> web.StreamResponse:
            return await record(request, handler)

        app.router.add_route("*", path, route)
    return app


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``base = await serve({"/path": handler}, seen)``: a server on 127.0.0.1."""
    runners: list[web.AppRunner] = []

    async def start(routes: dict[str, Handler], seen: list[Seen] | None = None) -> str:
        runner = web.AppRunner(build_app(routes, seen if seen is not None else []))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    return response


def drop(request: web.Request) -> None:
    """Cut the connection mid-body: the chunked body never gets its last chunk."""
    assert request.transport is not None
    request.transport.close()


def resumable_feed(total: int, per_connection: int, retry_ms: int = 20) -> Handler:
    """Serves events 0..total-1 with ids, resuming after Last-Event-ID; each
    connection carries ``per_connection`` events plus half of the next one, then
    drops; the last one ends cleanly; a reconnect with nothing left gets 204."""

    async def handler(request: web.Request) -> web.StreamResponse:
        last = request.headers.get("Last-Event-ID")
        start = int(last) + 1 if last else 0
        if start >= total:
            return web.Response(status=204)
        response = await open_stream(request)
        await response.write(f"retry: {retry_ms}\n\n".encode())
        stop = min(start + per_connection, total)
        for i in range(start, stop):
            await response.write(f"id: {i}\nevent: tick\ndata: event {i}\n\n".encode())
        if stop < total:
            await response.write(f"id: {stop}\nevent: tick\ndata: half of {stop}".encode())
            drop(request)
            return response
        await response.write_eof()
        return response

    return handler


@pytest.fixture
async def client() -> AsyncIterator[xstream.AsyncClient]:
    async with xstream.AsyncClient(KEY, base_url="http://127.0.0.1:9/v1") as c:
        yield c


# ------------------------------------------------------------------ resume


async def test_a_get_stream_dropped_three_times_delivers_every_event_once(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    seen: list[Seen] = []
    base = await serve({"/feed": resumable_feed(total=20, per_connection=5)}, seen)
    stream = await client.sse("GET", f"{base}/feed")
    events = [event async for event in stream]

    assert [e.data for e in events] == [f"event {i}" for i in range(20)]
    assert [e.id for e in events] == [str(i) for i in range(20)]
    assert {e.event for e in events} == {"tick"}
    # three drops, one clean end, then 204: the Last-Event-ID of each reconnect
    assert [s.last_event_id for s in seen] == [None, "4", "9", "14", "19"]
    assert stream.stats.reconnects == 4
    assert stream.stats.events == 20 and stream.stats.last_event_id == "19"
    assert stream.stats.done and stream.stats.reconnection_time == 20


async def test_the_first_request_can_resume_from_a_known_id(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    seen: list[Seen] = []
    base = await serve({"/feed": resumable_feed(total=8, per_connection=10)}, seen)
    stream = await client.sse("GET", f"{base}/feed", last_event_id="5")
    assert [e.data async for e in stream] == ["event 6", "event 7"]
    assert [s.last_event_id for s in seen] == ["5", "7"]


async def test_retry_is_honoured_in_milliseconds(client: xstream.AsyncClient, serve: Serve) -> None:
    dropped: list[float] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Last-Event-ID") == "1":
            return web.Response(status=204)
        response = await open_stream(request)
        await response.write(b"retry: 250\nid: 1\ndata: one\n\n")
        await asyncio.sleep(0.05)
        dropped.append(time.monotonic())
        drop(request)
        return response

    seen: list[Seen] = []
    base = await serve({"/feed": handler}, seen)
    stream = await client.sse("GET", f"{base}/feed")
    assert [e.data async for e in stream] == ["one"]
    gap = seen[1].at - dropped[0]
    assert 0.24 <= gap < 0.6, gap
    assert stream.stats.reconnection_time == 250


async def test_failed_reconnects_back_off_and_count_towards_the_cap(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            response = await open_stream(request)
            await response.write(b"retry: 40\nid: a\ndata: first\n\n")
            drop(request)
            return response
        if calls <= 3:
            return web.json_response({"error": "busy"}, status=503)
        if calls == 4:
            response = await open_stream(request)
            await response.write(b"id: b\ndata: second\n\n")
            await response.write_eof()
            return response
        return web.Response(status=204)

    seen: list[Seen] = []
    base = await serve({"/feed": handler}, seen)
    stream = await client.sse("GET", f"{base}/feed")
    assert [e.data async for e in stream] == ["first", "second"]
    gaps = [b.at - a.at for a, b in itertools.pairwise(seen)]
    # 40 ms after the drop, then 80 and 160 ms after each 503, then 40 ms again
    # after a connection that brought an event
    for gap, expected in zip(gaps, [0.04, 0.08, 0.16, 0.04], strict=True):
        assert expected - 0.005 <= gap < expected + 0.25, (gaps, expected)
    assert gaps[3] < 0.3  # the backoff restarted after the event (else 320 ms)
    assert [s.last_event_id for s in seen] == [None, "a", "a", "a", "b"]
    assert stream.stats.reconnects == 4


async def test_too_many_reconnects_without_an_event_raise(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = await open_stream(request)
        if request.headers.get("Last-Event-ID") is None:
            await response.write(b"retry: 5\nid: 1\ndata: only\n\n")
        await response.write_eof()  # then: empty streams, for ever
        return response

    seen: list[Seen] = []
    base = await serve({"/feed": handler}, seen)
    stream = await client.sse("GET", f"{base}/feed", max_reconnects=3)
    received: list[str] = []
    with pytest.raises(xstream.StreamDisconnectedError, match="3 reconnects in a row") as info:
        async for event in stream:
            received.append(event.data)
    assert received == ["only"]
    assert len(seen) == 4 and info.value.events_received == 1
    assert stream.response.closed


async def test_a_client_error_on_reconnect_is_raised_at_once(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Last-Event-ID"):
            return web.json_response({"error": "gone"}, status=404)
        response = await open_stream(request)
        await response.write(b"retry: 5\nid: 1\ndata: one\n\n")
        drop(request)
        return response

    seen: list[Seen] = []
    base = await serve({"/feed": handler}, seen)
    stream = await client.sse("GET", f"{base}/feed")
    received: list[str] = []
    with pytest.raises(xstream.NotFoundError, match="gone"):
        async for event in stream:
            received.append(event.data)
    assert received == ["one"] and len(seen) == 2


# ------------------------------------------------------------------ 204


async def test_204_on_reconnect_ends_the_stream_for_good(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Last-Event-ID"):
            return web.Response(status=204)
        response = await open_stream(request)
        await response.write(b"retry: 5\nid: 1\ndata: one\n\nid: 2\ndata: two\n\n")
        drop(request)
        return response

    seen: list[Seen] = []
    base = await serve({"/feed": handler}, seen)
    stream = await client.sse("GET", f"{base}/feed")
    assert [e.data async for e in stream] == ["one", "two"]
    assert stream.stats.done and stream.stats.reconnects == 1
    await asyncio.sleep(0.1)  # well past retry: nothing more is asked
    assert len(seen) == 2
    assert [e async for e in stream] == []


async def test_204_on_the_first_request_is_an_empty_stream(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    seen: list[Seen] = []
    base = await serve({"/feed": handler}, seen)
    stream = await client.sse("GET", f"{base}/feed")
    assert [e async for e in stream] == []
    assert stream.stats.done and len(seen) == 1


# ------------------------------------------------------------------ POST


def post_feed() -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        last = request.headers.get("Last-Event-ID")
        response = await open_stream(request)
        if last is None:
            await response.write(b"retry: 10\nid: 1\ndata: one\n\nid: 2\ndata: two\n\n")
            drop(request)
            return response
        await response.write(b"id: 3\ndata: three\n\nevent: end\ndata: {}\n\n")
        await response.write_eof()
        return response

    return handler


async def test_a_post_stream_is_not_reconnected_by_default(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    seen: list[Seen] = []
    base = await serve({"/generate": post_feed()}, seen)
    stream = await client.sse("POST", f"{base}/generate", json={"prompt": "hi"})
    received: list[str] = []
    with pytest.raises(xstream.StreamDisconnectedError) as info:
        async for event in stream:
            received.append(event.data)
    assert received == ["one", "two"]  # delivered before the error
    assert info.value.events_received == 2
    await asyncio.sleep(0.05)
    assert len(seen) == 1 and stream.stats.reconnects == 0
    assert seen[0].method == "POST" and msgspec.json.decode(seen[0].body) == {"prompt": "hi"}


async def test_a_post_stream_reconnects_when_asked_to(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    seen: list[Seen] = []
    base = await serve({"/generate": post_feed()}, seen)
    stream = await client.sse("POST", f"{base}/generate", json={"prompt": "hi"}, reconnect=True)
    received: list[str] = []
    async for event in stream:
        received.append(event.data)
        if event.event == "end":
            break
    assert received == ["one", "two", "three", "{}"]
    assert [s.last_event_id for s in seen] == [None, "2"]
    assert [s.body for s in seen] == [b'{"prompt":"hi"}'] * 2


async def test_a_post_whose_answer_started_is_not_sent_again_when_it_drops(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        response = await open_stream(request)
        await response.write(b": warming up\n\ndata: half an ev")
        drop(request)
        return response

    seen: list[Seen] = []
    base = await serve({"/generate": handler}, seen)
    stream = await client.sse("POST", f"{base}/generate", json={"prompt": "hi"})
    with pytest.raises(xstream.StreamDisconnectedError):
        _ = [e.data async for e in stream]
    # its answer had begun (a head, a comment): the server is not asked for it again
    assert calls == 1 and len(seen) == 1 and stream.stats.retries == 0


# ------------------------------------------------------------------ typed events


class Join(msgspec.Struct, tag="join"):
    user: str


class Leave(msgspec.Struct, tag="leave"):
    user: str
    reason: str | None = None


class Say(msgspec.Struct, tag="say"):
    user: str
    text: str


RoomEvent = Join | Leave | Say

ROOM = (
    b'event: join\ndata: {"user": "ann"}\n\n'
    b": a comment\n\n"
    b'event: say\ndata: {"user": "ann", "text": "hi", "extra": 1}\n\n'
    b"event: ping\ndata: {}\n\n"  # no member is named ping: skipped
    b'data: {"type": "leave", "user": "bob"}\n\n'  # unnamed: the tag is in the JSON
    b'event: leave\ndata: {"user": "ann", "reason": "bye"}\n\n'
)


def fixed(body: bytes, *, split: int = 0) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = await open_stream(request)
        pieces = [body[i : i + split] for i in range(0, len(body), split)] if split else [body]
        for piece in pieces:
            await response.write(piece)
        await response.write_eof()
        return response

    return handler


@pytest.mark.parametrize("split", [0, 1, 7])
async def test_typed_events_are_decoded_by_event_name(
    client: xstream.AsyncClient, serve: Serve, split: int
) -> None:
    base = await serve({"/room": fixed(ROOM, split=split)})
    stream = await client.sse("POST", f"{base}/room", type=RoomEvent)
    events = [event async for event in stream]
    assert events == [
        Join("ann"),
        Say("ann", "hi"),
        Leave("bob"),
        Leave("ann", "bye"),
    ]
    assert stream.stats.skipped == 1 and stream.stats.events == 4 and stream.stats.done


async def test_a_plain_type_decodes_every_event_and_done_ends(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    body = b'data: {"n": 1}\n\nevent: other\ndata: {"n": 2}\n\ndata: [DONE]\n\ndata: {"n": 3}\n\n'
    base = await serve({"/numbers": fixed(body)})
    stream = await client.sse("POST", f"{base}/numbers", type=dict[str, int])
    assert [e async for e in stream] == [{"n": 1}, {"n": 2}]
    assert stream.stats.done and stream.response.closed


async def test_a_malformed_typed_event_raises_after_the_good_ones(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    body = b'event: join\ndata: {"user": "ann"}\n\nevent: say\ndata: {"user": 5}\n\n'
    base = await serve({"/room": fixed(body)})
    stream = await client.sse("POST", f"{base}/room", type=RoomEvent)
    received: list[Any] = []
    with pytest.raises(xstream.MalformedEventError, match="#1") as info:
        async for event in stream:
            received.append(event)
    assert received == [Join("ann")] and info.value.position == 1


@pytest.mark.parametrize("type", [RoomEvent, dict[str, str]])
async def test_invalid_utf8_in_an_event_is_invalid_utf8_after_the_events_before_it(
    client: xstream.AsyncClient, serve: Serve, type: Any
) -> None:
    body = b'event: join\ndata: {"user": "ann"}\n\nevent: join\ndata: {"user": "\xff"}\n\n'
    base = await serve({"/room": fixed(body)})
    stream = await client.sse("POST", f"{base}/room", type=type)
    received: list[Any] = []
    with pytest.raises(xstream.InvalidUTF8Error, match=r"#1 .* is not valid UTF-8") as info:
        async for event in stream:
            received.append(event)
    assert len(received) == 1 and info.value.position == 1
    assert info.value.payload == b'{"user": "\xff"}'


async def test_an_untyped_stream_replaces_invalid_utf8_as_the_standard_says(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    base = await serve({"/room": fixed(b"data: a\xffb\n\n")})
    stream = await client.sse("POST", f"{base}/room")
    assert [event.data async for event in stream] == ["a\ufffdb"]


async def test_an_error_event_in_a_typed_stream_raises(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    body = (
        b'event: join\ndata: {"user": "ann"}\n\n'
        b'event: error\ndata: {"error": {"message": "overloaded", "type": "overloaded_error"}}\n\n'
    )
    base = await serve({"/room": fixed(body)})
    stream = await client.sse("POST", f"{base}/room", type=RoomEvent)
    received: list[Any] = []
    with pytest.raises(xstream.OverloadedError, match="overloaded"):
        async for event in stream:
            received.append(event)
    assert received == [Join("ann")]


# ------------------------------------------------------------------ release, deadlines, errors


def endless(closed: asyncio.Event, *, every: float = 0.01, comments: bool = False) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = await open_stream(request)
        try:
            await response.write(b"id: 0\ndata: first\n\n")
            i = 1
            while True:
                await asyncio.sleep(every)
                line = b": keep-alive\n\n" if comments else f"id: {i}\ndata: {i}\n\n".encode()
                await response.write(line)
                i += 1
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass
        finally:
            closed.set()
        return response

    return handler


async def test_breaking_out_releases_the_connection_at_once(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    closed = asyncio.Event()
    base = await serve({"/feed": endless(closed)})
    stream = await client.sse("GET", f"{base}/feed")
    async for event in stream:
        if event.id == "3":
            break
    assert stream.response.closed  # the iterator's __del__ ran at the break
    await asyncio.wait_for(closed.wait(), 2)


async def test_an_unread_stream_is_released_by_aclose_or_when_dropped(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    first, second = asyncio.Event(), asyncio.Event()
    base = await serve({"/a": endless(first), "/b": endless(second)})
    async with await client.sse("GET", f"{base}/a") as stream:
        pass
    assert stream.response.closed
    await asyncio.wait_for(first.wait(), 2)
    dropped = await client.sse("GET", f"{base}/b")
    ref = weakref.ref(dropped)
    del dropped  # no reference cycle: freed, and released, right here, without gc
    assert ref() is None
    await asyncio.wait_for(second.wait(), 2)


async def test_the_idle_deadline_fires_and_resets_on_events_only(
    client: xstream.AsyncClient, serve: Serve
) -> None:
    closed = asyncio.Event()
    base = await serve({"/feed": endless(closed, every=0.02, comments=True)})
    stream = await client.sse("GET", f"{base}/feed", timeout=xstream.Timeout(idle=0.2))
    received: list[str] = []
    started = time.monotonic()
    with pytest.raises(xstream.IdleTimeoutError) as info:
        async for event in stream:
            received.append(event.data)
    assert received == ["first"]
    assert 0.18 <= time.monotonic() - started < 1.0
    assert info.value.deadline == "idle" and info.value.events_received == 1
    assert stream.stats.reconnects == 0  # a deadline is not a drop
    await asyncio.wait_for(closed.wait(), 2)


async def test_the_first_event_deadline_fires_once_the_answer_started(serve: Serve) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = await open_stream(request)
        await asyncio.sleep(0.4)
        return response

    seen: list[Seen] = []
    base = await serve({"/feed": handler}, seen)
    async with xstream.AsyncClient(KEY, base_url=base, max_retries=1) as client:
        stream = await client.sse("GET", "/feed", timeout=xstream.Timeout(first_event=0.1))
        with pytest.raises(xstream.FirstEventTimeoutError):
            async for _ in stream:
                pass
    # its head had come: a silent answer is raised, not asked for again
    assert len(seen) == 1 and stream.stats.retries == 0


async def test_status_and_content_type_errors(client: xstream.AsyncClient, serve: Serve) -> None:
    async def missing(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": {"message": "no such feed"}}, status=404)

    async def html(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    base = await serve({"/missing": missing, "/html": html})
    with pytest.raises(xstream.NotFoundError, match="no such feed"):
        await client.sse("GET", f"{base}/missing")
    with pytest.raises(xstream.StreamError, match="text/html"):
        await client.sse("GET", f"{base}/html")


async def test_paths_are_under_base_url_and_the_key_stays_home(serve: Serve) -> None:
    seen: list[Seen] = []
    home = await serve({"/v1/feed": fixed(b"data: home\n\n")}, seen)
    away = await serve({"/feed": fixed(b"data: away\n\n")}, seen)
    async with xstream.AsyncClient(KEY, base_url=f"{home}/v1") as client:
        stream = await client.sse("GET", "/feed", reconnect=False)
        assert [e.data async for e in stream] == ["home"]
        stream = await client.sse("GET", f"{away}/feed", reconnect=False)
        assert [e.data async for e in stream] == ["away"]
    assert [s.authorization for s in seen] == [f"Bearer {KEY}", None]


async def test_open_sse_on_your_own_session(serve: Serve) -> None:
    token = "sk-very-secret-token"

    async def guarded(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {token}":
            got = request.headers.get("Authorization")
            return web.json_response({"error": f"bad credentials: {got}"}, status=401)
        return await fixed(b"id: 7\ndata: secret\n\n")(request)

    seen: list[Seen] = []
    base = await serve({"/feed": guarded}, seen)
    async with aiohttp.ClientSession() as session:
        stream: EventStream[xstream.ServerSentEvent] = await open_sse(
            session,
            "GET",
            f"{base}/feed",
            headers={"Authorization": f"Bearer {token}"},
            reconnect=False,
        )
        assert [(e.id, e.data) async for e in stream] == [("7", "secret")]
        with pytest.raises(xstream.AuthenticationError) as info:
            await open_sse(
                session, "GET", f"{base}/feed", headers={"Authorization": "Bearer x" + token}
            )
        assert token not in str(info.value) and "***" in str(info.value)
        assert not session.closed


# ------------------------------------------------------------------ sync


@contextlib.contextmanager
def serve_in_thread(routes: dict[str, Handler], seen: list[Seen]) -> Iterator[str]:
    """The same kind of server, on its own loop in a thread, for blocking clients."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(build_app(routes, seen))

    async def start() -> str:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_the_sync_client_resumes_too() -> None:
    seen: list[Seen] = []
    routes = {"/feed": resumable_feed(total=12, per_connection=4, retry_ms=10)}
    with serve_in_thread(routes, seen) as base, xstream.Client(KEY, base_url=base) as client:
        stream = client.sse("GET", "/feed")
        assert [e.data for e in stream] == [f"event {i}" for i in range(12)]
        assert stream.stats.reconnects == 3 and stream.stats.done
        with client.sse("POST", "/feed", type=dict[str, Any], reconnect=False) as typed:
            assert typed.stats.events == 0
        assert typed.response.closed
    assert [s.last_event_id for s in seen][:4] == [None, "3", "7", "11"]


def test_the_sync_client_releases_on_break() -> None:
    seen: list[Seen] = []
    closed = threading.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = await open_stream(request)
        try:
            for i in range(1000):
                await response.write(f"id: {i}\ndata: {i}\n\n".encode())
                await asyncio.sleep(0.01)
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass
        finally:
            closed.set()
        return response

    with (
        serve_in_thread({"/feed": handler}, seen) as base,
        xstream.Client(KEY, base_url=base) as client,
    ):
        for event in client.sse("GET", "/feed"):
            if event.id == "2":
                break
        assert closed.wait(2)
