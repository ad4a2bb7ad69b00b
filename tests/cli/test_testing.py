"""The mock server itself, checked with plain aiohttp requests over 127.0.0.1.

Everything here reads the raw body (``resp.content.iter_any()``) and parses it
with a tiny SSE splitter of its own, so these tests do not depend on
xstream's client or decoder, which are tested against this server.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from xstream import testing
from xstream.testing import (
    DEFAULT_TEXT,
    MockServer,
    RecordedRequest,
    Reply,
    ToolCallScript,
)


@pytest_asyncio.fixture
async def mock_server() -> AsyncIterator[MockServer]:
    """Lenient: these tests post bare bodies (model "m", no key, no /v1) to test the
    framing; what the strict server refuses is tested in test_strict_server.py."""
    async with MockServer(strict=False) as srv:
        yield srv


def test_the_public_fixture_is_built_lazily() -> None:
    assert testing.mock_server is not None

CHAT = "/chat/completions"
MESSAGES = [{"role": "user", "content": "What is the meaning of life?"}]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


async def post(
    session: aiohttp.ClientSession, srv: MockServer, *, stream: bool = True, **body: Any
) -> aiohttp.ClientResponse:
    payload = {"model": "grok-test", "messages": MESSAGES, "stream": stream, **body}
    return await session.post(srv.base_url + CHAT, json=payload)


async def read_raw(resp: aiohttp.ClientResponse) -> bytes:
    async with resp:
        return b"".join([piece async for piece in resp.content.iter_any()])


async def stream_body(session: aiohttp.ClientSession, srv: MockServer, **body: Any) -> bytes:
    return await read_raw(await post(session, srv, **body))


def blocks(body: bytes) -> list[bytes]:
    """The body's event blocks (line ends folded to LF), the unterminated tail dropped."""
    text = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return [b for b in text.split(b"\n\n")[:-1] if b]


def data_of(body: bytes) -> list[bytes]:
    """The ``data:`` payload of every event block."""
    return [
        line[len(b"data: ") :]
        for block in blocks(body)
        for line in block.split(b"\n")
        if line.startswith(b"data: ")
    ]


def chunks_of(body: bytes) -> list[dict[str, Any]]:
    payloads = data_of(body)
    assert payloads[-1] == b"[DONE]"
    return [json.loads(p) for p in payloads[:-1]]


def merge(chunks: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """What a client accumulates: the message and finish reason of each choice."""
    merged: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            message = merged.setdefault(choice["index"], {"content": None})
            for key in ("role", "content", "reasoning_content"):
                if key in choice["delta"]:
                    message[key] = (message.get(key) or "") + choice["delta"][key]
            for call in choice["delta"].get("tool_calls", []):
                calls = message.setdefault("tool_calls", [])
                if call["index"] == len(calls):
                    calls.append({"id": call["id"], "type": call["type"], "function": {}})
                function = calls[call["index"]]["function"]
                for key, value in call["function"].items():
                    function[key] = function.get(key, "") + value
            if choice.get("finish_reason"):
                message["finish_reason"] = choice["finish_reason"]
    return merged


def without_ids(body: bytes) -> bytes:
    body = re.sub(rb"chatcmpl-[0-9a-f]+", b"chatcmpl-X", body)
    return re.sub(rb'"created":\d+', b'"created":0', body)


# --------------------------------------------------------------------------- shape


async def test_stream_shape_matches_xai(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    resp = await post(session, mock_server)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"
    body = await read_raw(resp)
    assert body.endswith(b"data: [DONE]\n\n")
    chunks = chunks_of(body)
    first, last = chunks[0], chunks[-1]
    assert first["object"] == "chat.completion.chunk"
    assert first["id"].startswith("chatcmpl-")
    assert isinstance(first["created"], int)
    assert first["model"] == "grok-test"
    assert first["system_fingerprint"] == "fp_xstream"
    assert first["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": DEFAULT_TEXT[:4]}}
    ]
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
    assert len({c["id"] for c in chunks}) == 1
    # xAI's layout: every chunk has a content delta and the usage so far; the
    # last delta carries the finish reason (no chunk without content)
    assert all(isinstance(c["choices"][0]["delta"]["content"], str) for c in chunks)
    assert [c["choices"][0].get("finish_reason") for c in chunks] == [None] * (len(chunks) - 1) + [
        "stop"
    ]
    tail = DEFAULT_TEXT[len(DEFAULT_TEXT) // 4 * 4 :]
    assert last["choices"] == [{"index": 0, "delta": {"content": tail}, "finish_reason": "stop"}]
    assert [c["usage"]["completion_tokens"] for c in chunks] == list(range(1, len(chunks) + 1))
    assert last["usage"]["completion_tokens_details"] == {"reasoning_tokens": 0}
    assert "cached_tokens" in last["usage"]["prompt_tokens_details"]
    assert merge(chunks)[0]["content"] == DEFAULT_TEXT


def test_default_text_is_witty_enough() -> None:
    assert DEFAULT_TEXT.endswith("42.")
    assert 30 <= len(DEFAULT_TEXT.split()) <= 50
    assert not DEFAULT_TEXT.isascii()


async def test_reasoning_then_content_then_tool_calls(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    call = ToolCallScript("get_weather", '{"city": "Paris"}', id="call_1")
    mock_server.enqueue(Reply(text="Sure.", reasoning="Hmm, weather.", tool_calls=[call]))
    chunks = chunks_of(await stream_body(session, mock_server))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    kinds = ["reasoning_content", "content", "tool_calls"]
    order = [next(k for k in kinds if k in d) for d in deltas if d]
    assert order == sorted(order, key=kinds.index)
    assert deltas[0]["role"] == "assistant"
    header = next(d for d in deltas if "tool_calls" in d)["tool_calls"][0]
    assert header == {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert [c["usage"]["completion_tokens_details"]["reasoning_tokens"] for c in chunks][-1] == 4
    merged = merge(chunks)[0]
    assert merged["reasoning_content"] == "Hmm, weather."
    assert merged["content"] == "Sure."
    assert merged["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'


@pytest.mark.parametrize(
    "reply",
    [
        Reply(),
        Reply(text="Hello there", reasoning="Let me think", chunk_size=3),
        Reply(
            text="",
            tool_calls=[
                ToolCallScript("f", '{"x": [1, 2]}', id="call_a"),
                ToolCallScript("g", "", id="call_b"),
            ],
        ),
        Reply(text="", reasoning="only thinking"),
        Reply(text="two", n_choices=2, finish_reason="length", model="grok-other"),
        Reply(text="abc", chunks=10, chunk_size=2),
    ],
)
async def test_completion_equals_merged_stream(
    mock_server: MockServer, session: aiohttp.ClientSession, reply: Reply
) -> None:
    mock_server.enqueue(reply, reply)
    chunks = chunks_of(await stream_body(session, mock_server))
    async with await post(session, mock_server, stream=False) as resp:
        assert resp.headers["Content-Type"] == "application/json"
        completion = await resp.json()
    assert completion["object"] == "chat.completion"
    assert completion["model"] == chunks[0]["model"]
    assert completion["usage"] == chunks[-1]["usage"]
    merged = merge(chunks)
    assert len(completion["choices"]) == len(merged)
    for choice in completion["choices"]:
        message = dict(merged[choice["index"]])
        assert message.pop("finish_reason") == choice["finish_reason"]
        assert message == choice["message"]


async def test_n_choices_interleave(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="abcdef", chunk_size=2))
    chunks = chunks_of(await stream_body(session, mock_server, n=2))
    indexes = [c["choices"][0]["index"] for c in chunks]
    assert indexes == [0, 1, 0, 1, 0, 1]  # three deltas each, the last with its finish
    assert [c["choices"][0].get("finish_reason") for c in chunks[-2:]] == ["stop", "stop"]
    assert [m["content"] for m in merge(chunks).values()] == ["abcdef", "abcdef"]


async def test_usage_chunk_when_asked_or_by_default(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    quiet = Reply(text="hi", usage=False)
    mock_server.enqueue(quiet, quiet)
    assert not any("usage" in c for c in chunks_of(await stream_body(session, mock_server)))
    asked = chunks_of(
        await stream_body(session, mock_server, stream_options={"include_usage": True})
    )
    # asked for: OpenAI's layout (xAI's too, then): a finish chunk, then usage alone
    assert [c["choices"] for c in asked] == [
        [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}],
        [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        [],
    ]
    assert ["usage" in c for c in asked] == [False, False, True]
    usage = asked[-1]["usage"]
    assert usage["prompt_tokens"] == 6  # words in MESSAGES
    assert usage["completion_tokens"] == 1  # one delta
    assert usage["total_tokens"] == 7


async def test_chunks_repeats_deltas_for_long_streams(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="abcdefg", chunk_size=3, chunks=1000))
    chunks = chunks_of(await stream_body(session, mock_server))
    content = [c for c in chunks if c["choices"] and "content" in c["choices"][0]["delta"]]
    assert len(content) == 1000
    assert merge(chunks)[0]["content"] == ("abc" + "def" + "g") * 333 + "abc"


async def test_long_stream_is_fast(mock_server: MockServer, session: aiohttp.ClientSession) -> None:
    mock_server.enqueue(Reply(chunks=100_000))
    started = time.perf_counter()
    body = await stream_body(session, mock_server)
    assert time.perf_counter() - started < 3.0
    assert body.count(b"\n\ndata: ") == 100_000  # content (the last with its finish); [DONE]
    assert b'"completion_tokens":100000,' in body.rsplit(b"\n\ndata: ", 2)[1]


# --------------------------------------------------------------------------- framing


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
async def test_line_end_is_used_everywhere(
    mock_server: MockServer, session: aiohttp.ClientSession, line_end: str
) -> None:
    mock_server.enqueue(Reply(text="héllo", line_end=line_end, keepalive_every=1))
    body = await stream_body(session, mock_server)
    end = line_end.encode()
    assert body.endswith(b"data: [DONE]" + end + end)
    assert b": keep-alive" + end + end in body
    other_ends = {b"\n", b"\r\n", b"\r"} - {end}
    stripped = body.replace(end, b"")
    assert all(e not in stripped for e in other_ends)
    assert len(chunks_of(body)) == 2  # "héll", "o" (with its finish)


async def test_keepalive_every_n_events(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="abcdefgh", chunk_size=2, keepalive_every=2))
    body = await stream_body(session, mock_server)
    events = blocks(body)
    assert events.count(b": keep-alive") == 2  # 4 chunks of content, the last with its finish
    assert events[2] == b": keep-alive"


@pytest.mark.parametrize("write_size", [1, 2, 3, 7, 1000])
async def test_write_size_keeps_the_body_byte_identical(
    mock_server: MockServer, session: aiohttp.ClientSession, write_size: int
) -> None:
    script = {"text": "Grüße — 42", "chunk_size": 3, "line_end": "\r\n", "keepalive_every": 2}
    mock_server.enqueue(Reply(**script), Reply(**script, write_size=write_size))
    whole = await stream_body(session, mock_server)
    split = await stream_body(session, mock_server)
    assert without_ids(split) == without_ids(whole)


class _Recorder:
    """Stands in for a StreamResponse to see the writes themselves."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.writes.append(data)


@pytest.mark.parametrize("write_size", [1, 5, 64])
async def test_write_size_writes_exact_pieces(write_size: int) -> None:
    reply = Reply(text="ü€😀 and more", chunk_size=1, line_end="\r\n", write_size=write_size)
    script = testing._resolve(reply, {"model": "m"})
    plan = testing._build_plan(
        testing._encode_events(testing._build_payloads(script), reply), reply, script
    )
    recorder = _Recorder()
    writer = testing._Writer(recorder, None, reply, lambda: False)  # type: ignore[arg-type]
    assert await writer.run(plan)
    assert b"".join(recorder.writes) == b"".join(p for p in plan if isinstance(p, bytes))
    assert {len(w) for w in recorder.writes[:-1]} == {write_size}
    assert 0 < len(recorder.writes[-1]) <= write_size


async def test_unicode_escape(mock_server: MockServer, session: aiohttp.ClientSession) -> None:
    mock_server.enqueue(Reply(text="a — é", unicode_escape=True), Reply(text="a — é"))
    escaped = await stream_body(session, mock_server)
    raw = await stream_body(session, mock_server)
    assert escaped.isascii()
    assert b"\\u2014" in escaped
    assert "—".encode() in raw
    assert merge(chunks_of(escaped)) == merge(chunks_of(raw))


async def test_first_delay_comes_after_the_headers_and_delay_between_events(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="abcd", chunk_size=2, first_delay=0.3, delay=0.05))
    started = time.monotonic()
    async with await post(session, mock_server) as resp:
        assert time.monotonic() - started < 0.25  # headers do not wait
        stamps = [time.monotonic() async for _ in resp.content.iter_any()]
    assert stamps[0] - started >= 0.28
    assert stamps[-1] - stamps[0] >= 0.1  # 2 more events (the last content, done)


# --------------------------------------------------------------------------- HTTP faults


async def test_status_headers_and_default_error_body(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(status=429, headers={"Retry-After": "2", "x-should-retry": "true"}))
    async with await post(session, mock_server) as resp:
        assert resp.status == 429
        assert resp.headers["retry-after"] == "2"
        assert resp.headers["x-should-retry"] == "true"
        assert resp.headers["Content-Type"] == "application/json"
        error = (await resp.json())["error"]
    assert error["type"] == "rate_limit_error"
    assert error["code"] == "rate_limit_exceeded"
    assert error["message"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 500, 503, 418])
async def test_every_error_status_has_an_openai_style_body(
    mock_server: MockServer, session: aiohttp.ClientSession, status: int
) -> None:
    mock_server.enqueue(Reply(status=status))
    async with await post(session, mock_server, stream=False) as resp:
        assert resp.status == status
        error = (await resp.json())["error"]
    assert set(error) == {"message", "type", "code"}


async def test_custom_body_and_content_type(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(
        Reply(status=502, body="<html>bad gateway</html>", content_type="text/html"),
        Reply(text="hi", content_type="application/json"),
    )
    async with await post(session, mock_server) as resp:
        assert resp.headers["Content-Type"] == "text/html"
        assert await resp.read() == b"<html>bad gateway</html>"
    async with await post(session, mock_server) as resp:
        assert resp.headers["Content-Type"] == "application/json"
        assert (await resp.read()).startswith(b"data: {")


# --------------------------------------------------------------------------- stream faults


async def test_drop_breaks_the_connection(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="abcdefgh", chunk_size=1, drop_after=3))
    received = b""
    with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)):
        async with await post(session, mock_server) as resp:
            async for piece in resp.content.iter_any():
                received += piece
    assert [json.loads(d)["choices"][0]["delta"].get("content") for d in data_of(received)] == [
        "a",
        "b",
        "c",
    ]
    await asyncio.wait_for(mock_server.wait_until_idle(), 2)
    assert mock_server.closed_by_client == 0


async def test_drop_with_write_size_still_delivers_what_came_before(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="abcdefgh", chunk_size=1, drop_after=2, write_size=5))
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async with await post(session, mock_server) as resp:
            async for piece in resp.content.iter_any():
                received += piece
    assert len(data_of(received)) == 2


async def test_stall_sends_nothing_then_goes_on(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="abcd", chunk_size=1, stall_after=2, stall_seconds=0.5))
    received, stamps = b"", []
    async with await post(session, mock_server) as resp:
        async for piece in resp.content.iter_any():
            received += piece
            stamps.append((len(data_of(received)), time.monotonic()))
    before = max(t for n, t in stamps if n <= 2)
    after = min(t for n, t in stamps if n > 2)
    assert after - before >= 0.45
    assert merge(chunks_of(received))[0]["content"] == "abcd"


async def test_client_leaving_a_stall_is_counted(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="abcd", stall_after=1, stall_seconds=30))
    resp = await post(session, mock_server)
    await resp.content.readuntil(b"\n\n")
    assert mock_server.open_streams == 1
    resp.close()
    await asyncio.wait_for(mock_server.wait_until_idle(), 2)
    assert mock_server.closed_by_client == 1


async def test_client_leaving_a_slow_stream_is_counted(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(chunks=1000, delay=0.01))
    resp = await post(session, mock_server)
    for _ in range(3):
        await resp.content.readuntil(b"\n\n")
    assert mock_server.open_streams == 1
    resp.close()
    await asyncio.wait_for(mock_server.wait_until_idle(), 2)
    assert mock_server.closed_by_client == 1
    await stream_body(session, mock_server)  # a full stream does not count
    assert (mock_server.open_streams, mock_server.closed_by_client) == (0, 1)


async def test_trickle_never_completes_an_event(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    reply = Reply(
        text="ab", chunk_size=1, trickle_after=1, trickle_interval=0.02, stall_seconds=0.3
    )
    mock_server.enqueue(reply)
    async with await post(session, mock_server) as resp:
        pieces = [piece async for piece in resp.content.iter_any()]
    body = b"".join(pieces)
    assert len(data_of(body)) == 1
    tail = body.split(b"\n\n")[-1]
    assert re.fullmatch(rb"data: x{5,}", tail)
    assert sum(piece == b"x" for piece in pieces) >= 5


async def test_malformed_event_then_normal(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="abc", chunk_size=1, malformed_after=2))
    payloads = data_of(await stream_body(session, mock_server))
    assert payloads[2] == b"{not json"
    assert payloads[-1] == b"[DONE]"
    assert len(payloads) == 3 + 1 + 1  # content (the last with its finish), malformed, done


async def test_invalid_utf8_event(mock_server: MockServer, session: aiohttp.ClientSession) -> None:
    mock_server.enqueue(Reply(text="abc", chunk_size=1, invalid_utf8_after=1))
    payloads = data_of(await stream_body(session, mock_server))
    assert b'"content":"\xff"' in payloads[1]
    with pytest.raises(UnicodeDecodeError):
        payloads[1].decode()
    assert payloads[-1] == b"[DONE]"


async def test_no_done(mock_server: MockServer, session: aiohttp.ClientSession) -> None:
    mock_server.enqueue(Reply(text="abc", no_done=True))
    body = await stream_body(session, mock_server)
    assert b"[DONE]" not in body
    assert body.endswith(b"}\n\n")
    assert "usage" in json.loads(data_of(body)[-1])


@pytest.mark.parametrize("as_event_type", [False, True])
async def test_error_event_ends_the_stream(
    mock_server: MockServer, session: aiohttp.ClientSession, as_event_type: bool
) -> None:
    mock_server.enqueue(
        Reply(text="abc", chunk_size=1, error_event_after=2, error_as_event_type=as_event_type)
    )
    body = await stream_body(session, mock_server)
    last = blocks(body)[-1]
    assert last.startswith(b"event: error\ndata: {" if as_event_type else b"data: {")
    error = json.loads(data_of(body)[-1])
    assert error == {
        "error": {
            "message": "The server is overloaded",
            "type": "overloaded_error",
            "code": "overloaded",
        }
    }
    assert len(data_of(body)) == 3
    assert b"[DONE]" not in body


async def test_custom_error_payload(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    payload = {"error": {"message": "nope", "type": "server_error", "code": None}}
    mock_server.enqueue(Reply(error_event_after=0, error_payload=payload))
    assert [json.loads(d) for d in data_of(await stream_body(session, mock_server))] == [payload]


async def test_oversized_event_terminated(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="abc", chunk_size=1, oversized_event_bytes=200_000))
    body = await stream_body(session, mock_server)
    lines = body.split(b"\n")
    big = next(line for line in lines if len(line) > 1000)
    assert len(big) == 200_000
    assert json.loads(big[len(b"data: ") :])["choices"] == []
    assert lines.index(big) == 2  # right after the first chunk
    assert merge(chunks_of(body))[0]["content"] == "abc"


async def test_oversized_event_unterminated(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    reply = Reply(
        text="abc", oversized_event_bytes=100_000, oversized_unterminated=True, stall_seconds=0.3
    )
    mock_server.enqueue(reply)
    started = time.monotonic()
    body = await stream_body(session, mock_server)
    assert time.monotonic() - started >= 0.25
    assert len(data_of(body)) == 1
    tail = body.split(b"\n\n")[-1]
    assert len(tail) == 100_000
    assert tail.startswith(b"data: {")


async def test_tiny_oversized_event_is_still_exact(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="abc", oversized_event_bytes=20))
    body = await stream_body(session, mock_server)
    assert blocks(body)[1] == b"data: " + b"x" * 14


async def test_trailing_bytes_after_done(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="abc", trailing_after_done=b"data: late\n\n"))
    assert (await stream_body(session, mock_server)).endswith(b"data: [DONE]\n\ndata: late\n\n")


async def test_fault_past_the_end_acts_before_done(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="abc", malformed_after=100))
    payloads = data_of(await stream_body(session, mock_server))
    assert payloads[-2:] == [b"{not json", b"[DONE]"]


# --------------------------------------------------------------------------- bookkeeping


async def test_requests_are_recorded(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    await read_raw(
        await session.post(
            mock_server.base_url + CHAT,
            json={"model": "m", "messages": MESSAGES},
            headers={"Authorization": "Bearer xai-test", "X-Custom": "1"},
        )
    )
    await read_raw(await session.post(mock_server.base_url + "/nope", data=b"x"))
    await read_raw(await session.post(mock_server.base_url + CHAT, data=b"{not json"))
    await read_raw(await session.get(mock_server.base_url + CHAT))
    first, missing, broken, get = mock_server.requests
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path) == ("POST", "/v1/chat/completions")
    assert first.headers["authorization"] == "Bearer xai-test"
    assert first.headers["AUTHORIZATION"] == "Bearer xai-test"
    assert first.headers["x-custom"] == "1"
    assert first.json == {"model": "m", "messages": MESSAGES}
    assert json.loads(first.body) == first.json
    assert (missing.path, missing.body, missing.json) == ("/v1/nope", b"x", None)
    assert (broken.body, broken.json) == (b"{not json", None)
    assert get.method == "GET"


async def test_routing_and_bad_requests(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    root = mock_server.base_url.removesuffix("/v1")
    async with session.post(root + "/chat/completions", json={"model": "m"}) as resp:
        assert resp.status == 200
    for method, url, data, status in [
        ("POST", mock_server.base_url + "/models", b"{}", 404),
        ("GET", mock_server.base_url + CHAT, None, 405),
        ("POST", mock_server.base_url + CHAT, b"[1, 2]", 400),
    ]:
        async with session.request(method, url, data=data) as resp:
            assert resp.status == status
            assert "error" in await resp.json()


async def test_queue_order_then_default(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    mock_server.enqueue(Reply(text="one"), Reply(status=503))
    mock_server.default = Reply(text="default")
    seen = []
    for _ in range(4):
        async with await post(session, mock_server, stream=False) as resp:
            body = await resp.json()
            seen.append(
                resp.status if resp.status != 200 else body["choices"][0]["message"]["content"]
            )
    assert seen == ["one", 503, "default", "default"]


async def test_connections_seen(mock_server: MockServer, session: aiohttp.ClientSession) -> None:
    await stream_body(session, mock_server)
    await stream_body(session, mock_server)
    assert mock_server.connections_seen == 1
    async with aiohttp.ClientSession() as other:
        await stream_body(other, mock_server)
    assert mock_server.connections_seen == 2


async def test_close_ends_held_streams_quickly(session: aiohttp.ClientSession) -> None:
    srv = MockServer(strict=False, default=Reply(stall_after=1, stall_seconds=30))
    await srv.start()
    resp = await post(session, srv)
    await resp.content.readuntil(b"\n\n")
    started = time.monotonic()
    await srv.close()
    assert time.monotonic() - started < 1.5
    await read_raw(resp)  # the body ends (cleanly or not) instead of hanging
    await srv.close()  # twice is fine
    with pytest.raises(RuntimeError):
        srv.base_url  # noqa: B018


# --------------------------------------------------------------------------- sync use


def _sync_post(url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url + CHAT, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def test_running_in_thread_from_sync_code() -> None:
    threads_before = set(threading.enumerate())
    with MockServer.running_in_thread(strict=False, default=Reply(text="default")) as srv:
        assert srv.base_url.startswith("http://127.0.0.1:")
        srv.enqueue(Reply(text="queued"), Reply(status=500))
        status, body = _sync_post(srv.base_url, {"model": "m", "stream": True})
        assert status == 200
        assert merge(chunks_of(body))[0]["content"] == "queued"
        assert _sync_post(srv.base_url, {"model": "m"})[0] == 500
        status, body = _sync_post(srv.base_url, {"model": "m"})
        assert json.loads(body)["choices"][0]["message"]["content"] == "default"
        assert len(srv.requests) == 3
    assert set(threading.enumerate()) == threads_before


def test_running_in_thread_stops_with_a_stream_held_open() -> None:
    threads_before = set(threading.enumerate())
    with MockServer.running_in_thread(strict=False, default=Reply(stall_after=0, stall_seconds=30)) as srv:
        conn = socket.create_connection(("127.0.0.1", srv.port))
        body = b'{"stream": true}'
        conn.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        conn.recv(100)
        started = time.monotonic()
    conn.close()
    assert time.monotonic() - started < 2
    assert set(threading.enumerate()) == threads_before


def test_running_in_thread_reports_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError), MockServer.running_in_thread(strict=False, port=port):
            pass  # pragma: no cover


def test_serve_in_the_foreground_until_ctrl_c() -> None:
    code = "from xstream.testing import serve; serve(port=0, strict=False)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://\S+/v1", line)
        assert url, line
        assert _sync_post(url.group(0), {"model": "m"})[0] == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_import_does_not_need_pytest() -> None:
    code = "import sys, xstream.testing; assert 'pytest' not in sys.modules, 'pytest imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=20)


def test_reply_validates_its_options() -> None:
    for bad in ({"chunk_size": 0}, {"line_end": "\n\n"}, {"write_size": 0}, {"n_choices": 0}):
        with pytest.raises(ValueError):
            Reply(**bad)


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
async def test_max_tokens_cuts_the_answer_with_finish_length(
    mock_server: MockServer, session: aiohttp.ClientSession, field: str
) -> None:
    reply = Reply(text="abcdefgh", reasoning="xyz", chunk_size=1)
    mock_server.enqueue(reply, reply, reply)
    chunks = chunks_of(await stream_body(session, mock_server, **{field: 5}))
    merged = merge(chunks)[0]
    assert (merged["reasoning_content"], merged["content"]) == ("xyz", "ab")  # 5 tokens
    assert merged["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 5
    async with await post(session, mock_server, stream=False, **{field: 2}) as resp:
        completion = await resp.json()
    assert completion["choices"][0]["message"]["reasoning_content"] == "xy"
    assert completion["choices"][0]["message"]["content"] == ""
    assert completion["choices"][0]["finish_reason"] == "length"
    whole = chunks_of(await stream_body(session, mock_server, **{field: 11}))  # room enough
    assert merge(whole)[0]["finish_reason"] == "stop"


async def test_max_tokens_cuts_tool_arguments(
    mock_server: MockServer, session: aiohttp.ClientSession
) -> None:
    calls = [ToolCallScript("f", "123456", id="call_a"), ToolCallScript("g", "78", id="call_b")]
    mock_server.enqueue(Reply(text="", tool_calls=calls, chunk_size=2))
    chunks = chunks_of(await stream_body(session, mock_server, max_tokens=2))
    merged = merge(chunks)[0]
    assert [c["function"]["arguments"] for c in merged["tool_calls"]] == ["1234"]
    assert merged["finish_reason"] == "length"
