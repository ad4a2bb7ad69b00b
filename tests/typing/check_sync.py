"""The types users of ``xstream.Client`` (the blocking facade) see: checked by mypy,
never run.

The twin of ``check_async.py``: the same calls without ``await``, each returning the
blocking twin of the async type. ``tests/test_typing.py`` runs ``mypy --strict`` on
this file and expects no error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import assert_type

import msgspec

import xstream

MESSAGES = [{"role": "user", "content": "Hi"}]


class Weather(msgspec.Struct):
    city: str
    celsius: float


class Tick(msgspec.Struct):
    n: int


def chat_create(client: xstream.Client) -> None:
    completion = client.chat.completions.create(model="grok-4", messages=MESSAGES)
    assert_type(completion, xstream.ChatCompletion)
    assert_type(completion.choices[0].message.content, str | None)
    assert_type(completion.usage, xstream.Usage | None)

    explicit = client.chat.completions.create(
        model="grok-4", messages=MESSAGES, stream=False, temperature=0.5, max_retries=1
    )
    assert_type(explicit, xstream.ChatCompletion)

    deferred = client.chat.completions.create(model="grok-4", messages=MESSAGES, deferred=True)
    assert_type(deferred, xstream.SyncDeferredCompletion)
    assert_type(deferred.request_id, str)
    assert_type(deferred.result(), xstream.ChatCompletion)


def chat_create_stream(client: xstream.Client, flag: bool) -> None:
    stream = client.chat.completions.create(model="grok-4", messages=MESSAGES, stream=True)
    assert_type(stream, xstream.Stream[xstream.ChatCompletionChunk])
    with stream:
        for chunk in stream:
            assert_type(chunk, xstream.ChatCompletionChunk)
            assert_type(chunk.choices[0].delta.content, str | None)
    assert_type(stream.text_stream, Iterator[str])
    for text in stream.text_stream:
        assert_type(text, str)
    assert_type(stream.get_final_completion(), xstream.ChatCompletion)
    assert_type(stream.stats, xstream.StreamStats)
    assert_type(stream.done, bool)

    either = client.chat.completions.create(model="grok-4", messages=MESSAGES, stream=flag)
    assert_type(either, xstream.ChatCompletion | xstream.Stream[xstream.ChatCompletionChunk])


def chat_stream_events(client: xstream.Client) -> None:
    manager = client.chat.completions.stream(
        model="grok-4", messages=MESSAGES, response_format=Weather
    )
    assert_type(manager, xstream.ChatCompletionStreamManager[Weather])
    with manager as stream:
        assert_type(stream, xstream.ChatCompletionStream[Weather])
        for event in stream:
            assert_type(event, xstream.ChatCompletionStreamEvent[Weather])
            if event.type == "content.delta":
                assert_type(event, xstream.ContentDeltaEvent)
                assert_type(event.delta, str)
            elif event.type == "content.done":
                assert_type(event.parsed, Weather | None)
        final = stream.get_final_completion()
        assert_type(final, xstream.ParsedChatCompletion[Weather])
        assert_type(final.choices[0].message.parsed, Weather | None)
        assert_type(stream.current_completion_snapshot, xstream.ParsedChatCompletion[Weather])


def chat_parse(client: xstream.Client) -> None:
    parsed = client.chat.completions.parse(
        model="grok-4", messages=MESSAGES, response_format=Weather
    )
    assert_type(parsed, xstream.ParsedChatCompletion[Weather])
    assert_type(parsed.choices[0].message.parsed, Weather | None)


def chat_raw(client: xstream.Client) -> None:
    raw = client.chat.completions.with_raw_response.create(model="grok-4", messages=MESSAGES)
    assert_type(raw, xstream.RawResponse[xstream.ChatCompletion])
    assert_type(raw.parse(), xstream.ChatCompletion)
    assert_type(raw.status_code, int)
    assert_type(raw.request_id, str | None)


def responses_create(client: xstream.Client, flag: bool) -> None:
    response = client.responses.create(model="grok-4", input="hi")
    assert_type(response, xstream.Response)
    assert_type(response.output_text, str)

    stream = client.responses.create(model="grok-4", input="hi", stream=True)
    assert_type(stream, xstream.SyncResponseStream)
    with stream:
        for event in stream:
            assert_type(event, xstream.ResponseStreamEvent)
            if isinstance(event, xstream.ResponseOutputTextDeltaEvent):
                assert_type(event.delta, str)
    assert_type(stream.text_stream, Iterator[str])
    assert_type(stream.get_final_response(), xstream.Response)

    either = client.responses.create(model="grok-4", input="hi", stream=flag)
    assert_type(either, xstream.Response | xstream.SyncResponseStream)

    raw = client.responses.with_raw_response.create(model="grok-4", input="hi")
    assert_type(raw, xstream.RawResponse[xstream.Response])


def responses_parse_and_stream(client: xstream.Client) -> None:
    parsed = client.responses.parse(model="grok-4", input="hi", text_format=Weather)
    assert_type(parsed, xstream.ParsedResponse[Weather])
    assert_type(parsed.output_parsed, Weather | None)

    manager = client.responses.stream(model="grok-4", input="hi", text_format=Weather)
    assert_type(manager, xstream.SyncResponseStreamManager[Weather])
    with manager as stream:
        assert_type(stream, xstream.SyncParsedResponseStream[Weather])
        for event in stream:
            assert_type(event, xstream.ParsedResponseStreamEvent[Weather])
            if isinstance(event, xstream.ResponseOutputTextDeltaEvent):
                assert_type(event, xstream.ParsedResponseOutputTextDeltaEvent)
                assert_type(event.snapshot, str)
            elif isinstance(event, xstream.ResponseOutputTextDoneEvent):
                assert_type(event.parsed, Weather | None)
            elif isinstance(event, xstream.ResponseFunctionCallArgumentsDoneEvent):
                assert_type(event.arguments_error, xstream.ToolArgumentsError | None)
        assert_type(stream.text_stream, Iterator[str])
        final = stream.get_final_response()
        assert_type(final, xstream.ParsedResponse[Weather])
        assert_type(final.output_parsed, Weather | None)


def responses_retrieve(client: xstream.Client) -> None:
    assert_type(client.responses.retrieve("resp_1"), xstream.Response)
    again = client.responses.retrieve("resp_1", stream=True, starting_after=3)
    assert_type(again, xstream.SyncResponseStream)
    raw = client.responses.with_raw_response.retrieve("resp_1")
    assert_type(raw, xstream.RawResponse[xstream.Response])


def sse(client: xstream.Client) -> None:
    events = client.sse("GET", "/events")
    assert_type(events, xstream.SyncEventStream[xstream.ServerSentEvent])
    with events:
        for event in events:
            assert_type(event, xstream.ServerSentEvent)
            assert_type(event.data, str)
    assert_type(events.stats, xstream.EventStreamStats)

    ticks = client.sse("POST", "/ticks", type=Tick, json={"from": 1}, max_retries=0)
    assert_type(ticks, xstream.SyncEventStream[Tick])
    for tick in ticks:
        assert_type(tick, Tick)


def errors(client: xstream.Client) -> None:
    try:
        client.chat.completions.create(model="grok-4", messages=MESSAGES)
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


def client_options() -> None:
    with xstream.Client(api_key="k", timeout=30, max_retries=0) as client:
        assert_type(client, xstream.Client)
        fast = client.with_options(timeout=5)
        assert_type(fast, xstream.Client)
        assert_type(client.with_options(timeout=xstream.Timeout(connect=2)), xstream.Client)
        assert_type(client.timeout, xstream.Timeout)
        assert_type(client.base_url, str)


def retrieve_with_a_flag(client: xstream.Client, flag: bool) -> None:
    assert_type(
        client.responses.retrieve("resp_1", stream=flag),
        xstream.Response | xstream.SyncResponseStream,
    )


class MyClient(xstream.Client):
    pass


def a_subclass_keeps_its_type(mine: MyClient) -> None:
    assert_type(mine.with_options(timeout=5), MyClient)
    with mine as entered:
        assert_type(entered, MyClient)


def without_a_type_nothing_is_parsed(client: xstream.Client) -> None:
    completion = client.chat.completions.parse(model="grok-4", messages=MESSAGES)
    assert_type(completion, xstream.ParsedChatCompletion[None])
    with client.chat.completions.stream(model="grok-4", messages=MESSAGES) as stream:
        assert_type(stream, xstream.ChatCompletionStream[None])
    response = client.responses.parse(model="grok-4", input="Hi")
    assert_type(response, xstream.ParsedResponse[None])
    with client.responses.stream(model="grok-4", input="Hi") as events:
        assert_type(events, xstream.SyncParsedResponseStream[None])
