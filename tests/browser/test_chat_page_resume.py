"""The chat page of ``xstream serve --store``: its ``EventSource`` survives the server.

The page's server is killed (SIGKILL) in the middle of an answer and started again on
the same port; the answer goes on in the worker process that produces it into Redis,
the page's ``EventSource`` reconnects by itself with the last id it saw, and the page
shows the whole answer, once. Headless Chromium, a real Redis server, a real upstream.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator

import pytest

from tests.browser.test_chat_page import WAIT, DevTools, ask, devtools, free_port
from xstream.testing import MockServer, RedisServer, Reply

pytestmark = pytest.mark.browser
__all__ = ["devtools"]  # the fixture, imported so that pytest finds it here

ANSWER = " ".join(f"word{i}" for i in range(120))


async def start_serve(port: int, store: str, upstream: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XAI_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "xstream", "serve", "--port", str(port),
        "--store", store, "--base-url", upstream,
        stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    lines = [await asyncio.wait_for(proc.stdout.readline(), WAIT) for _ in range(2)]
    assert b"chat page on" in lines[1], lines
    return proc


@pytest.fixture
async def upstream() -> AsyncIterator[MockServer]:
    async with MockServer(default=Reply(text=ANSWER, chunk_size=6, delay=0.03)) as srv:
        yield srv


async def text_of(devtools: DevTools) -> str:
    value = await devtools.evaluate(
        "document.querySelector('#log .assistant .text')?.textContent ?? ''"
    )
    return str(value)


async def test_the_page_shows_the_whole_answer_once_across_a_server_restart(
    devtools: DevTools, upstream: MockServer
) -> None:
    port = free_port()
    with RedisServer() as redis:
        serve = await start_serve(port, redis.url, upstream.base_url)
        try:
            await ask(devtools, f"http://127.0.0.1:{port}/", "Count, slowly.")
            deadline = time.monotonic() + WAIT
            while len(await text_of(devtools)) < 60:
                assert time.monotonic() < deadline, await text_of(devtools)
                await asyncio.sleep(0.02)
            serve.send_signal(signal.SIGKILL)  # mid-answer; its worker goes on
            await serve.wait()
            before = await text_of(devtools)
            assert before and before != ANSWER
            await asyncio.sleep(0.3)
            serve = await start_serve(port, redis.url, upstream.base_url)
            deadline = time.monotonic() + WAIT
            while (state := await devtools.evaluate("document.body.dataset.state")) != "done":
                assert state == "streaming", (state, await text_of(devtools))
                assert time.monotonic() < deadline, await text_of(devtools)
                await asyncio.sleep(0.05)
            assert await text_of(devtools) == ANSWER  # whole, and nothing twice
            assert len(upstream.requests) == 1  # the answer was asked for once
        finally:
            if serve.returncode is None:
                serve.send_signal(signal.SIGINT)
                await asyncio.wait_for(serve.wait(), WAIT)
