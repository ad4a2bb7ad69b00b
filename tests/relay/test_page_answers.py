"""``xstream serve --store``'s answer routes, without a browser: asked with POST,
produced by the worker process into a real Redis, read with ids, resumed, stopped."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.relay.conftest import RedisServer
from xstream._cli.page import ChatPageServer, Upstream
from xstream._sse.decoder import SSEDecoder
from xstream.testing import MockServer, Reply

ANSWER = " ".join(f"w{i}" for i in range(40))
ASK = {"messages": [{"role": "user", "content": "Count."}]}


@pytest.fixture
async def page(redis_server: RedisServer) -> AsyncIterator[tuple[str, MockServer]]:
    async with MockServer(default=Reply(text=ANSWER, chunk_size=5, delay=0.01)) as upstream:
        server = ChatPageServer(
            upstream=Upstream(base_url=upstream.base_url), store=redis_server.url
        )
        async with server:
            yield f"http://127.0.0.1:{server.port}", upstream


def text_of(body: bytes) -> tuple[str, list[str]]:
    decoder = SSEDecoder()
    events = decoder.feed(body) + decoder.close()
    text = []
    for e in events:
        if e.event == "message" and e.data != "[DONE]":
            text.append(json.loads(e.data)["choices"][0]["delta"].get("content") or "")
    return "".join(text), [e.id for e in events if e.event == "message"]


async def test_an_answer_is_produced_by_the_worker_and_read_with_ids(
    page: tuple[str, MockServer],
) -> None:
    url, _ = page
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/relay/answers", json=ASK) as r:
            assert r.status == 200
            answer_id = (await r.json())["id"]
        async with http.get(f"{url}/relay/answers/{answer_id}") as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            whole, ids = text_of(await r.read())
        async with http.get(f"{url}/relay/answers/{answer_id}?last_event_id=3") as r:
            rest, rest_ids = text_of(await r.read())
    assert whole == ANSWER
    assert ids == [str(i) for i in range(1, len(ids) + 1)]
    assert rest_ids == ids[3:]
    assert whole.endswith(rest)


async def test_the_answer_routes_check_what_they_get(page: tuple[str, MockServer]) -> None:
    url, _ = page
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/relay/answers", data="hi") as r:
            assert r.status == 415
        async with http.post(f"{url}/relay/answers", json={"messages": []}) as r:
            assert r.status == 400
        async with http.get(f"{url}/relay/answers/a/b/c") as r:
            assert r.status == 404


async def test_stop_ends_the_answer_for_its_readers(redis_server: RedisServer) -> None:
    slow = Reply(text=ANSWER * 20, chunk_size=5, delay=0.02)
    async with MockServer(default=slow) as upstream:
        server = ChatPageServer(
            upstream=Upstream(base_url=upstream.base_url), store=redis_server.url
        )
        async with server, aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{server.port}"
            async with http.post(f"{url}/relay/answers", json=ASK) as r:
                answer_id = (await r.json())["id"]
            async with http.get(f"{url}/relay/answers/{answer_id}") as r:
                await r.content.readuntil(b"\n\n")  # the answer is coming
                async with http.post(f"{url}/relay/answers/{answer_id}/stop") as stopped:
                    assert stopped.status == 200
                body = await r.read()
    assert b"stream_stopped" in body
