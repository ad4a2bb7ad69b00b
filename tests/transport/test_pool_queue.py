"""Calls beyond ``max_connections`` wait their turn before their request is built
(issue 28: 10,000 streams over a pool of 1,000 held 9,000 built aiohttp requests
while they waited), in the order they came, and the wait is the pool's, not the
server's: it counts against ``total`` only."""

from __future__ import annotations

import asyncio
import gc
import json
import time

import aiohttp
import pytest

import xstream
from tests.transport.rawhttp import Conn, RawServer, chunk, chunked_head, sse_chunk

KEY = "xai-SeCrEt-0123456789abcdef"
DONE = b"data: [DONE]\n\n"


def holding(seconds: float) -> RawServer:
    """Answers every request at once with one chunk, then holds the stream
    ``seconds`` before its end; keeps the connection for the next request."""

    async def handler(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.send(chunked_head() + chunk(sse_chunk(1, "a")))
            await asyncio.sleep(seconds)
            await conn.send(chunk(sse_chunk(2, "b")) + chunk(DONE) + b"0\r\n\r\n")

    return RawServer(handler)


def messages(n: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"call {n}"}]


async def read(client: xstream.AsyncClient, n: int, **options: object) -> str:
    stream = await client.chat.completions.create(
        model="grok-4", messages=messages(n), stream=True, **options
    )
    text = ""
    async for chunk_ in stream:
        text += chunk_.choices[0].delta.content or ""
    return text


def built_requests() -> int:
    gc.collect()  # what earlier tests left in cycles is not a request held
    return sum(isinstance(o, aiohttp.ClientRequest) for o in gc.get_objects())


async def test_calls_beyond_the_pool_wait_unbuilt_and_go_out_in_the_order_they_came() -> None:
    async with (
        holding(0.3) as server,
        xstream.AsyncClient(KEY, base_url=server.base_url, max_connections=2) as client,
    ):
        tasks = []
        for n in range(6):
            tasks.append(asyncio.create_task(read(client, n)))
            await asyncio.sleep(0.01)  # in this order
        await asyncio.sleep(0.1)  # two are streaming, four wait
        assert len(server.seen) == 2
        assert built_requests() <= 2  # a waiting call holds no request yet
        assert await asyncio.gather(*tasks) == ["ab"] * 6
    sent = [json.loads(seen.body)["messages"][0]["content"] for seen in server.seen]
    assert sent == [f"call {n}" for n in range(6)]
    assert server.connections == 2


async def test_a_waiting_call_holds_no_telemetry_record_yet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # what telemetry records of a call is made when its request is built (and only
    # when telemetry is on): a call waiting its turn holds what it sends, no more
    from xstream._resources import calls

    made: list[str] = []
    real = calls._chat_trace

    def counting(*args: object) -> dict[str, object]:
        made.append("trace")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(calls, "_chat_trace", counting)
    async with (
        holding(0.3) as server,
        xstream.AsyncClient(KEY, base_url=server.base_url, max_connections=2) as client,
    ):
        tasks = [asyncio.create_task(read(client, n)) for n in range(6)]
        await asyncio.sleep(0.1)  # two are streaming, four wait
        assert len(made) == 2
        assert await asyncio.gather(*tasks) == ["ab"] * 6
        assert len(made) == 6
    made.clear()
    async with (
        holding(0.0) as server,
        xstream.AsyncClient(KEY, base_url=server.base_url, telemetry=False) as client,
    ):
        assert await read(client, 0) == "ab"
    assert made == []


def awaited_chain(task: asyncio.Task[object]) -> list[str]:
    """What a suspended task awaits, outermost first: coroutines by name, then the
    object at the end (a future)."""
    chain: list[str] = []
    awaited: object = task.get_coro()
    while awaited is not None:
        code = getattr(awaited, "cr_code", None)
        if code is None:
            chain.append(type(awaited).__name__)
            break
        chain.append(code.co_qualname)
        awaited = awaited.cr_await  # type: ignore[attr-defined]
    return chain


async def test_a_waiting_call_waits_on_one_future_in_its_own_frame() -> None:
    # Thousands of calls waiting for a pool of hundreds: each holds what its chain of
    # coroutines holds. The call awaits its turn's future itself: no coroutine of the
    # pool's (nor of a context manager's) per waiting call.
    async with (
        holding(0.3) as server,
        xstream.AsyncClient(KEY, base_url=server.base_url, max_connections=1) as client,
    ):
        tasks = [asyncio.create_task(read(client, n)) for n in range(3)]
        await asyncio.sleep(0.1)  # one streams, two wait
        waiting = [awaited_chain(task) for task in tasks[1:]]
        assert waiting == [["read", "AsyncCompletions.create", "AsyncAPI.call", "FutureIter"]] * 2
        assert await asyncio.gather(*tasks) == ["ab"] * 3


async def test_the_wait_for_a_free_connection_is_not_the_servers_response_deadline() -> None:
    # One connection; each stream holds it 0.5 s. The second call waits 0.5 s for it,
    # longer than its response and first-event deadlines (0.3 s): the server was fast.
    deadlines = xstream.Timeout(response=0.3, first_event=0.3)
    async with (
        holding(0.5) as server,
        xstream.AsyncClient(
            KEY, base_url=server.base_url, max_connections=1, timeout=deadlines, max_retries=0
        ) as client,
    ):
        assert await asyncio.gather(read(client, 0), read(client, 1)) == ["ab", "ab"]


async def test_total_bounds_the_wait_for_a_free_connection() -> None:
    async with (
        holding(3.0) as server,
        xstream.AsyncClient(KEY, base_url=server.base_url, max_connections=1) as client,
    ):
        first = asyncio.create_task(read(client, 0))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(xstream.TotalTimeoutError) as caught:
            await read(client, 1, timeout=xstream.Timeout(total=0.3))
        assert 0.25 < time.monotonic() - started < 1.5
        assert caught.value.deadline == "total"
        assert KEY not in str(caught.value)
        assert len(server.seen) == 1  # it never went out
        first.cancel()


async def test_a_waiting_call_that_is_cancelled_gives_its_turn_to_the_next() -> None:
    async with (
        holding(0.3) as server,
        xstream.AsyncClient(KEY, base_url=server.base_url, max_connections=1) as client,
    ):
        first = asyncio.create_task(read(client, 0))
        await asyncio.sleep(0.05)
        cancelled = asyncio.create_task(read(client, 1))
        after = asyncio.create_task(read(client, 2))
        await asyncio.sleep(0.05)
        cancelled.cancel()
        assert await asyncio.wait_for(asyncio.gather(first, after), 5) == ["ab", "ab"]
        # no place in the pool was lost: three more, one at a time, still complete
        again = [read(client, n) for n in range(3, 6)]
        assert await asyncio.wait_for(asyncio.gather(*again), 5) == ["ab"] * 3
    assert [json.loads(s.body)["messages"][0]["content"] for s in server.seen] == [
        "call 0",
        "call 2",
        "call 3",
        "call 4",
        "call 5",
    ]


async def test_waiting_calls_fail_as_closed_when_the_client_closes() -> None:
    async with holding(5.0) as server:
        client = xstream.AsyncClient(KEY, base_url=server.base_url, max_connections=1)
        first = asyncio.create_task(read(client, 0))
        waiting = asyncio.create_task(read(client, 1))
        await asyncio.sleep(0.1)
        await client.aclose()
        with pytest.raises(xstream.APIConnectionError):
            await asyncio.wait_for(waiting, 5)
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
