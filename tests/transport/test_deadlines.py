"""The response-start deadline, apart from ``first_event``, and errors that say how
many attempts were made and over how long (issue 27: a server that accepts and
never answers must fail in seconds, while a thinking model may take minutes)."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

import xstream
from tests.transport.rawhttp import Conn, RawServer, chunk, chunked_head, sse_chunk

KEY = "xai-SeCrEt-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "hi"}]
DONE = b"data: [DONE]\n\n"


def silent() -> RawServer:
    """Accepts, reads each request, never answers."""

    async def handler(conn: Conn) -> None:
        await conn.request()
        await asyncio.Event().wait()  # until the server closes

    return RawServer(handler)


def thinking(seconds: float) -> RawServer:
    """Sends the head at once, then thinks for ``seconds`` before the answer."""

    async def handler(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.send(chunked_head())
            await asyncio.sleep(seconds)
            await conn.send(chunk(sse_chunk(1, "42")) + chunk(DONE) + b"0\r\n\r\n")

    return RawServer(handler)


def test_the_default_response_deadline_is_seconds_not_the_first_event_one() -> None:
    t = xstream.Timeout()
    assert t.response is not None and t.first_event is not None
    assert t.response <= 30 < t.first_event
    assert xstream.Timeout.coerce(2).response == 2
    assert xstream.Timeout.coerce(None).response is None


async def test_a_silent_server_fails_on_the_response_deadline_saying_how_often_and_how_long() -> (
    None
):
    deadlines = xstream.Timeout(response=0.3, first_event=60)
    async with (
        silent() as server,
        xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=2) as client,
    ):
        started = time.monotonic()
        with pytest.raises(xstream.ResponseTimeoutError) as caught:
            await client.chat.completions.create(
                model="m", messages=MESSAGES, stream=True, timeout=deadlines
            )
        took = time.monotonic() - started
    error = caught.value
    assert isinstance(error, xstream.APITimeoutError) and error.deadline == "response"
    assert took < 5  # three attempts of 0.3 s and two backoffs, not three of first_event
    assert len(server.seen) == 3 and error.attempts == 3
    # (elapsed is read on the loop's clock: uvloop's ticks in milliseconds)
    assert error.elapsed is not None and 0.9 <= error.elapsed <= took + 0.001
    match = re.search(r"\(3 attempts over (\d+\.\d) s\)", str(error))
    assert match is not None, str(error)
    assert "response deadline of 0.3 s" in str(error)
    assert KEY not in str(error)


async def test_one_attempt_is_said_too() -> None:
    async with (
        silent() as server,
        xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        with pytest.raises(xstream.ResponseTimeoutError, match=r"\(1 attempt over 0\.\d s\)"):
            await client.chat.completions.create(
                model="m", messages=MESSAGES, stream=True, timeout=xstream.Timeout(response=0.2)
            )


async def test_a_model_thinking_past_the_response_deadline_is_not_cut() -> None:
    """Headers at once, the first event later than ``response``: that is thinking."""
    deadlines = xstream.Timeout(response=0.2, first_event=5)
    async with (
        thinking(0.6) as server,
        xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        stream = await client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, timeout=deadlines
        )
        text = "".join([piece async for piece in stream.text_stream])
    assert text == "42"


async def test_a_non_streamed_answer_is_bounded_by_first_event_not_response() -> None:
    """A non-streamed head comes with the whole answer: the response deadline does not apply."""

    async def handler(conn: Conn) -> None:
        from tests.transport.rawhttp import COMPLETION, response

        while await conn.request() is not None:
            await asyncio.sleep(0.5)
            await conn.send(response(COMPLETION))

    deadlines = xstream.Timeout(response=0.1, first_event=5)
    async with (
        RawServer(handler) as server,
        xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        completion = await client.chat.completions.create(
            model="m", messages=MESSAGES, timeout=deadlines
        )
    assert completion.choices[0].message.content == "right answer"


async def test_first_event_still_names_itself_when_it_is_the_shorter() -> None:
    deadlines = xstream.Timeout(response=10, first_event=0.2)
    async with (
        silent() as server,
        xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        with pytest.raises(xstream.FirstEventTimeoutError) as caught:
            await client.chat.completions.create(
                model="m", messages=MESSAGES, stream=True, timeout=deadlines
            )
    assert caught.value.deadline == "first_event"
