"""Typed chat stream events: the OpenAI SDK's events on the same bytes, and what it lacks.

``tests/data/openai_stream_events.json`` holds, per scripted stream of the built-in
server, the exact body and the events the OpenAI SDK's ``chat.completions.stream()``
made of it (recorded by ``python -m benchmarks.record_openai_events``). Each test
replays that body to xstream over a real socket and asserts the same events: kinds,
order, fields, snapshots, ``parsed``.

One documented difference: where a delta ends inside a JSON string, the OpenAI SDK's
partial ``parsed`` / ``parsed_arguments`` leaves that string out, and xstream's has it
as far as it arrived. The recording keeps jiter's ``trailing-strings`` parse next to
each partial value, which is what xstream must equal there. (The OpenAI SDK also
leaves the stream's very first chunk unparsed, ``None``; xstream parses it too.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import xstream
from tests.protocol.test_accumulate import _CHUNK_JSON, _FIRST, _PLAIN
from xstream.testing import MockServer, Reply, ToolCallScript

RECORDED = json.loads(
    (Path(__file__).parent.parent / "data" / "openai_stream_events.json").read_text()
)["scenarios"]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "array", "items": {"type": "integer"}},
            },
            "required": ["city", "days"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


class Stop(msgspec.Struct):
    city: str
    nights: int


class Trip(msgspec.Struct):
    title: str
    stops: list[Stop]
    budget: float
    confirmed: bool
    notes: str | None


def _params(recorded: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if recorded.get("tools") == "weather":
        params["tools"] = [WEATHER_TOOL]
    if recorded.get("response_format") == "trip":
        params["response_format"] = Trip
    if "n" in recorded:
        params["n"] = recorded["n"]
    return params


def _plain(value: Any) -> Any:
    """Both sides as plain JSON values: None fields dropped, tool-call ``index`` (kept
    by the OpenAI SDK's snapshot, not a field of a complete call) dropped."""
    value = msgspec.to_builtins(value)
    return _strip(json.loads(json.dumps(value)))


def _strip(value: Any, parent: str = "") -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is None or (parent == "tool_calls" and key == "index"):
                continue
            out[key] = _strip(item, key)
        return out
    if isinstance(value, list):
        return [_strip(item, parent) for item in value]
    return value


def _expected(event: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI SDK's event, with xstream's one documented difference applied."""
    event = json.loads(json.dumps(event))
    _filled(event, "parsed")
    _filled(event, "parsed_arguments")
    if event["type"] == "chunk":
        for choice in event["snapshot"]["choices"]:
            message = choice["message"]
            _filled(message, "parsed")
            for call in message.get("tool_calls") or ():
                _filled(call["function"], "parsed_arguments")
    return _strip(event)


def _filled(record: dict[str, Any], name: str) -> None:
    if f"{name}_trailing_strings" in record:
        record[name] = record.pop(f"{name}_trailing_strings")


async def _events(name: str) -> tuple[list[Any], list[Any], xstream.ParsedChatCompletion[Any]]:
    """The recorded body replayed to xstream: its events, each chunk event's chunk and
    snapshot as they were when handed out (snapshots are read then), the final completion."""
    recorded = RECORDED[name]
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(body=recorded["body"], content_type="text/event-stream"))
        async with (
            xstream.AsyncClient(api_key="sk-test", base_url=srv.base_url) as client,
            client.chat.completions.stream(
                model="grok-4",
                messages=[{"role": "user", "content": "hi"}],
                **_params(recorded["params"]),
            ) as stream,
        ):
            events, snapshots = [], []
            async for event in stream:
                events.append(event)
                if event.type == "chunk":
                    snapshots.append(_plain({"chunk": event.chunk, "snapshot": event.snapshot}))
            return events, snapshots, await stream.get_final_completion()


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_events_equal_the_openai_sdks(name: str) -> None:
    recorded = RECORDED[name]["events"]
    expected = [_expected(e) for e in recorded if e["type"] != "final"]
    events, _, final = await _events(name)
    assert [e.type for e in events] == [e["type"] for e in expected]
    for position, (ours, theirs) in enumerate(zip(events, expected, strict=True)):
        if ours.type == "chunk":
            continue  # snapshots are compared as they were handed out, below
        assert _plain(ours.to_dict()) == theirs, f"event {position} ({ours.type})"
    assert _plain(final) == _strip(recorded[-1]["completion"])


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_chunk_snapshots_equal_the_openai_sdks_as_handed_out(name: str) -> None:
    expected = [_expected(e) for e in RECORDED[name]["events"] if e["type"] == "chunk"]
    _, seen, _ = await _events(name)
    assert len(seen) == len(expected)
    for position, (ours, theirs) in enumerate(zip(seen, expected, strict=True)):
        assert ours["chunk"] == theirs["chunk"], f"chunk {position}"
        assert ours["snapshot"] == theirs["snapshot"], f"snapshot {position}"


def test_the_recording_covers_what_the_issue_names() -> None:
    kinds = {e["type"] for r in RECORDED.values() for e in r["events"]}
    assert {
        "chunk",
        "content.delta",
        "content.done",
        "refusal.delta",
        "refusal.done",
        "tool_calls.function.arguments.delta",
        "tool_calls.function.arguments.done",
        "logprobs.content.delta",
        "logprobs.content.done",
    } <= kinds
    assert {"plain_text", "refusal", "parallel_tool_calls", "structured_output", "n_2"} <= set(
        RECORDED
    )


# -- what the OpenAI SDK lacks ---------------------------------------------------------------


async def test_reasoning_events_come_before_the_content() -> None:
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(text="The answer.", reasoning="Think first.", chunk_size=4))
        async with (
            xstream.AsyncClient(api_key="sk-test", base_url=srv.base_url) as client,
            client.chat.completions.stream(model="grok-4", messages=[]) as stream,
        ):
            kinds = [e.type async for e in stream if e.type != "chunk"]
            final = await stream.get_final_completion()
    assert kinds[:4] == ["reasoning.delta"] * 3 + ["reasoning.done"]
    assert kinds[4] == "content.delta"
    assert kinds[-1] == "content.done"
    assert final.choices[0].message.reasoning_content == "Think first."


async def test_a_tool_call_is_done_as_soon_as_the_next_begins_not_at_the_end() -> None:
    calls = [
        ToolCallScript("get_weather", '{"city": "Paris", "days": [1]}', id="call_1"),
        ToolCallScript("get_weather", '{"city": "Rome", "days": [2, 3]}', id="call_2"),
    ]
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(text="", tool_calls=calls, chunk_size=3))
        async with (
            xstream.AsyncClient(api_key="sk-test", base_url=srv.base_url) as client,
            client.chat.completions.stream(
                model="grok-4", messages=[], tools=[WEATHER_TOOL]
            ) as stream,
        ):
            events = [e async for e in stream]
    kinds = [e.type for e in events]
    first_done = kinds.index("tool_calls.function.arguments.done")
    # the first call is announced done before the second call's arguments stream
    second_deltas = [
        i
        for i, e in enumerate(events)
        if e.type == "tool_calls.function.arguments.delta" and e.index == 1 and e.arguments_delta
    ]
    assert first_done < second_deltas[0]
    done = events[first_done]
    assert (done.id, done.name, done.parsed_arguments) == (
        "call_1",
        "get_weather",
        {"city": "Paris", "days": [1]},
    )


async def test_partial_objects_are_typed_where_closed() -> None:
    answer = '{"title": "T", "stops": [{"city": "Paris", "nights": 3}, {"city": "Ly'
    rest = 'on", "nights": 2}], "budget": 1.5, "confirmed": false, "notes": "x"}'
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(text=answer + rest, chunk_size=len(answer)))
        async with (
            xstream.AsyncClient(api_key="sk-test", base_url=srv.base_url) as client,
            client.chat.completions.stream(
                model="grok-4", messages=[], response_format=Trip
            ) as stream,
        ):
            deltas = [e async for e in stream if e.type == "content.delta"]
            final = await stream.get_final_completion()
    first = deltas[0].parsed
    assert first["stops"][0] == Stop(city="Paris", nights=3)  # closed: typed
    assert first["stops"][1] == {"city": "Ly"}  # open: filled as far as it arrived
    assert deltas[-1].parsed == final.choices[0].message.parsed
    assert isinstance(final.choices[0].message.parsed, Trip)


async def test_the_response_format_type_is_sent_as_a_strict_schema() -> None:
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(text='{"city": "x", "nights": 1}'))
        async with xstream.AsyncClient(api_key="sk-test", base_url=srv.base_url) as client:
            parsed = await client.chat.completions.parse(
                model="grok-4", messages=[], response_format=Stop
            )
        sent = srv.requests[0].json["response_format"]
    assert parsed.choices[0].message.parsed == Stop(city="x", nights=1)
    assert sent == {
        "type": "json_schema",
        "json_schema": {
            "name": "Stop",
            "strict": True,
            "schema": {
                "title": "Stop",
                "type": "object",
                "properties": {"city": {"type": "string"}, "nights": {"type": "integer"}},
                "required": ["city", "nights"],
                "additionalProperties": False,
            },
        },
    }


# -- the README's example, and the relay under the events ----------------------------------


def test_the_readme_example_runs_as_pasted(capsys: pytest.CaptureFixture[str]) -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Stream events and structured output", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    exec(compile(code[1], "README.md", "exec", dont_inherit=True), {"__name__": "readme_events"})
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "steep"
    assert out[-2] == (
        "done: Plan(goal='tea', steps=[Step(title='boil water', minutes=4), "
        "Step(title='steep', minutes=3)])"
    )
    assert any("Step(title='boil water', minutes=4)" in line for line in out if "so far" in line)


async def test_to_sse_relays_the_chunks_under_the_events() -> None:
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(text="relay me", chunk_size=3))
        async with (
            xstream.AsyncClient(api_key="sk-test", base_url=srv.base_url) as client,
            client.chat.completions.stream(model="grok-4", messages=[]) as stream,
        ):
            body = b"".join([piece async for piece in stream.to_sse()])
            final = await stream.get_final_completion()
    events = xstream.SSEDecoder().feed(body)
    assert events[-1].data == "[DONE]"
    chunks = [xstream.ChatCompletionChunk(**json.loads(e.data)) for e in events[:-1]]
    text = "".join(
        c["delta"].get("content") or "" for e in events[:-1] for c in json.loads(e.data)["choices"]
    )
    assert text == "relay me" == final.choices[0].message.content
    assert len(chunks) == len(events) - 1


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_the_sans_io_state_makes_the_same_events_chunk_by_chunk(name: str) -> None:
    recorded = RECORDED[name]
    expected = [_expected(e) for e in recorded["events"] if e["type"] not in ("final", "chunk")]
    params = _params(recorded["params"])
    state = xstream.ChatCompletionStreamState(
        response_format=params.get("response_format"), tools=params.get("tools")
    )
    decode = msgspec.json.Decoder(xstream.ChatCompletionChunk).decode
    events = []
    for sse in xstream.SSEDecoder().feed(recorded["body"].encode()):
        if sse.data != "[DONE]":
            events += [e for e in state.handle_chunk(decode(sse.data)) if e.type != "chunk"]
    assert [_plain(e.to_dict()) for e in events] == expected
    assert _plain(state.get_final_completion()) == _strip(recorded["events"][-1]["completion"])


# The state merges the common chunk itself, on its fast path; whatever the chunks,
# what it builds must be what the accumulator builds from the same chunks.


_TIERED = st.builds(
    lambda base, extra: {**base, **extra},
    _PLAIN,
    st.sampled_from([{}, {"service_tier": "default"}, {"service_tier": "flex"}, {"object": ""}]),
)


@given(st.booleans(), st.lists(st.one_of(_CHUNK_JSON, _PLAIN, _TIERED), max_size=14))
def test_the_state_merges_any_chunks_as_the_accumulator_does(
    opened: bool, chunks: list[dict[str, Any]]
) -> None:
    chunks = [_FIRST, *chunks] if opened else chunks
    decoded = [msgspec.convert(c, xstream.ChatCompletionChunk) for c in chunks]
    state: xstream.ChatCompletionStreamState[None] = xstream.ChatCompletionStreamState()
    accumulator = xstream.ChatCompletionAccumulator()
    for chunk in decoded:
        state.handle_chunk(chunk)
        if chunk.object:  # the state skips Azure's notices without `object`, as OpenAI's does
            accumulator.add(chunk)
        got = _without_parsed(msgspec.to_builtins(state.current_completion_snapshot))
        assert got == _without_parsed(msgspec.to_builtins(accumulator.result()))


_PARSED = ("parsed", "parsed_arguments")  # what only the parsed types have


def _without_parsed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_parsed(v) for k, v in value.items() if k not in _PARSED}
    if isinstance(value, list | tuple):
        return [_without_parsed(v) for v in value]
    return value
