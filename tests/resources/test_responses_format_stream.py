"""Structured Responses, streamed: ``responses.stream(..., text_format=T, tools=[...])``
end to end against the built-in server (strict, as xAI is).

Each ``response.output_text.delta`` carries ``parsed`` (the object so far) and
``snapshot``; ``response.output_text.done`` the ``T``; a function call of a tool
declared from a type (or as a strict dict) carries ``parsed_arguments`` on its
``response.function_call_arguments.done`` and in the final response, whose items
still go back to the server exactly as they came.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

import xstream
from tests.protocol.test_response_state import consistent
from xstream.testing import MockServer, Reply, ToolCallScript


class Stop(msgspec.Struct):
    city: str
    nights: int


class Trip(msgspec.Struct):
    title: str
    stops: list[Stop]
    budget: float | None = None


class GetWeather(msgspec.Struct):
    """The weather in a city."""

    city: str
    unit: str | None = None


LOOKUP = {
    "type": "function",
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {
        "type": "object",
        "properties": {"word": {"type": "string"}},
        "required": ["word"],
        "additionalProperties": False,
    },
    "strict": True,
}
TRIP = Trip(
    title='Rail "tour" \u00e9t\u00e9 \U0001f686',
    stops=[Stop("Oslo", 2), Stop("Bergen", 3), Stop("Trondheim", 1)],
    budget=1234.5,
)
TRIP_JSON = msgspec.json.encode(TRIP).decode()
INPUT = "Plan a rail trip through Norway."


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with MockServer() as srv:  # strict: a known model, real input
        yield srv


@pytest.fixture
async def client(server: MockServer) -> AsyncIterator[xstream.AsyncClient]:
    async with xstream.AsyncClient("sk-test-format", base_url=server.base_url) as c:
        yield c


def _check_growth(deltas: list[Any], final: Trip) -> None:
    """``parsed`` only grows, and ends as the final object."""
    assert len(deltas) > 10
    parsed = [event.parsed for event in deltas]
    for before, after in itertools.pairwise(parsed):
        assert consistent(before, after), (before, after)
    assert parsed[-1] == final
    assert [e.snapshot for e in deltas][-1] == TRIP_JSON
    assert all(TRIP_JSON.startswith(e.snapshot) for e in deltas)


async def test_parsed_grows_on_each_delta_and_ends_as_output_parsed(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(text=TRIP_JSON, chunk_size=3))
    async with client.responses.stream(model="grok-4", input=INPUT, text_format=Trip) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    deltas = [e for e in events if isinstance(e, xstream.ResponseOutputTextDeltaEvent)]
    assert all(isinstance(e, xstream.ParsedResponseOutputTextDeltaEvent) for e in deltas)
    assert all(e.type == "response.output_text.delta" for e in deltas)
    _check_growth(deltas, TRIP)
    assert isinstance(deltas[-1].parsed, Trip)  # closed: typed
    assert any(isinstance(e.parsed, dict) and e.parsed.get("stops") for e in deltas)
    (done,) = [e for e in events if e.type == "response.output_text.done"]
    assert isinstance(done, xstream.ParsedResponseOutputTextDoneEvent)
    assert done.parsed == TRIP and done.text == TRIP_JSON
    assert final.output_parsed == TRIP == deltas[-1].parsed
    assert [e.sequence_number for e in events] == list(range(len(events)))  # none lost


async def test_without_a_type_the_events_have_snapshots_and_no_parsed(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(text="Plain words, not JSON.", chunk_size=5))
    async with client.responses.stream(model="grok-4", input=INPUT) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    deltas = [e for e in events if isinstance(e, xstream.ParsedResponseOutputTextDeltaEvent)]
    assert [e.parsed for e in deltas] == [None] * len(deltas)
    assert deltas[-1].snapshot == "Plain words, not JSON." == final.output_text
    assert final.output_parsed is None


async def test_text_that_does_not_parse_ends_the_stream_normally_and_raises_at_the_end(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(text='{"title": "x", "stops": 7}', chunk_size=4))
    async with client.responses.stream(model="grok-4", input=INPUT, text_format=Trip) as stream:
        events = [event async for event in stream]
        with pytest.raises(xstream.OutputValidationError) as caught:
            await stream.get_final_response()
    assert events[-1].type == "response.completed"
    (done,) = [e for e in events if e.type == "response.output_text.done"]
    assert isinstance(done, xstream.ParsedResponseOutputTextDoneEvent) and done.parsed is None
    assert caught.value.content == '{"title": "x", "stops": 7}'


async def test_create_stream_true_is_untouched(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(text=TRIP_JSON, chunk_size=8))
    stream = await client.responses.create(model="grok-4", input=INPUT, stream=True)
    kinds = {type(event) async for event in stream}
    assert xstream.ResponseOutputTextDeltaEvent in kinds
    assert not kinds & {
        xstream.ParsedResponseOutputTextDeltaEvent,
        xstream.ParsedResponseOutputTextDoneEvent,
    }


def test_the_sync_client_hands_out_the_same_parsed_events() -> None:
    with (
        MockServer.running_in_thread() as srv,
        xstream.Client("sk-test-format", base_url=srv.base_url) as client,
    ):
        srv.enqueue(Reply(text=TRIP_JSON, chunk_size=5))
        with client.responses.stream(model="grok-4", input=INPUT, text_format=Trip) as stream:
            events = list(stream)
            final = stream.get_final_response()
    deltas = [e for e in events if isinstance(e, xstream.ParsedResponseOutputTextDeltaEvent)]
    _check_growth(deltas, TRIP)
    (done,) = [e for e in events if isinstance(e, xstream.ParsedResponseOutputTextDoneEvent)]
    assert done.parsed == final.output_parsed == TRIP


# -- function calls -------------------------------------------------------------------------


CALLS = [
    ToolCallScript("GetWeather", '{"city": "Oslo", "unit": "C"}', id="call_w"),
    ToolCallScript("lookup", '{"word": "fjord"}', id="call_l"),
    ToolCallScript("unknown_tool", '{"a": 1}', id="call_u"),
]


async def test_types_in_tools_are_sent_as_flat_function_tools(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(text="ok"), Reply(text="ok"))
    await client.responses.create(model="grok-4", input=INPUT, tools=[GetWeather, LOOKUP])
    await client.responses.create(
        model="grok-4", input=INPUT, tools=[xstream.function_tool(GetWeather)]
    )
    first, second = (request.json["tools"] for request in server.requests)
    weather = first[0]
    assert weather == second[0]
    assert set(weather) == {"type", "name", "description", "parameters", "strict"}
    assert weather["type"] == "function" and weather["name"] == "GetWeather"
    assert weather["description"] == "The weather in a city." and weather["strict"] is True
    assert weather["parameters"]["required"] == ["city", "unit"]
    assert first[1] == LOOKUP  # a dict passes unchanged


async def test_function_calls_carry_typed_parsed_arguments(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(text="", tool_calls=CALLS, chunk_size=4))
    async with client.responses.stream(
        model="grok-4", input=INPUT, tools=[GetWeather, LOOKUP]
    ) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    dones = [e for e in events if isinstance(e, xstream.ResponseFunctionCallArgumentsDoneEvent)]
    assert all(isinstance(e, xstream.ParsedResponseFunctionCallArgumentsDoneEvent) for e in dones)
    assert [e.name for e in dones] == ["GetWeather", "lookup", "unknown_tool"]  # from the items
    assert [e.parsed_arguments for e in dones] == [GetWeather("Oslo", "C"), {"word": "fjord"}, None]
    assert [e.arguments_error for e in dones] == [None, None, None]  # type: ignore[attr-defined]
    deltas = [
        e for e in events if isinstance(e, xstream.ParsedResponseFunctionCallArgumentsDeltaEvent)
    ]
    weather = [e for e in deltas if e.output_index == dones[0].output_index]
    assert weather[-1].snapshot == CALLS[0].arguments
    assert weather[-1].parsed_arguments == GetWeather("Oslo", "C")
    assert any(e.parsed_arguments == {"city": "Os"} for e in weather)  # partial, as it grew
    calls = [i for i in final.output if i.type == "function_call"]
    assert all(isinstance(c, xstream.ParsedResponseFunctionToolCall) for c in calls)
    parsed = [c.parsed_arguments for c in calls]  # type: ignore[attr-defined]
    assert parsed == [GetWeather("Oslo", "C"), {"word": "fjord"}, None]
    assert parsed[0] is dones[0].parsed_arguments  # parsed once


async def test_parse_gives_typed_parsed_arguments_too(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(text="", tool_calls=CALLS[:2]))
    response = await client.responses.parse(model="grok-4", input=INPUT, tools=[GetWeather, LOOKUP])
    calls = [i for i in response.output if isinstance(i, xstream.ParsedResponseFunctionToolCall)]
    assert [c.parsed_arguments for c in calls] == [GetWeather("Oslo", "C"), {"word": "fjord"}]
    assert [c.call_id for c in calls] == ["call_w", "call_l"]


async def test_arguments_that_do_not_fit_lose_no_event_and_raise_at_the_end(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    bad = [ToolCallScript("GetWeather", '{"town": 1}', id="call_bad"), CALLS[1]]
    server.enqueue(Reply(text="", tool_calls=bad, chunk_size=3), Reply(text="", tool_calls=bad))
    async with client.responses.stream(
        model="grok-4", input=INPUT, tools=[GetWeather, LOOKUP]
    ) as stream:
        events = [event async for event in stream]
        with pytest.raises(xstream.ToolArgumentsError) as caught:
            await stream.get_final_response()
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    first, second = (e for e in events if e.type == "response.function_call_arguments.done")
    assert isinstance(first, xstream.ParsedResponseFunctionCallArgumentsDoneEvent)
    assert first.parsed_arguments is None
    assert isinstance(first.arguments_error, xstream.ToolArgumentsError)
    assert first.arguments_error.tool_call_id == "call_bad"
    assert second.parsed_arguments == {"word": "fjord"}  # type: ignore[union-attr]
    assert caught.value.arguments == '{"town": 1}' and caught.value.name == "GetWeather"
    # the response is still there, unparsed
    assert (await stream.events.get_final_response()).output[1].arguments == '{"town": 1}'
    with pytest.raises(xstream.ToolArgumentsError):
        await client.responses.parse(model="grok-4", input=INPUT, tools=[GetWeather])


async def test_parsed_function_calls_go_back_exactly_as_the_server_sent_them(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(text="", tool_calls=CALLS[:1]), Reply(text="Sunny."))
    async with client.responses.stream(model="grok-4", input=INPUT, tools=[GetWeather]) as stream:
        final = await stream.get_final_response()
    (call,) = [i for i in final.output if isinstance(i, xstream.ParsedResponseFunctionToolCall)]
    sent = server.responses.sent_items[call.id or ""]
    assert msgspec.json.decode(call.to_input()) == sent
    assert "parsed_arguments" not in msgspec.json.decode(msgspec.json.encode(call.to_input()))
    # rebuilt from its fields (no raw): still no parsed_arguments on the wire
    rebuilt = msgspec.structs.replace(call)
    assert rebuilt.raw is None
    assert rebuilt.to_input() == {k: v for k, v in sent.items()}
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
    reply = await client.responses.create(
        model="grok-4", input=[*final.output, output], tools=[GetWeather]
    )
    assert reply.output_text == "Sunny."  # the server found every item unchanged
    assert server.responses.mismatches == []
