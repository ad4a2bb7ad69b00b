"""The server ``xstream serve`` runs, in process: the chat page at ``/``, its relay,
and the mock API beside them, unchanged. (A real browser drives the page in
tests/browser, ``nox -s browser``.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

import xstream
from tests.conftest import KEY
from xstream._cli.page import ChatPageServer, Upstream
from xstream.testing import DEFAULT_TEXT, MockServer, Reply

ASK = {"messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
async def page() -> AsyncIterator[ChatPageServer]:
    async with ChatPageServer() as srv:
        yield srv


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


def text_of(body: bytes) -> str:
    events = xstream.SSEDecoder().feed(body)
    assert events[-1].data == "[DONE]"
    chunks = [json.loads(e.data) for e in events[:-1]]
    return "".join(c["choices"][0]["delta"]["content"] or "" for c in chunks if c["choices"])


async def test_the_page_is_served_at_the_root(
    page: ChatPageServer, session: aiohttp.ClientSession
) -> None:
    async with session.get(page.page_url) as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        html = await resp.text()
    assert '<label for="prompt">' in html and 'aria-live="polite"' in html
    assert 'fetch("/relay/chat"' in html
    assert "the built-in offline server" in html and "<!--upstream-->" not in html


async def test_the_relay_streams_an_answer(
    page: ChatPageServer, session: aiohttp.ClientSession
) -> None:
    async with session.post(page.page_url + "relay/chat", json=ASK) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert text_of(await resp.read()) == DEFAULT_TEXT
    assert page.builtin is not None
    assert page.builtin.requests[0].json["messages"] == ASK["messages"]


async def test_the_mock_api_is_still_there(page: ChatPageServer) -> None:
    async with xstream.AsyncClient(KEY, base_url=page.base_url) as client:
        completion = await client.chat.completions.create(model="grok-4", messages=[{"role": "user", "content": "Hi"}])
    assert completion.choices[0].message.content == DEFAULT_TEXT
    assert len(page.requests) == 1  # the page's own traffic goes to its upstream


async def test_leaving_closes_the_upstream_stream(
    page: ChatPageServer, session: aiohttp.ClientSession
) -> None:
    assert page.builtin is not None
    page.builtin.default = Reply(chunks=3000, delay=0.01)
    resp = await session.post(page.page_url + "relay/chat", json=ASK)
    assert (await resp.content.readany()).startswith(b"data: {")
    resp.close()
    await asyncio.wait_for(page.builtin.wait_until_idle(), 1.0)
    assert page.builtin.closed_by_client == 1


@pytest.mark.parametrize(
    ("method", "body", "headers", "status"),
    [
        ("GET", None, {}, 405),
        ("POST", b'{"messages": []}', {"Content-Type": "text/plain"}, 415),  # no CORS-free posts
        ("POST", b"{not json", {"Content-Type": "application/json"}, 400),
        ("POST", b'{"messages": []}', {"Content-Type": "application/json"}, 400),
        ("POST", b'{"messages": [{"role": "x"}]}', {"Content-Type": "application/json"}, 400),
    ],
)
async def test_the_relay_refuses_what_is_not_a_conversation(
    page: ChatPageServer,
    session: aiohttp.ClientSession,
    method: str,
    body: bytes | None,
    headers: dict[str, str],
    status: int,
) -> None:
    async with session.request(
        method, page.page_url + "relay/chat", data=body, headers=headers
    ) as resp:
        assert resp.status == status
    assert page.builtin is not None and page.builtin.requests == []


async def test_an_upstream_that_refuses_is_one_error_event(session: aiohttp.ClientSession) -> None:
    async with MockServer(strict=False) as upstream:
        upstream.enqueue(Reply(status=401))
        async with ChatPageServer(upstream=Upstream(base_url=upstream.base_url)) as page:
            assert page.builtin is None and upstream.base_url in page.upstream_label
            async with session.post(page.page_url + "relay/chat", json=ASK) as resp:
                assert resp.status == 502
                (event,) = xstream.SSEDecoder().feed(await resp.read())
    assert event.event == "error"
    assert json.loads(event.data)["error"]["type"] == "authentication_error"
