"""Hostile peers: hand-written HTTP/1.1 servers that misbehave on purpose (tests/rawhttp.py).

Each rule is checked for every kind it applies to, with the exact items delivered
before the error asserted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import xstream
from xstream._redact import Redactor

from .rawhttp import Conn, RawServer, response, sse_chunk

KEY = "xai-SeCrEt-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "hi"}]


def client(server: RawServer, **kw: Any) -> xstream.AsyncClient:
    kw.setdefault("max_retries", 0)
    return xstream.AsyncClient(KEY, base_url=server.base_url, **kw)


def assert_no_key(error: BaseException) -> None:
    """The key in no message, repr, args or attribute built from server bytes."""
    seen = [str(error), repr(error), *map(repr, error.args)]
    seen += [repr(v) for k, v in vars(error).items() if k != "response"]
    for text in seen:
        assert KEY not in text, text
    assert "***" in str(error) or "***" in repr(vars(error))


def serve_once(payload: bytes, *, keep_open: float = 0.0):  # type: ignore[no-untyped-def]
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(payload)
        if keep_open:
            await asyncio.sleep(keep_open)

    return RawServer(handler)


# ------------------------------------------------------------------ rule 4: no key in messages


ECHO = f"the key {KEY} is not allowed".encode()


@pytest.mark.parametrize(
    "body",
    [
        # an in-stream error event, after one good chunk
        sse_chunk(0) + b'event: error\ndata: {"error": {"message": "' + ECHO + b'"}}\n\n',
        # an error object in a data event
        sse_chunk(0) + b'data: {"error": {"message": "' + ECHO + b'", "code": 429}}\n\n',
        # an event that is not JSON at all
        sse_chunk(0) + b"data: {not json " + ECHO + b"\n\n",
        # invalid UTF-8 next to the key
        sse_chunk(0) + b'data: {"id": "\xff ' + ECHO + b'"}\n\n',
    ],
    ids=["error-event", "error-in-data", "not-json", "not-utf8"],
)
async def test_a_key_echoed_in_the_stream_is_in_no_message(body: bytes) -> None:
    payload = response(body, content_type="text/event-stream")
    async with serve_once(payload) as server, client(server) as c:
        stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        got: list[str] = []
        with pytest.raises(xstream.StreamError) as info:
            async for item in stream:
                got.append(item.id)
    assert got == ["c0"]
    assert_no_key(info.value)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_key_echoed_in_a_json_error_body_is_in_no_message(stream: bool) -> None:
    body = b'{"error": {"message": "' + ECHO + b'", "type": "invalid_request_error"}}'
    async with serve_once(response(body)) as server, client(server) as c:
        with pytest.raises(xstream.APIError) as info:
            await c.chat.completions.create(model="m", messages=MESSAGES, stream=stream)
    assert_no_key(info.value)


async def test_a_key_echoed_in_a_status_error_and_in_the_responses_api() -> None:
    body = b'{"error": {"message": "' + ECHO + b'"}}'
    payload = response(body, status="401 Unauthorized")
    async with serve_once(payload) as server, client(server) as c:
        with pytest.raises(xstream.AuthenticationError) as info:
            await c.responses.create(model="m", input="hi", stream=True)
    assert_no_key(info.value)
    assert info.value.body == {"error": {"message": "the key *** is not allowed"}}


async def test_a_key_echoed_in_a_typed_event_stream_is_in_no_message() -> None:
    body = b'data: {"n": 1}\n\ndata: {"n": "' + ECHO + b'"}\n\n'
    payload = response(body, content_type="text/event-stream")
    async with serve_once(payload) as server, client(server) as c:
        stream = await c.sse("POST", "events", type=dict[str, int])
        got: list[Any] = []
        with pytest.raises(xstream.MalformedEventError) as info:
            async for item in stream:
                got.append(item)
    assert got == [{"n": 1}]
    assert_no_key(info.value)
    assert info.value.payload == b'{"n": "the key *** is not allowed"}'


def test_redaction_never_mangles_ordinary_words() -> None:
    redactor = Redactor(["k", KEY])
    assert redactor.redact("check the key k, and k.") == "check the key ***, and ***."
    assert redactor.redact(f"Bearer {KEY}") == "Bearer ***"
    assert redactor.redact(f"x{KEY}") == f"x{KEY}"  # not the key: part of another token
    assert Redactor([]).redact("check") == "check"


def test_retry_logs_carry_no_key(caplog: pytest.LogCaptureFixture) -> None:
    body = b'{"error": {"message": "' + ECHO + b'"}}'

    async def main() -> None:
        payload = response(body, status="503 Service Unavailable")
        async with serve_once(payload) as server, client(server, max_retries=1) as c:
            with pytest.raises(xstream.InternalServerError):
                await c.chat.completions.create(model="m", messages=MESSAGES)

    with caplog.at_level(logging.DEBUG, logger="xstream"):
        asyncio.run(main())
    assert "retrying" in caplog.text and KEY not in caplog.text


def test_the_cli_uses_the_same_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from xstream.__main__ import _fail

    monkeypatch.setenv("XAI_API_KEY", "k")
    out = io.StringIO()
    _fail(out, "check the key k")
    assert out.getvalue() == "error: check the key ***\n"
