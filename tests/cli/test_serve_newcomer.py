"""``xstream serve`` for a newcomer (issue 27): one log line per request and per
upstream error, ``--delay`` reaching the chat page, a Stop button that ends the
answer's request (the relay then closes the upstream stream: see test_chat_page's
leaving test; tests/browser presses the button itself)."""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.cli.test_cli import cli_env, free_port
from xstream._cli.page import ChatPageServer, Upstream
from xstream.testing import MockServer, Reply

ASK = {"messages": [{"role": "user", "content": "Hi"}]}


class Serve:
    """``python -m xstream serve`` on a free port, its stderr collected."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.args, self.env = args, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.err = b""

    async def __aenter__(self) -> Serve:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "xstream", "serve", "--port", str(self.port), *self.args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=self.env,
        )  # fmt: skip
        assert self.proc.stdout is not None
        for _ in range(2):  # the two banner lines: it is listening
            await asyncio.wait_for(self.proc.stdout.readline(), 20)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGINT)
        _, self.err = await asyncio.wait_for(self.proc.communicate(), 20)
        assert self.proc.returncode == 0, self.err

    @property
    def lines(self) -> list[str]:
        return self.err.decode().splitlines()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
        yield s


async def test_serve_logs_each_request_and_an_upstream_401_on_one_line(
    session: aiohttp.ClientSession,
) -> None:
    async with MockServer() as upstream:
        upstream.enqueue(Reply(status=401))
        env = {**cli_env("xai-refused-key-123"), "XAI_BASE_URL": upstream.base_url}
        async with Serve(env=env) as srv:
            async with session.get(srv.url) as resp:
                assert resp.status == 200
            async with session.post(srv.url + "relay/chat", json=ASK) as resp:
                assert resp.status == 502
            async with session.post(
                srv.url + "v1/chat/completions",
                json={"model": "grok-4", "messages": ASK["messages"]},
                headers={"Authorization": "Bearer k"},
            ) as resp:
                assert resp.status == 200
    lines = srv.lines
    assert re.fullmatch(r"xstream serve: GET / 200 \(\d+ ms\)", lines[0]), lines
    upstream_error = [line for line in lines if "upstream error" in line]
    assert len(upstream_error) == 1, lines
    assert upstream_error[0].startswith("xstream serve: upstream error: AuthenticationError: HTTP 401")
    assert "xai-refused-key-123" not in srv.err.decode()
    assert any(re.fullmatch(r"xstream serve: POST /relay/chat 502 \(\d+ ms\)", x) for x in lines)
    assert any(re.fullmatch(r"xstream serve: POST /v1/chat/completions 200 \(\d+ ms\)", x) for x in lines)


async def gaps(session: aiohttp.ClientSession, url: str) -> list[float]:
    """The times between the relayed answer's first events."""
    seen: list[float] = []
    async with session.post(url + "relay/chat", json=ASK) as resp:
        async for _ in resp.content.iter_any():
            seen.append(time.monotonic())
            if len(seen) == 4:
                break
    return [b - a for a, b in itertools.pairwise(seen)]


async def test_delay_reaches_the_chat_page(session: aiohttp.ClientSession) -> None:
    async with Serve("--delay", "0.3", env=cli_env(None)) as srv:
        slow = await gaps(session, srv.url)
    assert min(slow) >= 0.25, slow
    async with Serve("--delay", "0", env=cli_env(None)) as srv:
        fast = await gaps(session, srv.url)
    assert max(fast) < 0.25, fast


async def test_the_page_has_a_stop_button_that_aborts_the_answer(
    session: aiohttp.ClientSession,
) -> None:
    async with ChatPageServer() as page, session.get(page.page_url) as resp:
        html = await resp.text()
    assert '<button type="button" id="stop" hidden>Stop</button>' in html
    assert re.search(r'stop\.addEventListener\("click", \(\) => \{\s*stopped = true;\s*leaving\?\.abort\(\);', html)
    assert "window.scrollTo" in html  # follows the answer


async def test_a_stopped_answer_closes_the_upstream_and_is_logged() -> None:
    said: list[str] = []
    async with ChatPageServer(log=said.append) as page, aiohttp.ClientSession() as session:
        assert page.builtin is not None
        page.builtin.default = Reply(chunks=3000, delay=0.01)
        resp = await session.post(page.page_url + "relay/chat", json=ASK)
        assert (await resp.content.readany()).startswith(b"data: {")
        resp.close()  # what the page's AbortController does on Stop
        await asyncio.wait_for(page.builtin.wait_until_idle(), 2.0)
        for _ in range(100):
            if said:
                break
            await asyncio.sleep(0.02)
    assert said and re.fullmatch(
        r"POST /relay/chat: the client left after \d+ ms \(a relayed upstream stream is "
        r"closed with it\)",
        said[-1],
    ), said


async def test_an_upstream_error_in_process_is_one_line() -> None:
    said: list[str] = []
    async with MockServer() as upstream:
        upstream.enqueue(Reply(status=401))
        page = ChatPageServer(upstream=Upstream("k", upstream.base_url), log=said.append)
        async with (
            page,
            aiohttp.ClientSession() as session,
            session.post(page.page_url + "relay/chat", json=ASK) as resp,
        ):
            assert resp.status == 502
            assert b"401" in await resp.read()
    errors = [line for line in said if line.startswith("upstream error:")]
    assert len(errors) == 1 and "AuthenticationError: HTTP 401" in errors[0]
