"""A raw WebSocket server that misbehaves, one fault at a time: each fault is typed,
raised on time, after every event that arrived, and the API key is in no message."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp import WSCloseCode, web

import xstream
from tests.conftest import KEY
from tests.resources.test_responses import response_events


class FaultServer:
    def __init__(self) -> None:
        self.mode = "ok"
        self.upgrades = 0
        self.auth: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.upgrades += 1
        self.auth.append(request.headers.get("Authorization", ""))
        if self.mode == "no_upgrade":
            await asyncio.sleep(30)  # never answers the upgrade
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        events = response_events()
        async for msg in ws:
            assert msgspec.json.decode(msg.data)["type"] == "response.create"
            if self.mode == "close_mid":
                for event in events[:4]:
                    await ws.send_str(msgspec.json.encode(event).decode())
                await ws.close(code=WSCloseCode.INTERNAL_ERROR)
            elif self.mode == "close_first":
                await ws.close(code=WSCloseCode.INTERNAL_ERROR)
            elif self.mode == "going_away" and self.upgrades == 1:
                await ws.close(code=WSCloseCode.GOING_AWAY)
            elif self.mode == "going_away_late":
                for event in events[:2]:
                    await ws.send_str(msgspec.json.encode(event).decode())
                await ws.close(code=WSCloseCode.GOING_AWAY)
            elif self.mode == "flood":
                for n in range(5000):  # 10 MB of deltas, as fast as the socket takes them
                    delta = {**events[4], "delta": "x" * 2000, "sequence_number": n}
                    await ws.send_str(msgspec.json.encode(delta).decode())
                done = {**events[-1], "sequence_number": 5000}
                await ws.send_str(msgspec.json.encode(done).decode())
            elif self.mode == "oversize":
                for event in events[:3]:
                    await ws.send_str(msgspec.json.encode(event).decode())
                await ws.send_str(
                    '{"type": "response.output_text.delta", "delta": "' + "x" * 5000 + '"}'
                )
            elif self.mode == "not_json":
                for event in events[:3]:
                    await ws.send_str(msgspec.json.encode(event).decode())
                await ws.send_str(f"<html>oops {KEY}</html>")
            else:
                for event in events:
                    await ws.send_str(msgspec.json.encode(event).decode())
        return ws


@pytest.fixture
async def fault() -> AsyncIterator[tuple[FaultServer, str]]:
    srv = FaultServer()
    app = web.Application()
    app.router.add_get("/v1/responses", srv.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield srv, f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    await runner.cleanup()


async def run_turn(base_url: str, **client: Any) -> tuple[list[Any], BaseException, float]:
    seen: list[Any] = []
    started = time.monotonic()
    async with (
        xstream.AsyncClient(KEY, base_url=base_url, **client) as c,
        c.responses.connect() as session,
    ):
        try:
            stream = await session.create(model="grok-4", input="Hi")
            async for event in stream:
                seen.append(event)
        except xstream.APIError as exc:
            error: BaseException = exc
        else:
            pytest.fail("no error")
    return seen, error, time.monotonic() - started


def no_key(error: BaseException) -> None:
    assert KEY not in str(error)
    assert KEY not in repr(error.args)
    assert all(KEY not in repr(v) for v in vars(error).values())


async def test_a_socket_closed_mid_response(fault: tuple[FaultServer, str]) -> None:
    srv, url = fault
    srv.mode = "close_mid"
    seen, error, took = await run_turn(url, max_retries=0)
    assert isinstance(error, xstream.StreamDisconnectedError)
    assert len(seen) == 4 and error.events_received == 4
    assert "1011" in str(error)
    assert took < 2
    assert srv.auth == [f"Bearer {KEY}"]  # the same auth header as HTTP
    no_key(error)


async def test_a_socket_closed_before_the_first_event(fault: tuple[FaultServer, str]) -> None:
    srv, url = fault
    srv.mode = "close_first"
    seen, error, took = await run_turn(url, max_retries=2)
    assert isinstance(error, xstream.StreamDisconnectedError)
    assert seen == [] and took < 2
    assert srv.upgrades == 1  # not "going away": not sent again
    no_key(error)


async def test_going_away_before_the_first_event_is_sent_again(
    fault: tuple[FaultServer, str],
) -> None:
    srv, url = fault
    srv.mode = "going_away"
    async with (
        xstream.AsyncClient(KEY, base_url=url, max_retries=2) as c,
        c.responses.connect() as session,
    ):
        stream = await session.create(model="grok-4", input="Hi")
        assert (await stream.get_final_response()).output_text
    assert srv.upgrades == 2


async def test_an_oversize_message(fault: tuple[FaultServer, str]) -> None:
    srv, url = fault
    srv.mode = "oversize"
    seen, error, took = await run_turn(url, max_retries=0, max_event_bytes=4096)
    assert isinstance(error, xstream.EventTooLargeError)  # as an oversize SSE event is
    assert error.limit == 4096 and "max_event_bytes" in str(error)
    assert len(seen) == 3 and took < 2
    no_key(error)


async def test_a_message_that_is_not_json(fault: tuple[FaultServer, str]) -> None:
    srv, url = fault
    srv.mode = "not_json"
    seen, error, took = await run_turn(url, max_retries=0)
    assert isinstance(error, xstream.MalformedEventError)
    assert len(seen) == 3 and took < 2
    no_key(error)


async def test_a_server_that_never_answers_the_upgrade(fault: tuple[FaultServer, str]) -> None:
    srv, url = fault
    srv.mode = "no_upgrade"
    timeout = xstream.Timeout(connect=1.0, first_event=0.3, idle=1.0, total=None)
    seen, error, took = await run_turn(url, max_retries=0, timeout=timeout)
    assert isinstance(error, xstream.FirstEventTimeoutError)
    assert seen == [] and 0.25 < took < 1.5
    no_key(error)


async def test_going_away_after_the_first_event_is_never_sent_again(
    fault: tuple[FaultServer, str],
) -> None:
    srv, url = fault
    srv.mode = "going_away_late"
    seen, error, took = await run_turn(url, max_retries=2)
    assert isinstance(error, xstream.StreamDisconnectedError)
    assert len(seen) == 2 and error.events_received == 2 and took < 2
    assert srv.upgrades == 1  # events arrived: a retry could repeat them
    no_key(error)


async def test_a_peer_flooding_messages_grows_no_memory_past_what_the_consumer_holds(
    fault: tuple[FaultServer, str],
) -> None:
    srv, url = fault
    srv.mode = "flood"
    async with (
        xstream.AsyncClient(KEY, base_url=url, max_event_bytes=16 * 1024) as c,
        c.responses.connect() as session,
    ):
        stream = await session.create(model="grok-4", input="Hi")
        events = aiter(stream)
        await anext(events)  # one event read, then the consumer is busy elsewhere
        tracemalloc.start()
        try:
            await asyncio.sleep(0.5)  # the server sends as fast as the socket takes
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert held < 1_000_000  # 10 MB were sent; the session holds a few messages
        count = 1 + len([e async for e in events])
    assert count == 5001  # and nothing was lost
