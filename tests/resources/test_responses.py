"""The Responses API (``client.responses.create``): typed events, the final response.

A fake ``/v1/responses`` on 127.0.0.1 streams the events the API sends, in
its order: created, in_progress, output_item.added, content_part.added,
output_text.delta..., output_text.done, content_part.done, output_item.done,
completed (with usage).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import msgspec
import pytest
from aiohttp import web

import xstream
from tests.conftest import KEY
from xstream import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputTextDeltaEvent,
    ResponseOutputTextDoneEvent,
    ResponseStream,
    UnknownResponseEvent,
)

PIECES = ["The answer", " to life,", " the universe", " and everything", " is 42", "."]
TEXT = "".join(PIECES)
USAGE = {
    "input_tokens": 14,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 11,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 25,
}


def response_events(
    pieces: list[str] = PIECES, *, output_in_completed: bool = True
) -> list[dict[str, Any]]:
    """The events of one streamed text answer, as the API sends them."""
    text = "".join(pieces)
    base = {
        "id": "resp_0123",
        "object": "response",
        "created_at": 1732500000,
        "model": "grok-4",
        "status": "in_progress",
        "output": [],
        "usage": None,
        "error": None,
        "incomplete_details": None,
        "tools": [],
        "temperature": 0.7,
        "store": True,
    }
    item = {
        "type": "message",
        "id": "msg_1",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    done_part = {**part, "text": text}
    done_item = {**item, "status": "completed", "content": [done_part]}
    completed = {
        **base,
        "status": "completed",
        "output": [done_item] if output_in_completed else [],
        "usage": USAGE,
    }
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": base},
        {"type": "response.in_progress", "response": base},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", **where, "part": part},
        *(
            {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
            for piece in pieces
        ),
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": done_part},
        {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        {"type": "response.completed", "response": completed},
    ]
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


def sse(events: list[dict[str, Any]], *, named: bool = True) -> bytes:
    out = []
    for event in events:
        head = f"event: {event['type']}\n".encode() if named else b""
        out.append(head + b"data: " + msgspec.json.encode(event) + b"\n\n")
    return b"".join(out)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeResponsesAPI:
    """``POST /v1/responses``: streams ``body`` (or answers JSON when not streaming)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.stream_body = sse(response_events())
        self.cut = False  # drop the connection after the body
        self.json_body: Any = response_events()[-1]["response"]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if not body.get("stream"):
            return web.json_response(self.json_body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        data = self.stream_body
        for i in range(0, len(data), 97):  # pieces that cut events anywhere
            await response.write(data[i : i + 97])
        if self.cut:
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/responses", self.handle)
        return app


@pytest.fixture
async def api() -> AsyncIterator[tuple[FakeResponsesAPI, str]]:
    fake = FakeResponsesAPI()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield fake, f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    await runner.cleanup()


@pytest.fixture
async def client(api: tuple[FakeResponsesAPI, str]) -> AsyncIterator[xstream.AsyncClient]:
    async with xstream.AsyncClient(KEY, base_url=api[1], max_retries=0) as c:
        yield c


# ------------------------------------------------------------------ streaming


async def test_the_stream_gives_typed_events_and_the_final_response(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    fake, _ = api
    stream = await client.responses.create(
        model="grok-4", input="What is the meaning of life?", stream=True, temperature=0.7
    )
    assert isinstance(stream, ResponseStream)
    events = [event async for event in stream]
    assert [type(e) for e in events] == [
        ResponseCreatedEvent,
        ResponseInProgressEvent,
        ResponseOutputItemAddedEvent,
        ResponseContentPartAddedEvent,
        *[ResponseOutputTextDeltaEvent] * len(PIECES),
        ResponseOutputTextDoneEvent,
        ResponseContentPartDoneEvent,
        ResponseOutputItemDoneEvent,
        ResponseCompletedEvent,
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if isinstance(e, ResponseOutputTextDeltaEvent)]
    assert "".join(deltas) == TEXT

    final = await stream.get_final_response()
    assert isinstance(final, Response)
    assert final.output_text == "".join(deltas)
    assert final.status == "completed" and final.id == "resp_0123" and final.model == "grok-4"
    assert final.usage is not None and final.usage.total_tokens == 25
    assert final.output[0].role == "assistant" and final.output[0].id == "msg_1"
    assert stream.stats.done and stream.stats.events == len(events)
    assert fake.requests == [
        {
            "model": "grok-4",
            "input": "What is the meaning of life?",
            "stream": True,
            "temperature": 0.7,
        }
    ]
    assert fake.headers[0]["Accept"] == "text/event-stream"
    assert fake.headers[0]["Authorization"] == f"Bearer {KEY}"


async def test_get_final_response_reads_the_rest_and_text_stream(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    events = aiter(stream)  # held: dropping an iterator releases the stream
    first = await anext(events)
    assert isinstance(first, ResponseCreatedEvent) and first.response.status == "in_progress"
    assert (await stream.get_final_response()).output_text == TEXT

    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    assert "".join([d async for d in stream.text_stream]) == TEXT


async def test_events_without_event_lines_decode_by_their_type(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    fake, _ = api
    fake.stream_body = sse(response_events(), named=False)
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    events = [event async for event in stream]
    assert isinstance(events[-1], ResponseCompletedEvent)
    assert (await stream.get_final_response()).output_text == TEXT


@pytest.mark.parametrize("named", [True, False])
async def test_unknown_event_types_are_handed_out_not_fatal(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str], named: bool
) -> None:
    fake, _ = api
    events = response_events()
    search: dict[str, Any] = {
        "type": "response.web_search_call.searching",
        "output_index": 0,
        "item_id": "ws_1",
    }
    novel: dict[str, Any] = {"type": "response.something_new", "sequence_number": 3, "x": [1]}
    events.insert(2, search)
    events.insert(3, novel)
    fake.stream_body = sse(events, named=named)
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    received = [event async for event in stream]
    unknown = [e for e in received if isinstance(e, UnknownResponseEvent)]
    assert unknown == [UnknownResponseEvent(type=novel["type"], data=novel)]
    assert unknown[0].sequence_number == 3
    # a server-side tool's progress is typed, whatever the tool
    tools = [e for e in received if isinstance(e, xstream.ResponseToolCallEvent)]
    assert tools == [
        xstream.ResponseToolCallEvent(
            type=search["type"], tool="web_search", phase="searching", item_id="ws_1", data=search
        )
    ]
    assert (await stream.get_final_response()).output_text == TEXT


async def test_the_final_response_is_rebuilt_when_completed_has_no_output(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    fake, _ = api
    fake.stream_body = sse(response_events(output_in_completed=False))
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    assert (await stream.get_final_response()).output_text == TEXT
    # ... and from the deltas alone when no output_item.done came either
    events = [e for e in response_events(output_in_completed=False) if "done" not in e["type"]]
    fake.stream_body = sse(events)
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    assert (await stream.get_final_response()).output_text == TEXT


async def test_an_error_event_raises_after_the_events_before_it(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    fake, _ = api
    events = response_events()[:6]
    error = {"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "param": None}
    fake.stream_body = sse(events) + sse([error])
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    received: list[Any] = []
    with pytest.raises(xstream.RateLimitError, match="slow down"):
        async for event in stream:
            received.append(event)
    assert len(received) == 6 and stream.response.closed


async def test_a_failed_response_raises_from_get_final_response(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    fake, _ = api
    events = response_events()[:5]
    failed = {
        "type": "response.failed",
        "response": {
            "id": "resp_0123",
            "status": "failed",
            "error": {"code": "server_error", "message": "the model crashed"},
        },
    }
    fake.stream_body = sse([*events, failed])
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    with pytest.raises(xstream.ServerStreamError, match="the model crashed"):
        await stream.get_final_response()


async def test_a_stream_cut_before_completed_is_incomplete(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    fake, _ = api
    fake.stream_body = sse(response_events()[:7])
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    received: list[Any] = []
    with pytest.raises(xstream.IncompleteStreamError, match="before its final event"):
        async for event in stream:
            received.append(event)
    assert len(received) == 7
    # a dropped connection is not reconnected: that would start a second generation
    fake.cut = True
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    with pytest.raises(xstream.StreamDisconnectedError):
        await stream.get_final_response()
    assert stream.stats.reconnects == 0 and len(fake.requests) == 2


async def test_breaking_out_releases_the_response(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    async for event in stream:
        if isinstance(event, ResponseOutputTextDeltaEvent):
            break
    assert stream.response.closed


async def test_an_unread_stream_is_released_when_dropped(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    response = stream.response
    ref = weakref.ref(stream)
    del stream  # no reference cycle (the stream observes events by a method, not a callback)
    assert ref() is None and response.closed


# ------------------------------------------------------------------ not streaming


async def test_create_without_stream_returns_a_response(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    fake, _ = api
    response = await client.responses.create(
        model="grok-4",
        input=[{"role": "user", "content": "Hi"}],
        instructions="Be brief.",
        previous_response_id=None,
        extra_body={"store": False},
    )
    assert isinstance(response, Response)
    assert response.output_text == TEXT and response.usage is not None
    assert fake.requests == [
        {
            "model": "grok-4",
            "input": [{"role": "user", "content": "Hi"}],
            "instructions": "Be brief.",
            "store": False,
        }
    ]


async def test_a_non_streamed_error_body_raises(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    fake, _ = api
    fake.json_body = {"code": "Some requested entity was not found", "error": "model not found"}
    with pytest.raises(xstream.ServerStreamError, match="model not found"):
        await client.responses.create(model="grok-nope", input="Hi")


# ------------------------------------------------------------------ sync


@contextlib.contextmanager
def fake_in_thread(fake: FakeResponsesAPI) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fake.app())

    async def start() -> str:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}/v1"

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_the_sync_client_streams_responses() -> None:
    fake = FakeResponsesAPI()
    with fake_in_thread(fake) as base, xstream.Client(KEY, base_url=base) as client:
        assert client.responses.create(model="grok-4", input="Hi").output_text == TEXT
        stream = client.responses.create(model="grok-4", input=iter(["Hi"]), stream=True)
        kinds = [event.type for event in stream]
        assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
        assert stream.get_final_response().output_text == TEXT
        stream = client.responses.create(model="grok-4", input="Hi", stream=True)
        assert "".join(stream.text_stream) == TEXT
    assert fake.requests[1]["input"] == ["Hi"]


@pytest.mark.parametrize("named", [True, False])
async def test_invalid_utf8_in_an_event_is_invalid_utf8_after_the_events_before_it(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str], named: bool
) -> None:
    fake, _ = api
    events = response_events()
    good = sse(events[:5], named=named)
    bad = sse([events[5]], named=named).replace(b'"delta":"', b'"delta":"\xc3\x28', 1)
    fake.stream_body = good + bad + sse(events[6:], named=named)
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    received: list[Any] = []
    with pytest.raises(xstream.InvalidUTF8Error, match="not valid UTF-8") as info:
        async for event in stream:
            received.append(event)
    assert [e.sequence_number for e in received] == [0, 1, 2, 3, 4]
    assert info.value.position == 5 and b"\xc3\x28" in info.value.payload


# ------------------------------------------------------------------ lossless round trip

# Items as a server sends them: fields this version does not model, parts without the
# fields a typed view would add (no "refusal"), a tool call with its action and sources.
SENT_OUTPUT: list[dict[str, Any]] = [
    {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "Thinking about it."}],
        "encrypted_content": "gAAAAB-opaque-blob==",
        "status": "completed",
        "x_future_field": {"nested": [1, 2, {"deep": True}]},
    },
    {
        "type": "web_search_call",
        "id": "ws_1",
        "status": "completed",
        "action": {
            "type": "search",
            "query": "meaning of life",
            "sources": [{"type": "url", "url": "https://example.org/42"}],
        },
    },
    {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [
            {
                "type": "output_text",
                "text": "It is 42.",
                "annotations": [
                    {
                        "type": "url_citation",
                        "url": "https://example.org/42",
                        "title": "42",
                        "start_index": 6,
                        "end_index": 8,
                        "x_extra": "kept",
                    }
                ],
                "logprobs": [],
            }
        ],
    },
]


def conversation_events() -> list[dict[str, Any]]:
    base = {"id": "resp_rt", "object": "response", "model": "grok-4", "x_server_only": 7}
    created = {**base, "status": "in_progress", "output": []}
    completed = {
        **base,
        "status": "completed",
        "output": SENT_OUTPUT,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "total_tokens": 15,
            "input_tokens_details": {"cached_tokens": 4},
            "output_tokens_details": {"reasoning_tokens": 3},
            "server_side_tool_usage_details": {"SERVER_SIDE_TOOL_WEB_SEARCH": 1},
            "num_server_side_tools_used": 1,
            "num_sources_used": 3,
            "cost_in_usd_ticks": 37756000,
        },
    }
    annotation = SENT_OUTPUT[2]["content"][0]["annotations"][0]
    return [
        {"type": "response.created", "sequence_number": 0, "response": created},
        {
            "type": "response.output_item.added",
            "sequence_number": 1,
            "output_index": 0,
            "item": SENT_OUTPUT[0],
        },
        {
            "type": "response.output_item.done",
            "sequence_number": 2,
            "output_index": 0,
            "item": SENT_OUTPUT[0],
        },
        {
            "type": "response.web_search_call.in_progress",
            "sequence_number": 3,
            "output_index": 1,
            "item_id": "ws_1",
        },
        {
            "type": "response.web_search_call.completed",
            "sequence_number": 4,
            "output_index": 1,
            "item_id": "ws_1",
        },
        {
            "type": "response.output_item.done",
            "sequence_number": 5,
            "output_index": 1,
            "item": SENT_OUTPUT[1],
        },
        {
            "type": "response.output_text.delta",
            "sequence_number": 6,
            "output_index": 2,
            "content_index": 0,
            "item_id": "msg_1",
            "delta": "It is 42.",
        },
        {
            "type": "response.output_text.annotation.added",
            "sequence_number": 7,
            "output_index": 2,
            "content_index": 0,
            "item_id": "msg_1",
            "annotation_index": 0,
            "annotation": annotation,
        },
        {
            "type": "response.output_item.done",
            "sequence_number": 8,
            "output_index": 2,
            "item": SENT_OUTPUT[2],
        },
        {"type": "response.completed", "sequence_number": 9, "response": completed},
    ]


@pytest.mark.parametrize("named", [True, False])
async def test_a_two_turn_conversation_sends_every_item_back_unchanged(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str], named: bool
) -> None:
    fake, _ = api
    fake.stream_body = sse(conversation_events(), named=named)
    stream = await client.responses.create(
        model="grok-4", input="Why 42?", stream=True, include=["reasoning.encrypted_content"]
    )
    events = [event async for event in stream]
    final = await stream.get_final_response()

    # typed where known
    reasoning, search, message = final.output
    assert reasoning.encrypted_content == "gAAAAB-opaque-blob=="
    assert reasoning.summary is not None and reasoning.summary[0].text == "Thinking about it."
    assert search.action["query"] == "meaning of life"
    citation = message.content[0].annotations[0]  # type: ignore[index]
    assert (citation.url, citation.start_index, citation.end_index) == (
        "https://example.org/42",
        6,
        8,
    )
    added = [e for e in events if isinstance(e, xstream.ResponseOutputTextAnnotationAddedEvent)]
    assert added[0].annotation == citation
    phases = [e.phase for e in events if isinstance(e, xstream.ResponseToolCallEvent)]
    assert phases == ["in_progress", "completed"]
    assert final.usage is not None and final.usage.input_tokens_details is not None
    assert final.usage.input_tokens_details.cached_tokens == 4
    assert final.usage.cost_usd == pytest.approx(0.0037756)
    assert msgspec.json.decode(final.raw)["x_server_only"] == 7  # type: ignore[arg-type]

    # turn 2: every item goes back exactly as it came (no field lost, none added, no nulls)
    fake.stream_body = sse(conversation_events(), named=named)
    turn = [*final.output, {"role": "user", "content": "And 43?"}]
    await (
        await client.responses.create(model="grok-4", input=turn, stream=True)
    ).get_final_response()
    assert fake.requests[1]["input"] == [*SENT_OUTPUT, {"role": "user", "content": "And 43?"}]


async def test_a_non_streamed_response_round_trips_too(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    fake, _ = api
    fake.json_body = conversation_events()[-1]["response"]
    first = await client.responses.create(model="grok-4", input="Why 42?")
    await client.responses.create(model="grok-4", input=first.output, previous_response_id=first.id)
    assert fake.requests[1]["input"] == SENT_OUTPUT
    assert fake.requests[1]["previous_response_id"] == "resp_rt"
    # a changed item is sent from its fields, without nulls for what is unset
    changed = msgspec.structs.replace(first.output[1], status="in_progress")
    await client.responses.create(model="grok-4", input=[changed])
    assert fake.requests[2]["input"] == [{**SENT_OUTPUT[1], "status": "in_progress"}]


# ------------------------------------------------------------------ background responses, resumed


class BackgroundAPI:
    """A background response whose stream the server cuts, twice; ``GET
    /responses/{id}?stream=true&starting_after=N`` goes on after N (and, to be
    hostile, sends event N again)."""

    def __init__(self, cuts: list[int], *, resumable: bool = True) -> None:
        self.events = response_events(["a", "b", "c", "d", "e", "f", "g", "h"])
        for event in self.events[:3]:
            if "response" in event:
                event["response"] = {**event["response"], "background": True}
        self.cuts = list(cuts)  # cut each connection after this many events
        self.resumable = resumable
        self.gets: list[dict[str, str]] = []

    async def _stream(self, request: web.Request, start: int) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        stop = self.cuts.pop(0) if self.cuts else len(self.events)
        await response.write(sse(self.events[start:stop]))
        if stop < len(self.events):
            assert request.transport is not None
            request.transport.close()  # cut, mid-stream
            return response
        await response.write_eof()
        return response

    async def post(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        assert body["background"] is True
        return await self._stream(request, 0)

    async def get(self, request: web.Request) -> web.StreamResponse:
        self.gets.append(dict(request.query))
        if not self.resumable:
            return web.json_response({"error": {"message": "cannot resume"}}, status=400)
        after = int(request.query["starting_after"])
        return await self._stream(request, max(after, 0))  # event `after` sent again


@pytest.mark.parametrize("resumable", [True, False])
async def test_a_background_stream_cut_twice_delivers_every_event_exactly_once(
    resumable: bool,
) -> None:
    fake = BackgroundAPI(cuts=[4, 8], resumable=resumable)
    app = web.Application()
    app.router.add_post("/v1/responses", fake.post)
    app.router.add_get("/v1/responses/{id}", fake.get)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    try:
        async with xstream.AsyncClient(KEY, base_url=base, max_retries=0) as client:
            stream = await client.responses.create(
                model="grok-4", input="Hi", stream=True, background=True
            )
            got: list[Any] = []
            if resumable:
                async for event in stream:
                    got.append(event)
            else:
                with pytest.raises(
                    xstream.IncompleteStreamError, match="could not be resumed"
                ) as info:
                    async for event in stream:
                        got.append(event)
    finally:
        await runner.cleanup()
    numbers = [e.sequence_number for e in got]
    if resumable:
        assert numbers == list(range(len(fake.events)))  # every event once, in order
        final = await stream.get_final_response()
        assert final.output_text == "abcdefgh"
        assert fake.gets == [
            {"stream": "true", "starting_after": "3"},
            {"stream": "true", "starting_after": "7"},
        ]
    else:
        assert numbers == [0, 1, 2, 3]  # what arrived was delivered, then the typed error
        assert isinstance(info.value.partial, xstream.Response)
        assert info.value.partial.id == "resp_0123"


# ------------------------------------------------------------------ stored responses, deferred chat


def stored_app(seen: dict[str, Any]) -> web.Application:
    """Stored responses (GET / DELETE /v1/responses/{id}) and xAI's deferred chat."""
    response_json = conversation_events()[-1]["response"]

    async def get(request: web.Request) -> web.StreamResponse:
        if request.match_info["id"] != "resp_rt":
            return web.json_response({"error": {"message": "no such response"}}, status=404)
        return web.json_response(response_json)

    async def delete(request: web.Request) -> web.StreamResponse:
        seen["deleted"].append(request.match_info["id"])
        return web.json_response({"id": request.match_info["id"], "deleted": True})

    async def chat(request: web.Request) -> web.StreamResponse:
        seen["headers"].append(dict(request.headers))
        body = await request.json()
        assert body["deferred"] is True
        return web.json_response({"request_id": "req/42"})

    async def poll(request: web.Request) -> web.StreamResponse:
        assert request.match_info["id"] == "req/42"
        seen["polls"] += 1
        if seen["polls"] % 3:
            return web.Response(status=202)
        completion = {"id": "c", "object": "chat.completion", "model": "m",
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": "later"}}]}  # fmt: skip
        return web.json_response(completion)

    app = web.Application()
    app.router.add_get("/v1/responses/{id}", get)
    app.router.add_delete("/v1/responses/{id}", delete)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/chat/deferred-completion/{id:.+}", poll)
    return app


def new_seen() -> dict[str, Any]:
    return {"deleted": [], "polls": 0, "headers": []}


@pytest.fixture
async def stored() -> AsyncIterator[tuple[dict[str, Any], str]]:
    seen = new_seen()
    runner = web.AppRunner(stored_app(seen))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield seen, f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    await runner.cleanup()


async def test_stored_responses_are_retrieved_and_deleted(
    stored: tuple[dict[str, Any], str],
) -> None:
    seen, base = stored
    async with xstream.AsyncClient(KEY, base_url=base) as client:
        response = await client.responses.retrieve("resp_rt")
        assert response.id == "resp_rt"
        assert [msgspec.json.decode(i.to_input()) for i in response.output] == SENT_OUTPUT
        with pytest.raises(xstream.NotFoundError, match="no such response"):
            await client.responses.retrieve("nope/../../etc")
        assert await client.responses.delete("resp_rt") == {"id": "resp_rt", "deleted": True}
    assert seen["deleted"] == ["resp_rt"]


async def test_a_deferred_completion_is_polled_until_ready(
    stored: tuple[dict[str, Any], str],
) -> None:
    seen, base = stored
    async with xstream.AsyncClient(KEY, base_url=base, conversation_id="conv-1") as client:
        handle = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], deferred=True
        )
        assert isinstance(handle, xstream.DeferredCompletion) and handle.request_id == "req/42"
        completion = await handle.result(poll_interval=0.01)
    assert completion.choices[0].message.content == "later" and seen["polls"] == 3
    assert seen["headers"][0]["x-grok-conv-id"] == "conv-1"  # the conversation's cache key


async def test_a_deferred_completion_not_ready_in_time_is_a_total_timeout(
    stored: tuple[dict[str, Any], str],
) -> None:
    _, base = stored
    async with xstream.AsyncClient(KEY, base_url=base) as client:
        handle = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], deferred=True,
            conversation_id="per-call",
        )  # fmt: skip
        with pytest.raises(xstream.TotalTimeoutError):
            await handle.result(timeout=0.05, poll_interval=0.03)


def test_the_sync_client_retrieves_and_collects_deferred_completions() -> None:
    seen = new_seen()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(stored_app(seen))

    async def start() -> str:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}/v1"

    try:
        base = asyncio.run_coroutine_threadsafe(start(), loop).result(5)
        with xstream.Client(api_key=KEY, base_url=base) as client:
            assert client.responses.retrieve("resp_rt").id == "resp_rt"
            handle = client.chat.completions.create(model="m", messages=[], deferred=True)
            assert isinstance(handle, xstream.SyncDeferredCompletion)
            assert handle.result(poll_interval=0.01).choices[0].message.content == "later"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
