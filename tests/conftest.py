"""Shared fixtures: a real local server on 127.0.0.1 and a client pointed at it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from typing import Protocol

import pytest
from aiohttp import web

import xstream
from xstream.testing import MockServer

KEY = "test-key-not-a-secret"

# XSTREAM_TEST_LOOP=uvloop: every loop of this run is uvloop's, the tests' and the sync
# client's private one (tests/transport/test_uvloop.py runs part of the suite so).
LOOP = os.environ.get("XSTREAM_TEST_LOOP", "asyncio")
if LOOP == "uvloop":
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def pytest_report_header() -> str:
    return f"event loop: {LOOP}"


def run_again(
    *args: str, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """pytest run again in a child process whose environment adds ``env``: the same
    tests under another HTTP parser or event loop."""
    command = [sys.executable, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider"]
    return subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients honour HTTP(S)_PROXY: a proxy set where the suite runs must not carry
    the tests' loopback traffic (tests of proxies set their own)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with MockServer(strict=False) as srv:
        yield srv


@pytest.fixture
async def client(server: MockServer) -> AsyncIterator[xstream.AsyncClient]:
    async with xstream.AsyncClient(KEY, base_url=server.base_url) as c:
        yield c


class RawServe(Protocol):
    def __call__(
        self,
        pieces: Sequence[bytes | float],
        *,
        path: str = "/v1/chat/completions",
        peers: set[int] | None = None,
    ) -> Awaitable[str]: ...


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServe]:
    """Serve exact bytes as an event stream: ``base_url = await raw_server([b"...", ...])``.

    Each element is written (and drained) separately, so tests control where
    the network cuts the stream; a number is a pause, in seconds. ``path`` is what
    is answered (POST); ``peers`` collects one id per connection a request came on.
    For servers whose quirks MockServer has no knob for.
    """
    runners: list[web.AppRunner] = []

    async def serve(
        pieces: Sequence[bytes | float],
        *,
        path: str = "/v1/chat/completions",
        peers: set[int] | None = None,
    ) -> str:
        async def handler(request: web.Request) -> web.StreamResponse:
            await request.read()
            if peers is not None:
                peers.add(id(request.transport))
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for piece in pieces:
                if isinstance(piece, int | float):
                    await asyncio.sleep(piece)
                else:
                    await response.write(piece)
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_post(path, handler)
        # A client may close while a handler still writes (a pause before the end):
        # aiohttp 3.10 then waits its whole shutdown timeout (60 s) at cleanup.
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/v1"

    yield serve
    for runner in runners:
        await runner.cleanup()
