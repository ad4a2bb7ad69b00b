"""Relaying a stream to a browser: ``stream.to_sse()`` and ``to_aiohttp_response``.

End to end over 127.0.0.1: MockServer upstream -> an ``aiohttp.web`` relay app
-> an aiohttp client standing in for the browser, which reads a few events and
leaves. The upstream stream must be closed at once, also when the upstream is
quiet at that moment; the bytes must decode back to the same items.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

import xstream
from tests.conftest import KEY, RawServe
from xstream._streams.relay import event_block
from xstream._streams.responses import decode_response_event
from xstream.testing import MockServer, Reply

MESSAGES = [{"role": "user", "content": "Hi"}]
CHUNK = msgspec.json.Decoder(xstream.ChatCompletionChunk)
DONE = b"data: [DONE]"
Relay = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RelayApp:
    """An aiohttp.web app on 127.0.0.1 whose handler relays an upstream stream."""

    def __init__(self) -> None:
        self.streams: list[Any] = []  # the upstream streams the handler opened
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self, handler: Relay, **runner_options: Any) -> str:
        app = web.Application()
        app.router.add_post("/relay", handler)
        app.router.add_post("/v1/chat/completions", handler)  # a relay is an API of its own
        self._runner = web.AppRunner(app, access_log=None, **runner_options)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/relay"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def relay_app() -> AsyncIterator[RelayApp]:
    app = RelayApp()
    yield app
    await app.close()


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


def chat_relay(client: xstream.AsyncClient, app: RelayApp) -> Relay:
    async def handler(request: web.Request) -> web.StreamResponse:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        app.streams.append(stream)
        return await stream.to_aiohttp_response(request)

    return handler


def events_of(body: bytes) -> list[xstream.ServerSentEvent]:
    decoder = xstream.SSEDecoder()
    events = decoder.feed(body)
    decoder.close()
    assert not decoder.discarded, "the relay ended inside an event"
    return events


async def read_events(resp: aiohttp.ClientResponse, count: int) -> bytes:
    """Read until ``count`` whole events arrived (the browser reading a few)."""
    body = b""
    while body.count(b"\n\n") < count:
        piece = await resp.content.readany()
        assert piece, body
        body += piece
    return body


async def closed_within(stream: Any, seconds: float) -> float:
    """How long the upstream stream took to be closed (fails past ``seconds``)."""
    start = time.monotonic()
    while not (stream.finished and stream.response.closed):
        assert time.monotonic() - start < seconds, "the upstream stream is still open"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


# ------------------------------------------------------------ the browser leaves


@pytest.mark.parametrize("cancellation", [False, True], ids=["aiohttp-default", "cancelling"])
async def test_the_browser_leaving_closes_the_upstream_stream_at_once(
    server: MockServer,
    client: xstream.AsyncClient,
    relay_app: RelayApp,
    browser: aiohttp.ClientSession,
    cancellation: bool,
) -> None:
    server.enqueue(Reply(chunks=2000, delay=0.02))  # a long answer: 40 s if read to the end
    url = await relay_app.start(chat_relay(client, relay_app), handler_cancellation=cancellation)
    resp = await browser.post(url)
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    await read_events(resp, 3)
    left = time.monotonic()
    resp.close()  # the tab is closed
    (stream,) = relay_app.streams
    await closed_within(stream, 1.0)
    await asyncio.wait_for(server.wait_until_idle(), 1.0)  # the upstream saw us leave
    assert server.closed_by_client == 1
    assert time.monotonic() - left < 1.0
    assert stream.stats.chunks < 100


async def test_leaving_while_the_upstream_is_quiet_closes_it_too(
    server: MockServer,
    client: xstream.AsyncClient,
    relay_app: RelayApp,
    browser: aiohttp.ClientSession,
) -> None:
    # The model "thinks" for 30 s after the first chunk: no write would fail meanwhile.
    server.enqueue(Reply(text="abcd", chunk_size=1, stall_after=1, stall_seconds=30))
    url = await relay_app.start(chat_relay(client, relay_app))
    resp = await browser.post(url)
    await read_events(resp, 1)
    resp.close()
    (stream,) = relay_app.streams
    assert await closed_within(stream, 1.0) < 1.0
    await asyncio.wait_for(server.wait_until_idle(), 1.0)
    assert server.closed_by_client == 1


async def test_closing_the_iterator_closes_the_stream(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    # what Starlette's StreamingResponse (or any ASGI server) does when the client leaves
    server.enqueue(Reply(chunks=2000, delay=0.02))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    sse: Any = stream.to_sse()
    assert (await anext(sse)).startswith(b"data: {")
    await sse.aclose()
    assert stream.finished and stream.response.closed
    await asyncio.wait_for(server.wait_until_idle(), 1.0)


async def test_cancelling_the_reader_closes_the_stream(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(text="abcd", chunk_size=1, stall_after=1, stall_seconds=30))
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    first = asyncio.Event()

    async def reader() -> None:
        async for _ in stream.to_sse():
            first.set()

    task = asyncio.create_task(reader())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stream.finished and stream.response.closed


# ------------------------------------------------------------ what the bytes say


async def test_the_relayed_bytes_decode_back_to_the_same_chunks(
    server: MockServer,
    client: xstream.AsyncClient,
    relay_app: RelayApp,
    browser: aiohttp.ClientSession,
) -> None:
    reply = Reply(text="héllo — wörld", chunk_size=3, reasoning="hmm\nwell", usage=True)
    server.enqueue(reply, reply, reply)
    direct = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    expected = [chunk async for chunk in direct]
    url = await relay_app.start(chat_relay(client, relay_app))
    async with browser.post(url) as resp:
        body = await resp.read()
    events = events_of(body)
    assert events[-1].data == "[DONE]" and body.endswith(b"data: [DONE]\n\n")
    relayed = [CHUNK.decode(event.raw) for event in events[:-1]]
    for got, want in zip(relayed, expected, strict=True):
        assert msgspec.structs.replace(got, id="", created=0) == msgspec.structs.replace(
            want, id="", created=0
        )
    text = "".join(c.choices[0].delta.content or "" for c in relayed if c.choices)
    assert text == "héllo — wörld"

    # and an xstream client reading the relay gets the same answer again
    async with xstream.AsyncClient(KEY) as again:
        stream = await again.sse("POST", url, type=xstream.ChatCompletionChunk)
        assert [c.choices for c in [item async for item in stream]] == [c.choices for c in expected]


@pytest.mark.parametrize(
    ("reply", "kind", "error_type"),
    [
        (Reply(text="abcdef", chunk_size=2, error_event_after=2), "overloaded_error", "overloaded"),
        (Reply(text="abcdef", chunk_size=2, drop_after=2), "StreamDisconnectedError", None),
        (Reply(text="abcdef", chunk_size=2, no_done=True), "IncompleteStreamError", None),
    ],
    ids=["error-event", "dropped", "no-done"],
)
async def test_an_error_mid_stream_is_relayed_as_an_error_event(
    server: MockServer,
    client: xstream.AsyncClient,
    reply: Reply,
    kind: str,
    error_type: str | None,
) -> None:
    server.enqueue(reply)
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    body = b"".join([piece async for piece in stream.to_sse()])
    events = events_of(body)
    *chunks, last = events
    assert [CHUNK.decode(e.raw).choices[0].delta.content for e in chunks[:2]] == ["ab", "cd"]
    assert last.event == "error" and DONE not in body
    error = json.loads(last.data)["error"]
    assert error["type"] == kind and error["message"]
    assert error.get("code") == error_type
    assert stream.finished


async def test_the_error_event_holds_no_secret(server: MockServer) -> None:
    secret = "xai-relay-secret-0123456789abcdef"
    payload = {"error": {"message": f"key {secret} is over quota", "type": "server_error"}}
    server.enqueue(Reply(text="abcd", chunk_size=2, error_event_after=1, error_payload=payload))
    async with xstream.AsyncClient(secret, base_url=server.base_url) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        body = b"".join([piece async for piece in stream.to_sse()])
    assert secret.encode() not in body
    assert b"over quota" in body and events_of(body)[-1].event == "error"


async def test_a_relayed_error_is_raised_by_an_xstream_client_reading_the_relay(
    server: MockServer,
    client: xstream.AsyncClient,
    relay_app: RelayApp,
) -> None:
    server.enqueue(Reply(text="abcdef", chunk_size=2, error_event_after=2))
    url = await relay_app.start(chat_relay(client, relay_app))
    base_url = url.removesuffix("/relay") + "/v1"
    async with xstream.AsyncClient(KEY, base_url=base_url, max_retries=0) as downstream:
        stream = await downstream.chat.completions.create(model="m", messages=[], stream=True)
        texts = []
        with pytest.raises(xstream.OverloadedError, match="overloaded"):
            async for text in stream.text_stream:
                texts.append(text)
    assert texts == ["ab", "cd"]


# ------------------------------------------------------------ other stream kinds


async def test_a_responses_stream_is_relayed_with_event_names(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    direct = await client.responses.create(model="grok-4", input="Hi", stream=True)
    expected = [event async for event in direct]
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    events = events_of(b"".join([piece async for piece in stream.to_sse()]))
    assert [e.event for e in events] == [e.type for e in expected]
    assert all(json.loads(e.data)["type"] == e.event for e in events)
    decoded = [decode_response_event(e, stream.response) for e in events]
    assert [type(e) for e in decoded] == [type(e) for e in expected]
    deltas = [e.delta for e in decoded if isinstance(e, xstream.ResponseOutputTextDeltaEvent)]
    assert "".join(deltas) == xstream.testing.DEFAULT_TEXT
    assert stream.stats.done


async def test_any_event_stream_is_relayed_field_by_field(
    client: xstream.AsyncClient, raw_server: RawServe
) -> None:
    sent = (
        b"retry: 1500\nid: 1\nevent: join\ndata: ann\n\n"
        b": a comment\ndata: line one\ndata: line two\n\n"
        b"id:\nevent: say\ndata: {}\n\n"
    )
    base = await raw_server([sent])
    stream = await client.sse("POST", f"{base}/chat/completions")
    expected = events_of(sent)
    body = b"".join([piece async for piece in stream.to_sse()])
    assert events_of(body) == expected
    assert body.startswith(b"event: join\nid: 1\nretry: 1500\ndata: ann\n\n")


def test_a_sync_stream_relays_and_closes_when_its_iterator_is_closed() -> None:
    with (
        MockServer.running_in_thread(strict=False) as srv,
        xstream.Client(KEY, base_url=srv.base_url) as client,
    ):
        srv.enqueue(Reply(text="abcdef", chunk_size=2))
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        events = events_of(b"".join(stream.to_sse()))
        assert [e.data for e in events][-1] == "[DONE]"
        assert (
            "".join(
                c.choices[0].delta.content or "" for e in events[:-1] for c in [CHUNK.decode(e.raw)]
            )
            == "abcdef"
        )

        srv.enqueue(Reply(chunks=2000, delay=0.02))
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        sse = stream.to_sse()
        assert next(sse).startswith(b"data: {")
        sse.close()  # what a WSGI server does when the client leaves
        deadline = time.monotonic() + 1.0
        while srv.open_streams and time.monotonic() < deadline:
            time.sleep(0.01)
        assert srv.open_streams == 0 and srv.closed_by_client == 1


# ------------------------------------------------------------ the encoding


@pytest.mark.parametrize(
    ("kwargs", "block"),
    [
        ({"data": b"x"}, b"data: x\n\n"),
        ({"data": b"a\nb"}, b"data: a\ndata: b\n\n"),
        ({"data": b""}, b"data: \n\n"),
        ({"data": b"x", "event": "message"}, b"data: x\n\n"),
        ({"data": b"x", "event": "a\nb", "id": "1\r"}, b"event: ab\nid: 1\ndata: x\n\n"),
        ({"data": b"x", "id": "", "retry": 10}, b"id: \nretry: 10\ndata: x\n\n"),
    ],
)
def test_event_block(kwargs: dict[str, Any], block: bytes) -> None:
    data = kwargs.pop("data")
    assert event_block(data, **kwargs) == block
    (event,) = events_of(block)
    assert event.raw == data


# ------------------------------------------------------------ the README's relay


def readme_relay() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Relay a stream to a browser", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match and "web.run_app(" in match[1]
    return match[1]


async def test_the_readme_relay_runs_and_relays(
    server: MockServer, browser: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_API_KEY", KEY)
    monkeypatch.setenv("XAI_BASE_URL", server.base_url)
    code = readme_relay().replace("web.run_app(", "dict(")  # build the app, don't block
    scope: dict[str, Any] = {"__name__": "readme_relay"}
    exec(compile(code, "README.md", "exec"), scope)
    runner = web.AppRunner(scope["app"], access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/chat"
        server.enqueue(Reply(text="Hello there", chunk_size=2))
        async with browser.post(url, json={"messages": MESSAGES}) as resp:
            events = events_of(await resp.read())
    finally:
        await runner.cleanup()
    assert events[-1].data == "[DONE]"
    text = "".join(CHUNK.decode(e.raw).choices[0].delta.content or "" for e in events[:-1])
    assert text == "Hello there"
    assert server.requests[0].json["messages"] == MESSAGES
