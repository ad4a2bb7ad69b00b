"""Replicas behind nothing but two ports, sharing one Redis: a reader survives the
replica it reads from being killed; the producer's replica being killed ends every
reader with a clear event. Real processes, SIGKILL, a real Redis server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.relay.conftest import RedisServer
from xstream._sse.decoder import ServerSentEvent, SSEDecoder
from xstream.testing import MockServer, Reply

ROOT = Path(__file__).resolve().parents[2]
TEXT = " ".join(f"w{i}" for i in range(80))


class Replica:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)


async def replica(redis_url: str, upstream: str, idle: float = 15.0) -> Replica:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.relay.replica", redis_url, upstream, str(idle),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 20)
    return Replica(process, int(line))


@contextlib.asynccontextmanager
async def two_replicas(
    redis_url: str, upstream: str, idle: float = 15.0
) -> AsyncIterator[tuple[Replica, Replica]]:
    """Replicas A and B on one Redis; killed at the end, whatever happened."""
    a = await replica(redis_url, upstream, idle)
    b = await replica(redis_url, upstream, idle)
    try:
        yield a, b
    finally:
        for r in (a, b):
            if r.process.returncode is None:
                r.kill()
            await r.process.wait()


@pytest.fixture
async def upstream() -> AsyncIterator[MockServer]:
    async with MockServer() as srv:
        yield srv


async def reader(
    session: aiohttp.ClientSession, url: str, last_id: str | None, into: list[ServerSentEvent]
) -> None:
    """Read events into ``into`` until the response ends (or the connection breaks)."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    decoder = SSEDecoder()
    try:
        async with session.get(url, headers=headers) as response:
            async for piece in response.content.iter_any():
                into.extend(decoder.feed(piece))
    except (aiohttp.ClientError, ConnectionError):
        pass  # the replica died under the reader


def text_of(events: list[ServerSentEvent]) -> str:
    out = []
    for event in events:
        if event.event == "message" and event.data != "[DONE]":
            chunk = json.loads(event.data)
            out.append(
                chunk["choices"][0]["delta"].get("content") or "" if chunk["choices"] else ""
            )
    return "".join(out)


async def test_a_reader_moves_to_another_replica_when_its_replica_is_killed(
    redis_server: RedisServer, upstream: MockServer
) -> None:
    upstream.enqueue(Reply(text=TEXT, chunk_size=4, delay=0.03))
    async with two_replicas(redis_server.url, upstream.base_url) as (a, b):
        async with aiohttp.ClientSession() as session:
            async with session.post(b.url + "/answers") as r:  # B produces
                sid = (await r.json())["id"]
            first: list[ServerSentEvent] = []
            reading = asyncio.ensure_future(reader(session, f"{a.url}/answers/{sid}", None, first))
            while len([e for e in first if e.event == "message"]) < 10:  # noqa: ASYNC110 - a list the reader fills
                await asyncio.sleep(0.01)
            a.kill()  # mid-answer, under the reader
            await asyncio.wait_for(reading, 10)
            last_id = [e for e in first if e.id][-1].id
            rest: list[ServerSentEvent] = []
            await asyncio.wait_for(reader(session, f"{b.url}/answers/{sid}", last_id, rest), 20)
        ids = [int(e.id) for e in first + rest if e.event == "message"]
        assert ids == list(range(1, len(ids) + 1))  # every event, exactly once
        assert rest[-1].data == "[DONE]"
        assert text_of(first + rest) == TEXT


async def test_readers_get_a_producer_gone_end_when_its_replica_is_killed(
    redis_server: RedisServer, upstream: MockServer
) -> None:
    upstream.enqueue(Reply(text=TEXT * 5, chunk_size=4, delay=0.03))
    async with two_replicas(redis_server.url, upstream.base_url, idle=1.0) as (a, b):
        async with aiohttp.ClientSession() as session:
            async with session.post(b.url + "/answers") as r:
                sid = (await r.json())["id"]
            got: list[ServerSentEvent] = []
            reading = asyncio.ensure_future(reader(session, f"{a.url}/answers/{sid}", None, got))
            while len(got) < 5:  # noqa: ASYNC110 - a list the reader fills
                await asyncio.sleep(0.01)
            b.kill()  # the producer's replica
            await asyncio.wait_for(reading, 10)
        assert got[-1].event == "error"
        assert json.loads(got[-1].data)["error"]["type"] == "producer_gone"


async def test_stop_on_one_replica_stops_the_producer_on_another(
    redis_server: RedisServer, upstream: MockServer
) -> None:
    upstream.enqueue(Reply(text=TEXT * 5, chunk_size=4, delay=0.03))
    async with two_replicas(redis_server.url, upstream.base_url, idle=3.0) as (a, b):
        async with aiohttp.ClientSession() as session:
            async with session.post(b.url + "/answers") as r:
                sid = (await r.json())["id"]
            got: list[ServerSentEvent] = []
            reading = asyncio.ensure_future(reader(session, f"{a.url}/answers/{sid}", None, got))
            while len(got) < 3:  # noqa: ASYNC110 - a list the reader fills
                await asyncio.sleep(0.01)
            async with session.post(f"{a.url}/answers/{sid}/stop") as r:
                assert r.status == 200
            await asyncio.wait_for(reading, 10)
        assert json.loads(got[-1].data)["error"]["type"] == "stream_stopped"
        for _ in range(100):  # the model stopped: the upstream stream is closed
            if upstream.open_streams == 0:
                break
            await asyncio.sleep(0.05)
        assert upstream.open_streams == 0
