"""responses.run_tools: tools start while the model streams, outputs go back in call
order with every output item as it arrived, over HTTP and over a WebSocket session."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

import xstream
from tests.conftest import RawServe
from xstream.testing import MockServer, Reply, ToolCallScript

MODEL = "grok-4"


def _outputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in body["input"] if i.get("type") == "function_call_output"]


async def test_a_tool_starts_before_the_turns_last_event_and_outputs_go_back_in_call_order(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    started: dict[str, float] = {}

    async def get_weather(city: str) -> dict[str, Any]:
        """The weather in a city."""
        started[city] = time.monotonic()
        return {"city": city, "celsius": 21}

    def get_time(zone: str) -> str:
        started[zone] = time.monotonic()
        assert threading.current_thread() is not threading.main_thread()
        return "12:00"

    calls = [
        ToolCallScript("get_weather", '{"city": "Oslo"}', id="call_w"),
        ToolCallScript("get_time", '{"zone": "CET"}', id="call_t"),
    ]
    server.enqueue(
        Reply(text="", tool_calls=calls, chunk_size=2, delay=0.01), Reply(text="Sunny, noon.")
    )
    runner = client.responses.run_tools(
        model=MODEL, input="Weather and time in Oslo?", tools=[get_weather, get_time]
    )
    last_event_of_turn_one = 0.0
    seen_at_completion: set[str] = set()
    results = []
    async for event in runner:
        if runner.rounds == 1 and not isinstance(event, xstream.ToolResultEvent):
            last_event_of_turn_one = time.monotonic()
            if event.type == "response.completed":
                seen_at_completion = set(started)
        if isinstance(event, xstream.ToolResultEvent):
            results.append((event.name, event.id, event.result, event.error))
    final = await runner.get_final_response()
    assert final.output_text == "Sunny, noon."
    assert runner.rounds == 2
    # both tools ran while the turn still streamed: before its last event arrived
    assert seen_at_completion == {"Oslo", "CET"}
    assert started["Oslo"] < started["CET"] < last_event_of_turn_one
    assert results == [
        ("get_weather", "call_w", {"city": "Oslo", "celsius": 21}, None),
        ("get_time", "call_t", "12:00", None),
    ]
    # turn two: the input, every output item exactly as sent, then the outputs in order
    first, second = server.requests[0], server.requests[1]
    sent = server.responses.stored["resp_0001"]["output"]
    assert second.json["input"] == [first.json["input"][0], *sent, *_outputs(second.json)]
    assert sent[0]["x_reasoning_meta"] == {"effort": "low", "budget": [1, 2]}
    assert _outputs(second.json) == [
        {
            "type": "function_call_output",
            "call_id": "call_w",
            "output": '{"city":"Oslo","celsius":21}',
        },
        {"type": "function_call_output", "call_id": "call_t", "output": "12:00"},
    ]
    assert server.responses.mismatches == []
    # the tools are declared as flat Responses function tools, strict, from signatures
    tools = first.json["tools"]
    assert tools[0]["type"] == "function" and tools[0]["name"] == "get_weather"
    assert tools[0]["description"] == "The weather in a city."
    assert tools[0]["strict"] is True
    assert tools[0]["parameters"]["properties"] == {"city": {"type": "string"}}
    # the whole conversation, the answer included
    kinds = [i["type"] if isinstance(i, dict) else i.type for i in runner.input]
    assert kinds == [
        "message",
        "reasoning",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "reasoning",
        "message",
    ]


async def test_arguments_that_do_not_fit_and_a_failing_tool_go_back_to_the_model(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    def add(a: int, b: int) -> int:
        return a + b

    def broken() -> str:
        raise RuntimeError("out of order")

    calls = [
        ToolCallScript("add", '{"a": 1, "b": "two"}', id="call_type"),
        ToolCallScript("add", '{"a": 1, "b"', id="call_json"),
        ToolCallScript("broken", "", id="call_broken"),
        ToolCallScript("nowhere", "{}", id="call_unknown"),
        ToolCallScript("add", '{"a": 1, "b": 2}', id="call_ok"),
    ]
    server.enqueue(Reply(text="", tool_calls=calls), Reply(text="Sorry about that."))
    runner = client.responses.run_tools(model=MODEL, input="go", tools=[add, broken])
    outcomes = [e async for e in runner if isinstance(e, xstream.ToolResultEvent)]
    assert (await runner.get_final_response()).output_text == "Sorry about that."
    assert [(e.id, type(e.error).__name__ if e.error else e.result) for e in outcomes] == [
        ("call_type", "ToolArgumentsError"),
        ("call_json", "ToolArgumentsError"),
        ("call_broken", "RuntimeError"),
        ("call_unknown", "LookupError"),
        ("call_ok", 3),
    ]
    assert isinstance(outcomes[0].error, xstream.ToolArgumentsError)
    assert outcomes[0].error.tool_call_id == "call_type"
    told = [o["output"] for o in _outputs(server.requests[1].json)]
    assert told[0].startswith("error: ToolArgumentsError: the arguments of tool 'add'")
    assert "do not match" in told[0] and "$.b" in told[0]
    assert "are not valid JSON" in told[1]
    assert told[2:] == [
        "error: RuntimeError: out of order",
        "error: LookupError: no tool named 'nowhere'",
        "3",
    ]


async def test_max_rounds_ends_the_run_with_the_conversation(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    def ping() -> str:
        return "pong"

    call = [ToolCallScript("ping", "{}", id="call_p")]
    server.enqueue(Reply(text="", tool_calls=call), Reply(text="", tool_calls=call))
    runner = client.responses.run_tools(model=MODEL, input="go", tools=[ping], max_rounds=2)
    with pytest.raises(xstream.ToolRoundsExceededError) as caught:
        async for _ in runner:
            pass
    assert caught.value.max_rounds == 2
    assert caught.value.messages[-1] == {
        "type": "function_call_output",
        "call_id": "call_p",
        "output": "pong",
    }
    assert len(server.requests) == 2
    with pytest.raises(ValueError, match="max_rounds"):
        client.responses.run_tools(model=MODEL, input="go", tools=[ping], max_rounds=0)


async def test_server_side_tools_are_declared_as_given_and_their_items_passed_back(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    def lookup(q: str) -> str:
        return q.upper()

    server.enqueue(
        Reply(text="", tool_calls=[ToolCallScript("lookup", '{"q": "x"}', id="c1")]),
        Reply(text="Found it."),
    )
    runner = client.responses.run_tools(
        model=MODEL, input="search", tools=[lookup, {"type": "web_search"}]
    )
    kinds = [e.type async for e in runner]
    assert "response.web_search_call.searching" in kinds
    first, second = server.requests[0].json, server.requests[1].json
    assert first["tools"][1] == {"type": "web_search"}
    search = [i for i in second["input"] if i.get("type") == "web_search_call"]
    assert search == [server.responses.stored["resp_0001"]["output"][1]]
    assert server.responses.mismatches == []


async def test_leaving_early_cancels_running_tools(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    cancelled, running = asyncio.Event(), asyncio.Event()

    async def slow(n: int) -> int:
        running.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return n

    server.enqueue(Reply(text="", tool_calls=[ToolCallScript("slow", '{"n": 1}')], delay=0.01))
    runner = client.responses.run_tools(model=MODEL, input="go", tools=[slow])
    async for event in runner:
        if event.type == "response.function_call_arguments.done":
            break
    await asyncio.wait_for(running.wait(), 2)
    await runner.aclose()
    await asyncio.wait_for(cancelled.wait(), 2)
    with pytest.raises(RuntimeError, match="closed before the model answered"):
        await runner.get_final_response()


@pytest.mark.parametrize("store", [True, False])
async def test_over_a_session_a_turn_sends_only_the_outputs_and_chains(
    server: MockServer, client: xstream.AsyncClient, store: bool
) -> None:
    def double(n: int) -> int:
        return 2 * n

    server.enqueue(
        Reply(text="", tool_calls=[ToolCallScript("double", '{"n": 21}', id="c1")]),
        Reply(text="", tool_calls=[ToolCallScript("double", '{"n": 42}', id="c2")]),
        Reply(text="84."),
    )
    async with client.responses.connect() as session:
        runner = client.responses.run_tools(
            model=MODEL, input="double 21 twice", tools=[double], session=session, store=store
        )
        response = await runner.get_final_response()
    assert response.output_text == "84."
    turns = [r.json for r in server.requests]
    assert [r.method for r in server.requests] == ["WS", "WS", "WS"]
    assert turns[0]["input"] == [{"type": "message", "role": "user", "content": "double 21 twice"}]
    assert turns[1]["previous_response_id"] == "resp_0001"
    assert turns[1]["input"] == [{"type": "function_call_output", "call_id": "c1", "output": "42"}]
    assert turns[2]["previous_response_id"] == "resp_0002"
    assert turns[2]["input"] == [{"type": "function_call_output", "call_id": "c2", "output": "84"}]
    assert all(t["tools"][0]["name"] == "double" for t in turns)
    assert server.connections_seen == 1


def test_the_sync_runner_over_http_and_over_a_session() -> None:
    def add(a: int, b: int) -> int:
        assert threading.current_thread() is not threading.main_thread()
        return a + b

    with (
        MockServer.running_in_thread() as srv,
        xstream.Client(api_key="sk-test", base_url=srv.base_url) as client,
    ):
        for use_session in (False, True):
            srv.enqueue(
                Reply(text="", tool_calls=[ToolCallScript("add", '{"a": 2, "b": 3}', id="c")]),
                Reply(text="Five."),
            )
            with client.responses.connect() as session:
                runner = client.responses.run_tools(
                    model=MODEL,
                    input="2+3?",
                    tools=[add],
                    session=session if use_session else None,
                )
                results = [e for e in runner if isinstance(e, xstream.ToolResultEvent)]
                assert runner.get_final_response().output_text == "Five."
            assert [(r.id, r.result) for r in results] == [("c", 5)]
            last = srv.requests[-1]
            assert last.method == ("WS" if use_session else "POST")
            assert _outputs(last.json) == [
                {"type": "function_call_output", "call_id": "c", "output": "5"}
            ]


async def test_a_call_completed_only_by_its_item_done_still_runs(raw_server: RawServe) -> None:
    """A server that sends no ``function_call_arguments.done``: the call starts at
    its ``output_item.done``."""
    item = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "c1",
        "name": "echo",
        "arguments": '{"s": "hi"}',
        "status": "completed",
    }
    response = {"id": "resp_1", "object": "response", "status": "completed", "output": [item]}
    events = [
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": response},
    ]
    body = b"".join(b"data: " + msgspec.json.encode(e) + b"\n\n" for e in events)

    url = await raw_server([body], path="/v1/responses")
    seen: list[str] = []

    def echo(s: str) -> str:
        seen.append(s)
        return s

    async with xstream.AsyncClient("sk-test", base_url=url) as c:
        runner = c.responses.run_tools(model=MODEL, input="go", tools=[echo], max_rounds=1)
        with pytest.raises(xstream.ToolRoundsExceededError):
            async for _ in runner:
                pass
    assert seen == ["hi"]


def test_the_readmes_agents_examples_run_as_pasted() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Agents: sessions, warm-up, tool runner") :]
    section = section[: section.index("\n## ", 1)]
    blocks = [b.split("```", 1)[0] for b in section.split("```python\n")[1:]]
    assert len(blocks) == 2
    outputs = []
    for code in blocks:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.splitlines())
    assert outputs[0] == ["Done: 42. <- resp_0001", "Done: 42. <- resp_0002"]
    said = section.split("It prints `", 1)[1].split("`")
    assert outputs[1] == [said[0], said[2]]
