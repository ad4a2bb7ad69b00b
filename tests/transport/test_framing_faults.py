"""Nothing lost, never asked twice: answers whose framing breaks after their head.

A raw server answers each request with bytes that go wrong after the response's
head: events then an invalid chunk size, in one write; the head and then a close;
both ``Content-Length`` and ``Transfer-Encoding``. Whatever arrived before the
fault is delivered, then the typed error; the server sees exactly one request
(its answer had started, and nothing said it may be asked again). For chat
chunks, Responses events and any event stream; async and sync.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import xstream
from tests.conftest import KEY, run_again
from tests.transport.rawhttp import Conn, RawServer

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
BOTH = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def _chat(i: int) -> bytes:
    return (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"%d"}}]}\n\n' % i
    )


def _response(i: int) -> bytes:
    return (
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        b'"item_id":"msg","output_index":0,"content_index":0,"delta":"%d",'
        b'"sequence_number":%d}\n\n' % (i, i)
    )


def _plain(i: int) -> bytes:
    return b"data: %d\n\n" % i


COMPLETED = (
    b'event: response.completed\ndata: {"type":"response.completed","sequence_number":9,'
    b'"response":{"id":"r","object":"response","created_at":1,"model":"m",'
    b'"status":"completed","output":[]}}\n\n'
)
KINDS: dict[str, tuple[Callable[[int], bytes], bytes]] = {
    "chat": (_chat, b"data: [DONE]\n\n"),
    "responses": (_response, COMPLETED),
    "sse": (_plain, b""),
}


def _chunked(*events: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events if e)


def answer(case: str, kind: str) -> bytes:
    event, end = KINDS[kind]
    events = [event(i) for i in range(3)]
    if case == "framing":  # in one write: the head, three events, a broken chunk size
        return HEAD + _chunked(*events) + b"zz\r\n"
    if case == "head-then-close":
        return HEAD
    return BOTH + _chunked(*events, end) + b"0\r\n\r\n"  # "both": read by its coding


EXPECTED: dict[str, tuple[int, type[BaseException] | None]] = {
    "framing": (3, xstream.ProtocolError),
    "head-then-close": (0, xstream.StreamDisconnectedError),
    "both": (3, None),
}
CASES = [(case, kind) for case in EXPECTED for kind in KINDS]


def _handler(data: bytes) -> Callable[[Conn], Awaitable[None]]:
    async def handle(conn: Conn) -> None:
        if await conn.request() is not None:
            await conn.send(data)
        await conn.close()

    return handle


def _item(kind: str, item: Any) -> str | None:
    if kind == "chat":
        return str(item.choices[0].delta.content)
    if kind == "responses":
        return item.delta if item.type == "response.output_text.delta" else None
    return str(item.data)


@pytest.mark.parametrize(("case", "kind"), CASES)
async def test_what_arrived_is_delivered_then_the_error_async(case: str, kind: str) -> None:
    count, error = EXPECTED[case]
    async with (
        RawServer(_handler(answer(case, kind))) as server,
        xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=2) as client,
    ):
        got: list[str | None] = []
        raised: BaseException | None = None
        try:
            if kind == "chat":
                stream: Any = await client.chat.completions.create(
                    model="m", messages=[], stream=True
                )
            elif kind == "responses":
                stream = await client.responses.create(model="m", input="hi", stream=True)
            else:
                stream = await client.sse("POST", "events")
            async for item in stream:
                got.append(_item(kind, item))
        except xstream.XStreamError as exc:
            raised = exc
    assert [g for g in got if g is not None] == [str(i) for i in range(count)]
    assert type(raised) is error if error is not None else raised is None
    assert len(server.seen) == 1


@contextmanager
def raw_server_in_thread(data: bytes) -> Iterator[RawServer]:
    """A :class:`RawServer` on a loop of its own, for the blocking client."""
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def run() -> None:
        async with RawServer(_handler(data)) as server:
            holder["server"], holder["stop"] = server, asyncio.Event()
            holder["loop"] = asyncio.get_running_loop()
            started.set()
            await holder["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    assert started.wait(5)
    try:
        yield holder["server"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(5)


@pytest.mark.parametrize(("case", "kind"), CASES)
def test_what_arrived_is_delivered_then_the_error_sync(case: str, kind: str) -> None:
    count, error = EXPECTED[case]
    with (
        raw_server_in_thread(answer(case, kind)) as server,
        xstream.Client(KEY, base_url=server.base_url, max_retries=2) as client,
    ):
        got: list[str | None] = []
        raised: BaseException | None = None
        try:
            if kind == "chat":
                stream: Any = client.chat.completions.create(model="m", messages=[], stream=True)
            elif kind == "responses":
                stream = client.responses.create(model="m", input="hi", stream=True)
            else:
                stream = client.sse("POST", "events")
            for item in stream:
                got.append(_item(kind, item))
        except xstream.XStreamError as exc:
            raised = exc
    assert [g for g in got if g is not None] == [str(i) for i in range(count)]
    assert type(raised) is error if error is not None else raised is None
    assert len(server.seen) == 1


async def test_a_retryable_status_is_still_sent_again() -> None:
    # what the server said may be retried still is: a 503, then the answer
    answers = iter([b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"])

    async def handle(conn: Conn) -> None:
        while await conn.request() is not None:
            first = next(answers, None)
            if first is not None:
                await conn.send(first)
                continue
            await conn.send(answer("both", "chat"))
            break
        await conn.close()

    async with (
        RawServer(handle) as server,
        xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=2) as client,
    ):
        stream = await client.chat.completions.create(model="m", messages=[], stream=True)
        got = [chunk.choices[0].delta.content async for chunk in stream]
    assert got == ["0", "1", "2"] and len(server.seen) == 2


@pytest.mark.skipif(os.environ.get("AIOHTTP_NO_EXTENSIONS") == "1", reason="this is the run")
def test_the_same_holds_under_the_pure_python_parser() -> None:
    result = run_again(__file__, env={"AIOHTTP_NO_EXTENSIONS": "1"})
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{2 * len(CASES) + 1} passed" in result.stdout, result.stdout[-800:]
