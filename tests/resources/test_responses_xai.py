"""xAI's own Responses events and usage, typed: x_search / code_execution progress,
custom tool call input, ``response.done``, and usage's server-side tool counts and cost."""

from __future__ import annotations

from typing import Any

import pytest

import xstream
from tests.resources.test_responses import (
    TEXT,
    FakeResponsesAPI,
    api,
    client,
    response_events,
    sse,
)

__all__ = ["api", "client"]  # the fixtures, shared with test_responses

XAI_USAGE = {
    "input_tokens": 14,
    "output_tokens": 11,
    "total_tokens": 25,
    "server_side_tool_usage_details": {"SERVER_SIDE_TOOL_X_SEARCH": 2},
    "num_sources_used": 5,
    "num_server_side_tools_used": 2,
    "cost_in_usd_ticks": 37_756_000,
}


def xai_events() -> list[dict[str, Any]]:
    events = response_events()
    where = {"output_index": 1, "item_id": "ct_1"}
    extra: list[dict[str, Any]] = [
        {"type": "response.x_search_call.in_progress", **where},
        {"type": "response.x_search_call.searching", **where},
        {"type": "response.custom_tool_call_input.delta", **where, "delta": '{"query":'},
        {"type": "response.custom_tool_call_input.delta", **where, "delta": ' "grok"}'},
        {"type": "response.custom_tool_call_input.done", **where, "input": '{"query": "grok"}'},
        {"type": "response.x_search_call.completed", **where},
        {"type": "response.code_execution_call.executing", "output_index": 2, "item_id": "ce_1"},
    ]
    events[4:4] = extra
    events[-1]["response"]["usage"] = XAI_USAGE
    return events


def renumber(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


async def test_xai_tool_events_and_usage_are_typed(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    fake, _ = api
    events = renumber(xai_events())
    done = {"type": "response.done", "response": events[-1]["response"]}
    events.append(done)
    fake.stream_body = sse(renumber(events), named=False)
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    received = [event async for event in stream]
    # the stream ends at response.completed: a response.done after it is not read
    assert isinstance(received[-1], xstream.ResponseCompletedEvent)
    assert not [e for e in received if isinstance(e, xstream.UnknownResponseEvent)]
    tools = [e for e in received if isinstance(e, xstream.ResponseToolCallEvent)]
    assert [(e.tool, e.phase) for e in tools] == [
        ("x_search", "in_progress"),
        ("x_search", "searching"),
        ("x_search", "completed"),
        ("code_execution", "executing"),
    ]
    deltas = [e for e in received if isinstance(e, xstream.ResponseCustomToolCallInputDeltaEvent)]
    assert "".join(e.delta for e in deltas) == '{"query": "grok"}'
    assert deltas[0].item_id == "ct_1"
    (whole,) = [e for e in received if isinstance(e, xstream.ResponseCustomToolCallInputDoneEvent)]
    assert whole.input == '{"query": "grok"}'
    assert whole.type == "response.custom_tool_call_input.done"
    final = await stream.get_final_response()
    assert final.output_text == TEXT
    usage = final.usage
    assert usage is not None
    assert usage.server_side_tool_usage_details == {"SERVER_SIDE_TOOL_X_SEARCH": 2}
    assert usage.num_sources_used == 5
    assert usage.num_server_side_tools_used == 2
    assert usage.cost_usd == pytest.approx(0.0037756)
    # the whole event round-trips as the server sent it
    assert b"SERVER_SIDE_TOOL_X_SEARCH" in b"".join(
        [chunk async for chunk in _sse_of(received, stream)]
    )


async def _sse_of(received: list[Any], stream: xstream.ResponseStream) -> Any:
    for event in received:
        yield stream.sse_item(event)


@pytest.mark.parametrize("named", [True, False])
async def test_response_done_alone_ends_the_stream(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str], named: bool
) -> None:
    fake, _ = api
    events = xai_events()
    events[-1]["type"] = "response.done"  # no response.completed: xAI's done ends it
    fake.stream_body = sse(renumber(events), named=named)
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    received = [event async for event in stream]
    assert isinstance(received[-1], xstream.ResponseDoneEvent)
    final = await stream.get_final_response()
    assert final.output_text == TEXT
    assert final.usage is not None and final.usage.num_sources_used == 5


async def test_an_unknown_xai_event_is_still_kept_whole(
    client: xstream.AsyncClient, api: tuple[FakeResponsesAPI, str]
) -> None:
    fake, _ = api
    events = response_events()
    novel = {"type": "response.x_new_thing.delta", "payload": {"a": [1, 2]}}
    events.insert(3, novel)
    fake.stream_body = sse(renumber(events))
    stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
    unknown = [e async for e in stream if isinstance(e, xstream.UnknownResponseEvent)]
    assert unknown == [xstream.UnknownResponseEvent(type=novel["type"], data=novel)]
