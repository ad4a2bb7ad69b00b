"""A gateway's day in one test (issue 28): a thousand and more streams through one
client and a small pool, against a server that fails at random (statuses, resets
before the head, cuts and stalls mid-body, malformed and error events, no end
marker, slow bodies), with consumers that break off, drop out and get cancelled.

What a gateway relies on, whatever the mix:

* every stream ends, in bounded time: its whole text, a typed :class:`XStreamError`,
  or the consumer's cancellation; nothing hangs;
* what a consumer received is its own stream's chunks, in order, each once: a
  prefix of them when it failed (a retry never repeats or mixes chunks);
* no error, repr or attribute carries the API key;
* the pool gets all its room back: afterwards as many streams as ``max_connections``
  are open at the same time (a turn leaked by a cancelled or failed call would keep
  one of them queued);
* nothing is left for the loop's exception handler, and no warning is raised
  (every warning is an error in this suite).

The faults are drawn from seeded generators, per stream and per attempt: a failing
run names the seed and the stream to replay.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

import xstream

KEY = "xai-GaTeWaY-SeCrEt-0123456789"
STREAMS = 1500
POOL = 60
FAULTS = (
    "ok",
    "ok",
    "ok",
    "status_500",
    "status_429",
    "reset_before_head",
    "cut_mid_body",
    "stall_mid_body",
    "malformed_event",
    "error_event",
    "overloaded_event",
    "no_done",
    "slow",
)
STALL = 1.0  # seconds a stalled body waits: longer than the client's idle deadline
IDLE = 0.3


def chunk_count(name: str) -> int:
    return random.Random(name).randint(1, 25)


def piece(name: str, i: int) -> str:
    return f"{name}:{i};"


def sse(name: str, i: int) -> bytes:
    chunk = {
        "id": f"chatcmpl-{name}",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "grok-4",
        "choices": [{"index": 0, "delta": {"content": piece(name, i)}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


class FaultyServer:
    """Answers ``POST /v1/chat/completions`` for stream ``name`` (the first message's
    content): a fault drawn for (seed, name, attempt); the third attempt and later
    always answer in full. ``/v1/hold``-named streams wait until ``hold`` are open."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.attempts: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.hold = 0
        self.holding = 0
        self.all_held = asyncio.Event()

    async def handler(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        name: str = body["messages"][0]["content"]
        if name.startswith("hold"):
            return await self._held(request, name)
        attempt = self.attempts[name]
        self.attempts[name] += 1
        draw = random.Random(f"{self.seed}/{name}/{attempt}")
        fault = draw.choice(FAULTS) if attempt < 2 else "ok"
        self.faults[fault] += 1
        if fault == "status_500":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if fault == "status_429":
            return web.json_response(
                {"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "0"}
            )
        if fault == "reset_before_head":
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        count = chunk_count(name)
        cut = draw.randint(0, count - 1)
        for i in range(count):
            if i == cut and fault != "ok":
                if fault == "cut_mid_body":
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                if fault == "stall_mid_body":
                    await asyncio.sleep(STALL)
                    return response
                if fault == "malformed_event":
                    await response.write(b"data: {not json\n\n")
                if fault == "error_event":
                    await response.write(
                        b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
                    )
                    return response
                if fault == "overloaded_event":  # retried by the client before any chunk
                    await response.write(
                        b'data: {"error": {"message": "busy", "type": "overloaded_error"}}\n\n'
                    )
                    return response
            await response.write(sse(name, i))
            if fault == "slow":
                await asyncio.sleep(0.002)
        if fault != "no_done":
            await response.write(b"data: [DONE]\n\n")
        return response

    async def _held(self, request: web.Request, name: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        self.holding += 1
        if self.holding >= self.hold:
            self.all_held.set()
        await self.all_held.wait()
        await response.write(sse(name, 0) + b"data: [DONE]\n\n")
        return response


@pytest.fixture
async def faulty() -> AsyncIterator[tuple[FaultyServer, str]]:
    server = FaultyServer(seed=28)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.handler)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield server, f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


def no_key_in(exc: BaseException) -> None:
    shown = [str(exc), repr(exc), *(repr(v) for v in vars(exc).values())]
    assert not any(KEY in s for s in shown), f"the API key in {type(exc).__name__}"


async def test_many_streams_under_random_faults_and_cancellations_all_end_cleanly(
    faulty: tuple[FaultyServer, str],
) -> None:
    server, base_url = faulty
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    behaviours = random.Random(2028)
    outcomes: Counter[str] = Counter()
    wrong: list[str] = []

    async with xstream.AsyncClient(
        KEY,
        base_url=base_url,
        max_connections=POOL,
        max_retries=2,
        timeout=xstream.Timeout(connect=5, first_event=2, idle=IDLE),
    ) as client:

        async def consume(name: str, behaviour: str) -> str:
            got: list[str] = []
            try:
                stream = await client.chat.completions.create(
                    model="grok-4", messages=[{"role": "user", "content": name}], stream=True
                )
                if behaviour == "drop":  # leaves the loop early, never closing the stream
                    async for chunk in stream:
                        got.append(chunk.choices[0].delta.content or "")
                        if len(got) == 2:
                            return "dropped"
                    return "read (dropped)"
                async with stream:
                    async for chunk in stream:
                        got.append(chunk.choices[0].delta.content or "")
                        if behaviour == "break" and len(got) == 2:
                            break
                want = [piece(name, i) for i in range(chunk_count(name))]
                if behaviour == "read" and got != want:
                    wrong.append(f"{name}: read {got}, sent {want}")
                return behaviour
            except xstream.XStreamError as exc:
                no_key_in(exc)
                return type(exc).__name__
            finally:
                # whatever ended it: what arrived is this stream's, in order, each once
                if got != [piece(name, i) for i in range(len(got))]:
                    wrong.append(f"{name}: received {got}")

        tasks = [
            asyncio.ensure_future(
                consume(f"s{n}", behaviours.choice(("read", "read", "read", "break", "drop")))
            )
            for n in range(STREAMS)
        ]
        for _ in range(STREAMS // 10):  # cancellations at any moment: queued, sending, reading
            await asyncio.sleep(behaviours.random() * 0.004)
            behaviours.choice(tasks).cancel()
        done, pending = await asyncio.wait(tasks, timeout=45)
        assert not pending, f"{len(pending)} streams never ended"
        for task in done:
            outcomes["cancelled" if task.cancelled() else task.result()] += 1

        assert not wrong, "\n".join(wrong[:5])
        # each fault happened, and showed as what it is
        assert all(server.faults[f] > 0 for f in FAULTS), server.faults
        assert outcomes["read"] > STREAMS // 8, outcomes  # most streams meet a fault, or leave
        for error in (
            "IdleTimeoutError",
            "StreamDisconnectedError",
            "MalformedEventError",
            "OverloadedError",
        ):
            assert outcomes[error] > 0, outcomes
        assert outcomes["IncompleteStreamError"] > 0, outcomes
        assert outcomes["cancelled"] > 0, outcomes
        assert set(outcomes) <= {
            "read", "break", "drop", "dropped", "read (dropped)", "cancelled",
            "IdleTimeoutError", "StreamDisconnectedError", "MalformedEventError",
            "IncompleteStreamError", "ServerStreamError", "OverloadedError",
            "FirstEventTimeoutError", "APIConnectionError", "ProtocolError",
        }, outcomes  # fmt: skip

        # the pool has all its room back: POOL streams open at once, none left queued
        server.hold = POOL
        held = [
            asyncio.ensure_future(
                client.chat.completions.create(
                    model="grok-4", messages=[{"role": "user", "content": f"hold{n}"}], stream=True
                )
            )
            for n in range(POOL)
        ]
        await asyncio.wait_for(server.all_held.wait(), 10)
        for n, stream in enumerate(await asyncio.gather(*held)):
            async with stream:
                assert [c.choices[0].delta.content async for c in stream] == [piece(f"hold{n}", 0)]

    assert not unhandled, unhandled[:3]
