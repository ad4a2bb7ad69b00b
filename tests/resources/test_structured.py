"""Structured output from a type, typed tool arguments, run_tools, Responses text_format."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import threading
import time
from typing import Any, TypedDict

import msgspec
import pydantic
import pytest

import xstream
from xstream._sync.portal import LoopThread
from xstream.testing import MockServer, Reply, ToolCallScript


class City(msgspec.Struct):
    name: str
    population: int


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Pair(TypedDict):
    left: str
    right: str


class Person(pydantic.BaseModel):
    name: str
    age: int


class GetWeather(msgspec.Struct):
    """The weather in a city."""

    city: str
    unit: str | None = None


@pytest.fixture
async def server() -> Any:
    async with MockServer(strict=False) as srv:
        yield srv


@pytest.fixture
async def client(server: MockServer) -> Any:
    async with xstream.AsyncClient(api_key="sk-secret-1234", base_url=server.base_url) as c:
        yield c


@pytest.mark.parametrize(
    ("tp", "text", "expected"),
    [
        (City, '{"name": "Oslo", "population": 700000}', City("Oslo", 700000)),
        (Point, '{"x": 1.5, "y": -2}', Point(1.5, -2.0)),
        (Pair, '{"left": "a", "right": "b"}', {"left": "a", "right": "b"}),
        (Person, '{"name": "Ada", "age": 36}', Person(name="Ada", age=36)),
    ],
)
async def test_parse_into_each_kind_of_type(
    server: MockServer, client: xstream.AsyncClient, tp: Any, text: str, expected: Any
) -> None:
    server.enqueue(Reply(text=text))
    completion = await client.chat.completions.parse(model="m", messages=[], response_format=tp)
    assert completion.choices[0].message.parsed == expected
    sent = server.requests[0].json["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["strict"] is True
    schema = sent["json_schema"]["schema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"])


async def test_the_stream_and_parse_agree(server: MockServer, client: xstream.AsyncClient) -> None:
    text = '{"name": "Lima", "population": 10000000}'
    server.enqueue(Reply(text=text, chunk_size=3), Reply(text=text))
    async with client.chat.completions.stream(model="m", messages=[], response_format=City) as s:
        streamed = await s.get_final_completion()
    parsed = await client.chat.completions.parse(model="m", messages=[], response_format=City)
    assert streamed.choices[0].message.parsed == parsed.choices[0].message.parsed


async def test_a_refusal_is_a_typed_error_keeping_the_text(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(refusal="I can't do that."), Reply(refusal="No.", chunk_size=1))
    with pytest.raises(xstream.RefusalError) as caught:
        await client.chat.completions.parse(model="m", messages=[], response_format=City)
    assert caught.value.refusal == "I can't do that."
    assert caught.value.completion.choices[0].message.refusal == "I can't do that."
    async with client.chat.completions.stream(model="m", messages=[], response_format=City) as s:
        kinds = [e.type async for e in s if e.type != "chunk"]
        with pytest.raises(xstream.RefusalError):
            await s.get_final_completion()
    assert kinds == ["refusal.delta"] * 3 + ["refusal.done"]


async def test_json_that_does_not_fit_is_a_typed_error_keeping_the_text(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(text='{"name": "x", "population": "many"}'), Reply(text="not json"))
    with pytest.raises(xstream.OutputValidationError) as caught:
        await client.chat.completions.parse(model="m", messages=[], response_format=City)
    assert caught.value.content == '{"name": "x", "population": "many"}'
    assert "population" in str(caught.value) and "City" in str(caught.value)
    async with client.chat.completions.stream(model="m", messages=[], response_format=City) as s:
        seen = []
        with pytest.raises(xstream.OutputValidationError) as again:
            async for event in s:
                seen.append(event.type)
    assert again.value.content == "not json"
    assert "content.delta" in seen  # every delta arrived before the error


async def test_cut_at_the_token_limit(server: MockServer, client: xstream.AsyncClient) -> None:
    server.enqueue(Reply(text='{"name": "x", "pop', finish_reason="length"))
    with pytest.raises(xstream.LengthFinishReasonError) as caught:
        await client.chat.completions.parse(model="m", messages=[], response_format=City)
    assert caught.value.content == '{"name": "x", "pop'


async def test_tools_declared_from_types(server: MockServer, client: xstream.AsyncClient) -> None:
    server.enqueue(
        Reply(text="", tool_calls=[ToolCallScript("GetWeather", '{"city": "Oslo", "unit": null}')])
    )
    completion = await client.chat.completions.parse(model="m", messages=[], tools=[GetWeather])
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.parsed_arguments == GetWeather(city="Oslo")
    tool = server.requests[0].json["tools"][0]
    assert tool["function"]["name"] == "GetWeather"
    assert tool["function"]["description"] == "The weather in a city."
    assert tool["function"]["parameters"]["required"] == ["city", "unit"]


async def test_tool_arguments_that_do_not_fit_raise_on_done(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(text="", tool_calls=[ToolCallScript("GetWeather", '{"town": 1}')]))
    async with client.chat.completions.stream(model="m", messages=[], tools=[GetWeather]) as s:
        with pytest.raises(xstream.ToolArgumentsError) as caught:
            async for _ in s:
                pass
    assert caught.value.arguments == '{"town": 1}'


async def test_messages_with_parsed_fields_go_back_as_plain_messages(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(
        Reply(text="", tool_calls=[ToolCallScript("GetWeather", '{"city": "Oslo", "unit": "C"}')]),
        Reply(text="ok"),
    )
    first = await client.chat.completions.parse(model="m", messages=[], tools=[GetWeather])
    await client.chat.completions.create(model="m", messages=[first.choices[0].message])
    sent = server.requests[1].json["messages"][0]
    assert "parsed" not in sent
    assert "parsed_arguments" not in sent["tool_calls"][0]["function"]


def test_the_sync_client_streams_events_and_parses() -> None:
    with (
        MockServer.running_in_thread(strict=False) as srv,
        xstream.Client(api_key="sk-test", base_url=srv.base_url) as client,
    ):
        srv.enqueue(Reply(text='{"name": "Rome", "population": 3}', chunk_size=4))
        with client.chat.completions.stream(model="m", messages=[], response_format=City) as s:
            kinds = [e.type for e in s if e.type != "chunk"]
            final = s.get_final_completion()
        srv.enqueue(Reply(text='{"x": 1, "y": 2}'))
        parsed = client.chat.completions.parse(model="m", messages=[], response_format=Point)
    assert kinds[-1] == "content.done" and kinds.count("content.delta") >= 3
    assert final.choices[0].message.parsed == City("Rome", 3)
    assert parsed.choices[0].message.parsed == Point(1, 2)


def test_pydantic_is_never_imported_by_xstream() -> None:
    code = (
        "import sys, msgspec, xstream\n"
        "class C(msgspec.Struct):\n    a: int\n"
        "xstream.function_tool(C); xstream.PartialJSON(C).feed('{')\n"
        "from xstream._protocol.schema import response_format; response_format(C)\n"
        "assert 'pydantic' not in sys.modules, 'pydantic was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- run_tools --------------------------------------------------------------------------------


async def test_run_tools_calls_each_tool_as_its_call_completes(
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
    server.enqueue(Reply(text="", tool_calls=calls, chunk_size=2, delay=0.01), Reply(text="Done."))
    runner = client.chat.completions.run_tools(
        model="m", messages=[{"role": "user", "content": "hi"}], tools=[get_weather, get_time]
    )
    last_chunk_of_round_one = 0.0
    results = []
    async for event in runner:
        if event.type == "chunk" and runner.rounds == 1:
            last_chunk_of_round_one = time.monotonic()
        if isinstance(event, xstream.ToolResultEvent):
            results.append((event.name, event.id, event.result))
    final = await runner.get_final_completion()
    assert final.choices[0].message.content == "Done."
    # the first tool started while the model was still streaming the second call
    assert started["Oslo"] < last_chunk_of_round_one
    assert results == [
        ("get_weather", "call_w", {"city": "Oslo", "celsius": 21}),
        ("get_time", "call_t", "12:00"),
    ]
    second = server.requests[1].json["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "tool", "tool"]
    assert second[2] == {
        "role": "tool",
        "tool_call_id": "call_w",
        "content": '{"city":"Oslo","celsius":21}',
    }
    tools = server.requests[0].json["tools"]
    assert tools[0]["function"]["parameters"]["properties"] == {"city": {"type": "string"}}


async def test_run_tools_tells_the_model_when_a_tool_fails_and_stops_at_max_rounds(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    def broken(n: int) -> int:
        raise RuntimeError("out of order")

    call = [ToolCallScript("broken", '{"n": 1}', id="call_1")]
    server.enqueue(Reply(text="", tool_calls=call), Reply(text="", tool_calls=call))
    runner = client.chat.completions.run_tools(model="m", messages=[], tools=[broken], max_rounds=2)
    errors = []
    with pytest.raises(xstream.ToolRoundsExceededError) as caught:
        async for event in runner:
            if isinstance(event, xstream.ToolResultEvent):
                errors.append(event.error)
    assert [type(e) for e in errors] == [RuntimeError, RuntimeError]
    assert caught.value.max_rounds == 2
    assert caught.value.messages[-1]["content"] == "error: RuntimeError: out of order"


async def test_leaving_run_tools_early_cancels_running_tools(
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

    server.enqueue(Reply(text="", tool_calls=[ToolCallScript("slow", '{"n": 1}')]))
    runner = client.chat.completions.run_tools(model="m", messages=[], tools=[slow])
    async for event in runner:
        if event.type == "tool_calls.function.arguments.done":
            break
    await asyncio.wait_for(running.wait(), 2)  # the tool began while we were elsewhere
    await runner.aclose()
    await asyncio.wait_for(cancelled.wait(), 2)


def test_run_tools_with_the_sync_client() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    with (
        MockServer.running_in_thread(strict=False) as srv,
        xstream.Client(api_key="sk-test", base_url=srv.base_url) as client,
    ):
        srv.enqueue(Reply(text="", tool_calls=[ToolCallScript("add", '{"a": 2, "b": 3}')]))
        srv.enqueue(Reply(text="5"))
        runner = client.chat.completions.run_tools(model="m", messages=[], tools=[add])
        results = [e.result for e in runner if isinstance(e, xstream.ToolResultEvent)]
        messages = runner.messages
    assert results == [5]
    assert messages[-1]["content"] == "5"


def test_the_sync_runner_crosses_threads_once_per_read_not_per_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hops = 0
    run = LoopThread.run

    def counted(self: LoopThread, fn: Any, *args: Any) -> Any:
        nonlocal hops
        hops += 1
        return run(self, fn, *args)

    async def double(x: int) -> int:  # an async tool runs on the client's loop
        return 2 * x

    with (
        MockServer.running_in_thread(strict=False) as srv,
        xstream.Client(api_key="sk-test", base_url=srv.base_url) as client,
    ):
        srv.enqueue(Reply(text="", tool_calls=[ToolCallScript("double", '{"x": 21}')]))
        srv.enqueue(Reply(text="forty-two " * 200, chunk_size=2))  # 1,000 chunks, few reads
        monkeypatch.setattr(LoopThread, "run", counted)
        runner = client.chat.completions.run_tools(model="m", messages=[], tools=[double])
        events = list(runner)
        completion = runner.get_final_completion()
    assert [e.result for e in events if isinstance(e, xstream.ToolResultEvent)] == [42]
    assert completion.choices[0].message.content == "forty-two " * 200
    deltas = sum(1 for e in events if getattr(e, "type", "") == "content.delta")
    assert deltas == 1000
    assert 3 <= hops < 50, f"{hops} thread hops for {len(events)} events"


def test_leaving_the_sync_runner_early_cancels_running_tools() -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def slow() -> str:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    with (
        MockServer.running_in_thread(strict=False) as srv,
        xstream.Client(api_key="sk-test", base_url=srv.base_url) as client,
    ):
        srv.enqueue(Reply(text="", tool_calls=[ToolCallScript("slow", "{}")], delay=0.05))
        with client.chat.completions.run_tools(model="m", messages=[], tools=[slow]) as runner:
            for event in runner:
                if event.type == "tool_calls.function.arguments.done":
                    break
        assert started.wait(2) and cancelled.wait(2)


def test_a_tool_needs_annotations() -> None:
    def untyped(x):  # type: ignore[no-untyped-def]
        return x

    with pytest.raises(TypeError, match="no type annotation"):
        xstream.tool_from_function(untyped)


# -- the Responses API ----------------------------------------------------------------------


async def test_responses_stream_with_text_format(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(text='{"name": "Kyiv", "population": 3000000}', chunk_size=5))
    async with client.responses.stream(model="grok-4", input="hi", text_format=City) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert "response.output_text.delta" in kinds and kinds[-1] == "response.completed"
    assert final.output_parsed == City("Kyiv", 3000000)
    assert final.output_text == '{"name": "Kyiv", "population": 3000000}'
    assert final.raw is not None  # still the server's JSON
    fmt = server.requests[0].json["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["name"] == "City" and fmt["strict"] is True


async def test_responses_parse_and_its_errors(
    server: MockServer, client: xstream.AsyncClient
) -> None:
    server.enqueue(Reply(text='{"x": 0.5, "y": 1}'), Reply(text="{oops"))
    parsed = await client.responses.parse(model="grok-4", input="hi", text_format=Point)
    assert parsed.output_parsed == Point(0.5, 1.0)
    with pytest.raises(xstream.OutputValidationError) as caught:
        await client.responses.parse(model="grok-4", input="hi", text_format=Point)
    assert caught.value.content == "{oops"


def test_sync_responses_stream_with_text_format() -> None:
    with (
        MockServer.running_in_thread(strict=False) as srv,
        xstream.Client(api_key="sk-test", base_url=srv.base_url) as client,
    ):
        srv.enqueue(Reply(text='{"left": "l", "right": "r"}', chunk_size=3))
        with client.responses.stream(model="grok-4", input="hi", text_format=Pair) as stream:
            deltas = [e for e in stream if e.type == "response.output_text.delta"]
            final = stream.get_final_response()
    assert len(deltas) > 3
    assert final.output_parsed == {"left": "l", "right": "r"}
