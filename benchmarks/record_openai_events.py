"""Record what the OpenAI SDK's ``chat.completions.stream()`` makes of a set of streams.

The streams are the built-in server's scripted replies (plain text, a refusal,
two parallel tool calls, structured output, ``n=2``) plus one stream with
logprobs. Each stream's exact bytes are captured once and replayed to the OpenAI
SDK; its events are written down as they are handed out (``model_dump`` at that
moment: its snapshots are updated in place later). ``tests/test_chat_events.py``
replays the same bytes to xstream and asserts the same events.

Needs the bench extra (``pip install -e '.[bench]'``); the tests do not::

    python -m benchmarks.record_openai_events   # rewrites tests/data/openai_stream_events.json
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from xstream.testing import MockServer, Reply, ToolCallScript

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "openai_stream_events.json"

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["city", "days"],
    "additionalProperties": False,
}
ANSWER = (
    '{"title": "Trip \\"plan\\" \\u00e9t\\u00e9", "stops": [{"city": "Paris", "nights": 3}, '
    '{"city": "Lyon", "nights": 2}], "budget": 1234.5, "confirmed": true, "notes": null}'
)

# name -> (Reply, request parameters besides model and messages, openai parameters)
SCENARIOS: dict[str, tuple[Reply, dict[str, Any]]] = {
    "plain_text": (Reply(text="Hello, streaming world!", chunk_size=3), {}),
    "refusal": (Reply(refusal="I'm sorry, I can't help with that.", chunk_size=5), {}),
    "parallel_tool_calls": (
        Reply(
            text="",
            tool_calls=[
                ToolCallScript("get_weather", '{"city": "Paris", "days": [1, 2]}', id="call_a"),
                ToolCallScript("get_weather", '{"city": "Tokyo", "days": [3]}', id="call_b"),
            ],
            chunk_size=7,
        ),
        {"tools": "weather"},
    ),
    "structured_output": (Reply(text=ANSWER, chunk_size=9), {"response_format": "trip"}),
    "n_2": (Reply(text="Two answers, one stream.", chunk_size=4), {"n": 2}),
}


async def _capture(reply: Reply, params: dict[str, Any]) -> bytes:
    """The exact body the built-in server sends for ``reply``."""
    body = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    if "n" in params:
        body["n"] = params["n"]
    async with MockServer(strict=False) as srv, aiohttp.ClientSession() as session:
        srv.enqueue(reply)
        async with session.post(srv.base_url + "/chat/completions", json=body) as response:
            return await response.read()


def _logprobs_stream() -> bytes:
    """A stream with content logprobs (the built-in server does not make them)."""

    def chunk(delta: dict[str, Any], tokens: list[str] | None, finish: str | None = None) -> str:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
        if tokens is not None:
            choice["logprobs"] = {
                "content": [
                    {
                        "token": t,
                        "logprob": -0.25 * (i + 1),
                        "bytes": list(t.encode()),
                        "top_logprobs": [],
                    }
                    for i, t in enumerate(tokens)
                ],
                "refusal": None,
            }
        payload = {
            "id": "chatcmpl-logprobs",
            "object": "chat.completion.chunk",
            "created": 1760000000,
            "model": "grok-4",
            "choices": [choice],
        }
        return "data: " + json.dumps(payload) + "\n\n"

    body = chunk({"role": "assistant", "content": "Hi"}, ["Hi"])
    body += chunk({"content": " there"}, [" there"])
    body += chunk({"content": "!"}, ["!"])
    body += chunk({}, None, "stop")
    return (body + "data: [DONE]\n\n").encode()


def _serve(bodies: dict[str, bytes]) -> tuple[str, Any]:
    """Serve each recorded body at /<name>/chat/completions, on a thread."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(bodies[request.match_info["name"]])
        await response.write_eof()
        return response

    ready = threading.Event()
    state: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/{name}/chat/completions", handler)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        state["port"] = runner.addresses[0][1]
        state["loop"] = loop
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait()
    return f"http://127.0.0.1:{state['port']}", state["loop"]


def _record_openai(base: str, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    import openai
    import pydantic

    class Stop(pydantic.BaseModel):
        city: str
        nights: int

    class Trip(pydantic.BaseModel):
        title: str
        stops: list[Stop]
        budget: float
        confirmed: bool
        notes: str | None

    client = openai.OpenAI(api_key="sk-test", base_url=f"{base}/{name}", max_retries=0)
    kwargs: dict[str, Any] = {}
    if params.get("tools") == "weather":
        kwargs["tools"] = [
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": True},
            }
        ]
    if params.get("response_format") == "trip":
        kwargs["response_format"] = Trip
    if "n" in params:
        kwargs["n"] = params["n"]
    events = []
    with client.chat.completions.stream(
        model="grok-4", messages=[{"role": "user", "content": "hi"}], **kwargs
    ) as stream:
        for event in stream:
            events.append(event.model_dump(mode="json"))
        final = stream.get_final_completion().model_dump(mode="json")
    return [*events, {"type": "final", "completion": final}]


def _trailing(events: list[dict[str, Any]], typed: bool) -> None:
    """Add, next to each partial ``parsed`` / ``parsed_arguments``, the object with its
    open string filled as far as it arrived (jiter's ``trailing-strings``): xstream's."""
    from jiter import from_json

    done = False
    for event in events:
        if event["type"] == "content.done":
            done = True
        # (the OpenAI SDK also leaves the stream's first chunk unparsed: None there)
        if event["type"] == "content.delta" and typed and event["snapshot"].strip():
            event["parsed_trailing_strings"] = from_json(
                event["snapshot"].encode(), partial_mode="trailing-strings"
            )
        if event["type"] == "tool_calls.function.arguments.delta" and event["arguments"]:
            event["parsed_arguments_trailing_strings"] = from_json(
                event["arguments"].encode(), partial_mode="trailing-strings"
            )
        if event["type"] == "chunk":
            for choice in event["snapshot"]["choices"]:
                message = choice["message"]
                if not done and typed and (message.get("content") or "").strip():
                    message["parsed_trailing_strings"] = from_json(
                        message["content"].encode(), partial_mode="trailing-strings"
                    )
                for call in message.get("tool_calls") or ():
                    function = call["function"]
                    if function.get("parsed_arguments") is not None and function["arguments"]:
                        function["parsed_arguments_trailing_strings"] = from_json(
                            function["arguments"].encode(), partial_mode="trailing-strings"
                        )


def main() -> None:
    bodies = {
        name: asyncio.run(_capture(reply, params)) for name, (reply, params) in SCENARIOS.items()
    }
    bodies["logprobs"] = _logprobs_stream()
    base, _loop = _serve(bodies)
    record: dict[str, Any] = {}
    for name, body in bodies.items():
        params = SCENARIOS[name][1] if name in SCENARIOS else {}
        events = _record_openai(base, name, params)
        _trailing(events, typed="response_format" in params)
        record[name] = {"params": params, "body": body.decode(), "events": events}
    import openai

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps({"openai_version": openai.__version__, "scenarios": record}, indent=1) + "\n"
    )
    print(f"wrote {OUT} ({sum(len(r['events']) for r in record.values())} events)")


if __name__ == "__main__":
    main()
