"""The types users of ``xstream.AsyncClient`` see: checked by mypy, never run.

``tests/test_typing.py`` runs ``mypy --strict`` on this file and expects no error:
every ``assert_type`` states what an editor shows for an expression. A call whose
type changes (a lost overload, an ``Any`` leaking out) fails that test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import assert_type

import msgspec

import xstream

MESSAGES = [{"role": "user", "content": "Hi"}]


class Weather(msgspec.Struct):
    city: str
    celsius: float


class Tick(msgspec.Struct):
    n: int


async def chat_create(client: xstream.AsyncClient) -> None:
    completion = await client.chat.completions.create(model="grok-4", messages=MESSAGES)
    assert_type(completion, xstream.ChatCompletion)
    assert_type(completion.choices[0].message.content, str | None)
    assert_type(completion.usage, xstream.Usage | None)

    explicit = await client.chat.completions.create(
        model="grok-4", messages=MESSAGES, stream=False, temperature=0.5, max_retries=1
    )
    assert_type(explicit, xstream.ChatCompletion)

    deferred = await client.chat.completions.create(
        model="grok-4", messages=MESSAGES, deferred=True
    )
    assert_type(deferred, xstream.DeferredCompletion)
    assert_type(deferred.request_id, str)
    assert_type(await deferred.result(), xstream.ChatCompletion)


async def chat_create_stream(client: xstream.AsyncClient, flag: bool) -> None:
    stream = await client.chat.completions.create(model="grok-4", messages=MESSAGES, stream=True)
    assert_type(stream, xstream.AsyncStream[xstream.ChatCompletionChunk])
    async with stream:
        async for chunk in stream:
            assert_type(chunk, xstream.ChatCompletionChunk)
            assert_type(chunk.choices[0].delta.content, str | None)
    assert_type(stream.text_stream, AsyncIterator[str])
    async for text in stream.text_stream:
        assert_type(text, str)
    assert_type(await stream.get_final_completion(), xstream.ChatCompletion)
    assert_type(stream.stats, xstream.StreamStats)
    assert_type(stream.done, bool)

    either = await client.chat.completions.create(model="grok-4", messages=MESSAGES, stream=flag)
    assert_type(either, xstream.ChatCompletion | xstream.AsyncStream[xstream.ChatCompletionChunk])


async def chat_stream_events(client: xstream.AsyncClient) -> None:
    manager = client.chat.completions.stream(
        model="grok-4", messages=MESSAGES, response_format=Weather
    )
    assert_type(manager, xstream.AsyncChatCompletionStreamManager[Weather])
    async with manager as stream:
        assert_type(stream, xstream.AsyncChatCompletionStream[Weather])
        async for event in stream:
            assert_type(event, xstream.ChatCompletionStreamEvent[Weather])
            if event.type == "content.delta":
                assert_type(event, xstream.ContentDeltaEvent)
                assert_type(event.delta, str)
            elif event.type == "content.done":
                assert_type(event.parsed, Weather | None)
        final = await stream.get_final_completion()
        assert_type(final, xstream.ParsedChatCompletion[Weather])
        assert_type(final.choices[0].message.parsed, Weather | None)
        assert_type(stream.current_completion_snapshot, xstream.ParsedChatCompletion[Weather])

    awaited = await client.chat.completions.stream(
        model="grok-4", messages=MESSAGES, response_format=Weather
    )
    assert_type(awaited, xstream.AsyncChatCompletionStream[Weather])


async def chat_parse(client: xstream.AsyncClient) -> None:
    parsed = await client.chat.completions.parse(
        model="grok-4", messages=MESSAGES, response_format=Weather
    )
    assert_type(parsed, xstream.ParsedChatCompletion[Weather])
    assert_type(parsed.choices[0].message.parsed, Weather | None)


async def chat_raw(client: xstream.AsyncClient) -> None:
    raw = await client.chat.completions.with_raw_response.create(model="grok-4", messages=MESSAGES)
    assert_type(raw, xstream.RawResponse[xstream.ChatCompletion])
    assert_type(raw.parse(), xstream.ChatCompletion)
    assert_type(raw.status_code, int)
    assert_type(raw.request_id, str | None)


async def responses_create(client: xstream.AsyncClient, flag: bool) -> None:
    response = await client.responses.create(model="grok-4", input="hi")
    assert_type(response, xstream.Response)
    assert_type(response.output_text, str)

    stream = await client.responses.create(model="grok-4", input="hi", stream=True)
    assert_type(stream, xstream.ResponseStream)
    async with stream:
        async for event in stream:
            assert_type(event, xstream.ResponseStreamEvent)
            if isinstance(event, xstream.ResponseOutputTextDeltaEvent):
                assert_type(event.delta, str)
    assert_type(stream.text_stream, AsyncIterator[str])
    assert_type(await stream.get_final_response(), xstream.Response)

    either = await client.responses.create(model="grok-4", input="hi", stream=flag)
    assert_type(either, xstream.Response | xstream.ResponseStream)

    raw = await client.responses.with_raw_response.create(model="grok-4", input="hi")
    assert_type(raw, xstream.RawResponse[xstream.Response])


async def responses_parse_and_stream(client: xstream.AsyncClient) -> None:
    parsed = await client.responses.parse(model="grok-4", input="hi", text_format=Weather)
    assert_type(parsed, xstream.ParsedResponse[Weather])
    assert_type(parsed.output_parsed, Weather | None)

    manager = client.responses.stream(model="grok-4", input="hi", text_format=Weather)
    assert_type(manager, xstream.AsyncResponseStreamManager[Weather])
    async with manager as stream:
        assert_type(stream, xstream.AsyncResponseStream[Weather])
        async for event in stream:
            assert_type(event, xstream.ParsedResponseStreamEvent[Weather])
            if isinstance(event, xstream.ResponseOutputTextDeltaEvent):
                assert_type(event, xstream.ParsedResponseOutputTextDeltaEvent)
                assert_type(event.snapshot, str)
            elif isinstance(event, xstream.ResponseOutputTextDoneEvent):
                assert_type(event.parsed, Weather | None)
            elif isinstance(event, xstream.ResponseFunctionCallArgumentsDoneEvent):
                assert_type(event.arguments_error, xstream.ToolArgumentsError | None)
        assert_type(stream.text_stream, AsyncIterator[str])
        final = await stream.get_final_response()
        assert_type(final, xstream.ParsedResponse[Weather])
        assert_type(final.output_parsed, Weather | None)


async def responses_retrieve(client: xstream.AsyncClient) -> None:
    assert_type(await client.responses.retrieve("resp_1"), xstream.Response)
    again = await client.responses.retrieve("resp_1", stream=True, starting_after=3)
    assert_type(again, xstream.ResponseStream)
    raw = await client.responses.with_raw_response.retrieve("resp_1")
    assert_type(raw, xstream.RawResponse[xstream.Response])


async def sse(client: xstream.AsyncClient) -> None:
    events = await client.sse("GET", "/events")
    assert_type(events, xstream.EventStream[xstream.ServerSentEvent])
    async with events:
        async for event in events:
            assert_type(event, xstream.ServerSentEvent)
            assert_type(event.data, str)
    assert_type(events.stats, xstream.EventStreamStats)

    ticks = await client.sse("POST", "/ticks", type=Tick, json={"from": 1}, max_retries=0)
    assert_type(ticks, xstream.EventStream[Tick])
    async for tick in ticks:
        assert_type(tick, Tick)


async def errors(client: xstream.AsyncClient) -> None:
    try:
        await client.chat.completions.create(model="grok-4", messages=MESSAGES)
    except xstream.RateLimitError as e:
        assert_type(e.status_code, int)
        assert_type(e.request_id, str | None)
    except xstream.APIStatusError as e:
        assert_type(e.status_code, int)
        assert_type(e.message, str)
        assert_type(e.code, str | None)
    except xstream.APITimeoutError as e:
        assert_type(e.deadline, str | None)
        assert_type(e.seconds, float | None)
        assert_type(e.events_received, int)
    except xstream.StreamDisconnectedError as e:
        assert_type(e.events_received, int)
    except xstream.APIError as e:
        assert_type(e.body, object | None)


async def client_options() -> None:
    async with xstream.AsyncClient(api_key="k", timeout=30, max_retries=0) as client:
        assert_type(client, xstream.AsyncClient)
        fast = client.with_options(timeout=5)
        assert_type(fast, xstream.AsyncClient)
        assert_type(client.with_options(timeout=xstream.Timeout(connect=2)), xstream.AsyncClient)
        assert_type(client.timeout, xstream.Timeout)
        assert_type(client.base_url, str)


async def retrieve_with_a_flag(client: xstream.AsyncClient, flag: bool) -> None:
    assert_type(
        await client.responses.retrieve("resp_1", stream=flag),
        xstream.Response | xstream.ResponseStream,
    )


class MyClient(xstream.AsyncClient):
    pass


async def a_subclass_keeps_its_type(mine: MyClient) -> None:
    assert_type(mine.with_options(timeout=5), MyClient)
    async with mine as entered:
        assert_type(entered, MyClient)


async def without_a_type_nothing_is_parsed(client: xstream.AsyncClient) -> None:
    completion = await client.chat.completions.parse(model="grok-4", messages=MESSAGES)
    assert_type(completion, xstream.ParsedChatCompletion[None])
    manager = client.chat.completions.stream(model="grok-4", messages=MESSAGES)
    assert_type(manager, xstream.AsyncChatCompletionStreamManager[None])
    schema = {"type": "json_object"}
    as_dict = await client.chat.completions.parse(
        model="grok-4", messages=MESSAGES, response_format=schema
    )
    assert_type(as_dict, xstream.ParsedChatCompletion[None])
    response = await client.responses.parse(model="grok-4", input="Hi")
    assert_type(response, xstream.ParsedResponse[None])
    async with client.responses.stream(model="grok-4", input="Hi") as stream:
        assert_type(stream, xstream.AsyncResponseStream[None])
