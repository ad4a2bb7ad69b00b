"""xAI's own Responses events, typed: server-side tool progress, custom tool call input,
``response.done``, and the usage fields xAI sends (written from xai-api.md's facts)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import xstream
from tests.conftest import KEY
from xstream.testing import MockServer, Reply

USAGE = {
    "input_tokens": 20,
    "output_tokens": 9,
    "total_tokens": 29,
    "output_tokens_details": {"reasoning_tokens": 4},
    "server_side_tool_usage_details": {"x_search": 1},
    "num_sources_used": 3,
    "num_server_side_tools_used": 1,
    "cost_in_usd_ticks": 1_234_500,
}


def _response(status: str, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": "resp_x", "object": "response", "status": status, "output": []}
    if usage is not None:
        out["usage"] = usage
    return out


def stream_of(events: list[dict[str, Any]]) -> bytes:
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + json.dumps(e).encode() + b"\n\n"
        for e in events
    )


def xai_events(*, completed: bool) -> list[dict[str, Any]]:
    n = iter(range(100))
    events: list[dict[str, Any]] = [
        {"type": "response.created", "sequence_number": next(n), "response": _response("in_progress")},
        {"type": "response.x_search_call.in_progress", "sequence_number": next(n),
         "item_id": "xs_1", "output_index": 0},
        {"type": "response.x_search_call.searching", "sequence_number": next(n),
         "item_id": "xs_1", "output_index": 0},
        {"type": "response.custom_tool_call_input.delta", "sequence_number": next(n),
         "item_id": "ct_1", "output_index": 0, "delta": '{"query": "gro'},
        {"type": "response.custom_tool_call_input.delta", "sequence_number": next(n),
         "item_id": "ct_1", "output_index": 0, "delta": 'k"}'},
        {"type": "response.custom_tool_call_input.done", "sequence_number": next(n),
         "item_id": "ct_1", "output_index": 0, "input": '{"query": "grok"}'},
        {"type": "response.x_search_call.completed", "sequence_number": next(n),
         "item_id": "xs_1", "output_index": 0},
        {"type": "response.code_execution_call.executing", "sequence_number": next(n),
         "item_id": "ce_1", "output_index": 1},
    ]  # fmt: skip
    if completed:
        events.append(
            {"type": "response.completed", "sequence_number": next(n),
             "response": _response("completed", USAGE)}
        )  # fmt: skip
    events.append(
        {"type": "response.done", "sequence_number": next(n), "response": _response("completed", USAGE)}
    )  # fmt: skip
    return events


@pytest.mark.parametrize("completed", [True, False], ids=["completed-then-done", "done-alone"])
async def test_xais_events_are_typed_and_the_usage_is_whole(completed: bool) -> None:
    body = stream_of(xai_events(completed=completed))
    async with MockServer() as srv:
        srv.enqueue(Reply(body=body, content_type="text/event-stream"))
        async with xstream.AsyncClient(KEY, base_url=srv.base_url) as client:
            stream = await client.responses.create(model="grok-4", input="hi", stream=True)
            events = [e async for e in stream]
            final = await stream.get_final_response()
    kinds = [type(e).__name__ for e in events]
    assert "UnknownResponseEvent" not in kinds, kinds
    progress = [e for e in events if isinstance(e, xstream.ResponseToolCallEvent)]
    assert [(e.tool, e.phase) for e in progress] == [
        ("x_search", "in_progress"),
        ("x_search", "searching"),
        ("x_search", "completed"),
        ("code_execution", "executing"),
    ]
    deltas = [e for e in events if isinstance(e, xstream.ResponseCustomToolCallInputDeltaEvent)]
    (done,) = [e for e in events if isinstance(e, xstream.ResponseCustomToolCallInputDoneEvent)]
    assert "".join(d.delta for d in deltas) == done.input == '{"query": "grok"}'
    assert done.item_id == "ct_1"
    usage = final.usage
    assert usage is not None
    assert usage.server_side_tool_usage_details == {"x_search": 1}
    assert (usage.num_sources_used, usage.num_server_side_tools_used) == (3, 1)
    assert usage.cost_usd == pytest.approx(1_234_500 / 1e10)
    assert final.status == "completed"


async def test_an_xai_stream_relays_as_it_came() -> None:
    body = stream_of(xai_events(completed=False))
    async with MockServer() as srv:
        srv.enqueue(Reply(body=body, content_type="text/event-stream"))
        async with xstream.AsyncClient(KEY, base_url=srv.base_url) as client:
            stream = await client.responses.create(model="grok-4", input="hi", stream=True)
            relayed = b"".join([piece async for piece in stream.to_sse()])
    assert relayed == body
