"""The wire as sent: what providers put in their chunks reaches the user, whole.

Each scenario is a stream shaped as a provider documents it (written here from the
documented formats, not copied from anyone's fixtures), served byte for byte by a
real server on loopback and read three ways: the chunks (async and sync), the
merged completion, and the typed events of ``chat.completions.stream()``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import xstream
from tests.conftest import KEY
from tests.models.test_lossless import without_nulls
from xstream.testing import MockServer, Reply

Chunks = list[dict[str, Any]]


def _chunk(choices: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    return {
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "created": 1764800000,
        "model": "some/model",
        "choices": choices,
        **top,
    }


# OpenRouter: usage with cost and details no class declared before; a `provider` key on
# every chunk; `native_finish_reason` on the choice; `reasoning` deltas.
OPENROUTER: Chunks = [
    _chunk(
        [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": "", "reasoning": None},
                "finish_reason": None,
                "native_finish_reason": None,
                "logprobs": None,
            }
        ],
        provider="OpenAI",
    ),
    _chunk(
        [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": "Hello", "reasoning": None},
                "finish_reason": None,
                "native_finish_reason": None,
                "logprobs": None,
            }
        ],
        provider="OpenAI",
    ),
    _chunk(
        [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": " there"},
                "finish_reason": "stop",
                "native_finish_reason": "completed",
                "logprobs": None,
            }
        ],
        provider="OpenAI",
    ),
    _chunk(
        [],
        provider="OpenAI",
        usage={
            "prompt_tokens": 12,
            "completion_tokens": 2,
            "total_tokens": 14,
            "cost": 0.00042,
            "is_byok": False,
            "prompt_tokens_details": {
                "cached_tokens": 0,
                "cache_write_tokens": 8,
                "audio_tokens": 0,
            },
            "cost_details": {"upstream_inference_cost": None},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "image_tokens": 0,
                "video_tokens": 3,
            },
        },
    ),
]

# Mistral's reasoning models: content as a list of typed parts, thinking first.
MISTRAL: Chunks = [
    _chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]),
    _chunk(
        [
            {
                "index": 0,
                "delta": {
                    "content": [
                        {"type": "thinking", "thinking": [{"type": "text", "text": "Two "}]}
                    ]
                },
                "finish_reason": None,
            }
        ]
    ),
    _chunk(
        [
            {
                "index": 0,
                "delta": {
                    "content": [
                        {"type": "thinking", "thinking": [{"type": "text", "text": "and two."}]}
                    ]
                },
                "finish_reason": None,
            }
        ]
    ),
    _chunk(
        [
            {
                "index": 0,
                "delta": {"content": [{"type": "text", "text": "It is "}]},
                "finish_reason": None,
            }
        ]
    ),
    _chunk([{"index": 0, "delta": {"content": "four."}, "finish_reason": "stop"}]),
]

# OpenAI's search models: url_citation annotations on a delta near the end.
CITATION = {
    "type": "url_citation",
    "url_citation": {
        "url": "https://example.org/a",
        "title": "A",
        "start_index": 0,
        "end_index": 5,
    },
}
ANNOTATED: Chunks = [
    _chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]),
    _chunk([{"index": 0, "delta": {"content": "Paris"}, "finish_reason": None}]),
    _chunk([{"index": 0, "delta": {"annotations": [CITATION]}, "finish_reason": None}]),
    _chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
]

# A server that sends each tool call whole, in the chunk that finishes (Ollama, Gemini).
CALL = {
    "index": 0,
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    "extra_content": {"google": {"thought_signature": "sig=="}},
}
WHOLE_CALL: Chunks = [
    _chunk(
        [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": None, "tool_calls": [CALL]},
                "finish_reason": "tool_calls",
            }
        ]
    ),
]


def sse(chunks: Chunks) -> bytes:
    return (
        b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    )


def reply(chunks: Chunks) -> Reply:
    return Reply(body=sse(chunks), content_type="text/event-stream")


def check_openrouter(chunks: list[Any], completion: Any, usage: Any) -> None:
    assert chunks[0].provider == "OpenAI"  # typed: OpenRouter's chunks decode in one C call
    assert not any(c._kept for c in chunks[:3])
    assert chunks[2].choices[0].native_finish_reason == "completed"
    assert chunks[3].extra_fields == {}  # the usage keys are kept inside usage
    for u in (chunks[-1].usage, completion.usage, usage):
        assert u.cost == 0.00042
        assert u.is_byok is False
        assert u.cost_details == {"upstream_inference_cost": None}
        assert u.prompt_tokens_details.cache_write_tokens == 8
        assert u.completion_tokens_details.to_dict() == {
            "reasoning_tokens": 0,
            "image_tokens": 0,
            "video_tokens": 3,
        }
    assert completion.choices[0].message.content == "Hello there"
    assert completion.choices[0].native_finish_reason == "completed"
    assert completion.provider == "OpenAI"


def check_mistral(chunks: list[Any], completion: Any, usage: Any) -> None:
    assert [c.choices[0].delta.content for c in chunks] == ["", None, None, "It is ", "four."]
    assert chunks[1].choices[0].delta.reasoning_content == "Two "
    assert chunks[3].choices[0].delta.content_parts == ({"type": "text", "text": "It is "},)
    message = completion.choices[0].message
    assert message.content == "It is four."
    assert message.reasoning_content == "Two and two."
    assert message.content_parts is not None
    assert [p["type"] for p in message.content_parts] == ["thinking", "thinking", "text", "text"]


def check_annotated(chunks: list[Any], completion: Any, usage: Any) -> None:
    (annotation,) = completion.choices[0].message.annotations
    assert annotation.type == "url_citation"
    assert annotation.url_citation.url == "https://example.org/a"
    assert annotation.url_citation.end_index == 5
    assert annotation.to_dict() == CITATION


def check_whole_call(chunks: list[Any], completion: Any, usage: Any) -> None:
    (call,) = completion.choices[0].message.tool_calls
    assert call.function.arguments == '{"city":"Paris"}'
    assert call.extra_content == {"google": {"thought_signature": "sig=="}}
    assert completion.choices[0].finish_reason == "tool_calls"


SCENARIOS = {
    "openrouter_usage": (OPENROUTER, check_openrouter),
    "mistral_parts": (MISTRAL, check_mistral),
    "openai_annotations": (ANNOTATED, check_annotated),
    "tool_call_in_the_finish_chunk": (WHOLE_CALL, check_whole_call),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_async_chunks_and_completion_keep_what_was_sent(name: str) -> None:
    chunks_json, check = SCENARIOS[name]
    async with MockServer() as srv:
        srv.enqueue(reply(chunks_json))
        async with xstream.AsyncClient(api_key=KEY, base_url=srv.base_url) as client:
            stream = await client.chat.completions.create(
                model="grok-4", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            chunks = [c async for c in stream]
            completion = await stream.get_final_completion()
            check(chunks, completion, stream.stats.usage or completion.usage)
            for chunk, sent in zip(chunks, chunks_json, strict=True):
                # The server's JSON when anything was kept; else the keys set (no nulls).
                assert chunk.to_dict() == (sent if chunk._kept else without_nulls(sent))


@pytest.fixture
def threaded_server() -> Iterator[MockServer]:
    with MockServer.running_in_thread() as srv:
        yield srv


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_sync_chunks_and_completion_keep_what_was_sent(
    name: str, threaded_server: MockServer
) -> None:
    chunks_json, check = SCENARIOS[name]
    threaded_server.enqueue(reply(chunks_json))
    with xstream.Client(api_key=KEY, base_url=threaded_server.base_url) as client:
        stream = client.chat.completions.create(
            model="grok-4", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = list(stream)
        completion = stream.get_final_completion()
        check(chunks, completion, stream.stats.usage or completion.usage)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_events_and_their_final_completion_keep_what_was_sent(name: str) -> None:
    chunks_json, check = SCENARIOS[name]
    async with MockServer() as srv:
        srv.enqueue(reply(chunks_json))
        async with (
            xstream.AsyncClient(api_key=KEY, base_url=srv.base_url) as client,
            client.chat.completions.stream(
                model="grok-4", messages=[{"role": "user", "content": "hi"}]
            ) as stream,
        ):
            events = [e async for e in stream]
            completion = await stream.get_final_completion()
    chunks = [e.chunk for e in events if e.type == "chunk"]
    check(chunks, completion, completion.usage)
    kinds = [e.type for e in events]
    if name == "mistral_parts":
        reasoning = [e.delta for e in events if e.type == "reasoning.delta"]
        assert reasoning == ["Two ", "and two."]
        assert kinds.index("reasoning.done") < kinds.index("content.done")
    if name == "tool_call_in_the_finish_chunk":
        (done,) = [e for e in events if e.type == "tool_calls.function.arguments.done"]
        assert (done.name, done.arguments, done.id) == ("get_weather", '{"city":"Paris"}', "call_1")


def test_sync_events_close_a_call_in_the_finish_chunk(threaded_server: MockServer) -> None:
    threaded_server.enqueue(reply(WHOLE_CALL))
    with (
        xstream.Client(api_key=KEY, base_url=threaded_server.base_url) as client,
        client.chat.completions.stream(
            model="grok-4", messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        kinds = [e.type for e in stream]
    assert kinds.count("tool_calls.function.arguments.done") == 1


async def test_a_call_with_no_finish_is_done_when_the_stream_completes() -> None:
    unfinished = [_chunk([{"index": 0, "delta": {"role": "assistant", "tool_calls": [CALL]}}])]
    async with MockServer() as srv:
        srv.enqueue(reply(unfinished))
        async with (
            xstream.AsyncClient(api_key=KEY, base_url=srv.base_url) as client,
            client.chat.completions.stream(
                model="grok-4", messages=[{"role": "user", "content": "hi"}]
            ) as stream,
        ):
            kinds = [e.type async for e in stream]
    assert kinds[-1] == "tool_calls.function.arguments.done"


async def test_the_relay_passes_the_servers_data_unchanged() -> None:
    body = sse(OPENROUTER)
    async with MockServer() as srv:
        srv.enqueue(Reply(body=body, content_type="text/event-stream"))
        async with xstream.AsyncClient(api_key=KEY, base_url=srv.base_url) as client:
            stream = await client.chat.completions.create(
                model="grok-4", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            relayed = b"".join([piece async for piece in stream.to_sse()])
    assert relayed == body
    assert b'"error"' not in relayed  # no key the server did not send


def test_the_sync_relay_passes_the_servers_data_unchanged(threaded_server: MockServer) -> None:
    body = sse(MISTRAL)
    threaded_server.enqueue(Reply(body=body, content_type="text/event-stream"))
    with xstream.Client(api_key=KEY, base_url=threaded_server.base_url) as client:
        stream = client.chat.completions.create(
            model="grok-4", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert b"".join(stream.to_sse()) == body


async def test_the_events_relay_passes_the_servers_data_unchanged() -> None:
    body = sse(ANNOTATED)
    async with MockServer() as srv:
        srv.enqueue(Reply(body=body, content_type="text/event-stream"))
        async with (
            xstream.AsyncClient(api_key=KEY, base_url=srv.base_url) as client,
            client.chat.completions.stream(
                model="grok-4", messages=[{"role": "user", "content": "hi"}]
            ) as stream,
        ):
            relayed = b"".join([piece async for piece in stream.to_sse()])
    assert relayed == body


async def test_a_non_streamed_completion_keeps_what_was_sent() -> None:
    sent = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "Hi"}],
                    "annotations": [CITATION],
                },
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2, "cost": 1e-05},
        "provider": "Mistral",
    }
    async with MockServer() as srv:
        srv.enqueue(Reply(body=json.dumps(sent), content_type="application/json"))
        async with xstream.AsyncClient(api_key=KEY, base_url=srv.base_url) as client:
            completion = await client.chat.completions.create(
                model="grok-4", messages=[{"role": "user", "content": "hi"}]
            )
    assert completion.choices[0].message.content == "Hi"
    assert completion.usage is not None
    assert completion.usage.cost == 1e-05
    assert completion.to_dict() == sent


async def test_a_message_sent_back_keeps_its_tool_calls_extra_keys() -> None:
    """Gemini wants a tool call's thought signature back with the call."""
    async with MockServer() as srv:
        srv.enqueue(reply(WHOLE_CALL))
        srv.enqueue(Reply(text="done"))
        async with xstream.AsyncClient(api_key=KEY, base_url=srv.base_url) as client:
            stream = await client.chat.completions.create(
                model="grok-4", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            message = (await stream.get_final_completion()).choices[0].message
            await client.chat.completions.create(
                model="grok-4", messages=[{"role": "user", "content": "hi"}, message]
            )
        sent = srv.requests[-1].json["messages"][1]
    assert sent["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "sig=="}}
    assert "annotations" not in sent


async def test_the_responses_relay_passes_the_servers_events_unchanged() -> None:
    response = {"id": "resp_1", "object": "response", "status": "in_progress", "output": []}
    done = {**response, "status": "completed", "x_note": None}
    events = [
        ("response.created", {"type": "response.created", "response": response}),
        (
            "response.output_text.delta",
            {
                "type": "response.output_text.delta",
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": "Hi",
                "logprobs": [],
                "obfuscation": "xyz",
                "sequence_number": 1,
            },
        ),
        ("response.completed", {"type": "response.completed", "response": done}),
    ]
    body = b"".join(
        b"event: " + name.encode() + b"\ndata: " + json.dumps(data).encode() + b"\n\n"
        for name, data in events
    )
    async with MockServer() as srv:
        srv.enqueue(Reply(body=body, content_type="text/event-stream"))
        async with xstream.AsyncClient(api_key=KEY, base_url=srv.base_url) as client:
            stream = await client.responses.create(model="grok-4", input="hi", stream=True)
            relayed = b"".join([piece async for piece in stream.to_sse()])
    assert relayed == body


async def test_a_typed_event_streams_relay_passes_the_servers_data_unchanged() -> None:
    class Tick(msgspec.Struct):
        n: int

    body = b'event: tick\ndata: {"n": 1, "note": "not in Tick"}\n\nevent: tick\ndata: {"n":2}\n\n'
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(body=body, content_type="text/event-stream"))
        async with xstream.AsyncClient(api_key=KEY, base_url=srv.base_url) as client:
            stream = await client.sse("POST", "/chat/completions", json={}, type=Tick)
            relayed = b"".join([piece async for piece in stream.to_sse()])
    assert relayed == body


def test_the_readmes_example_runs_as_pasted_and_prints_what_it_says() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## What the server sent, all of it") :]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    said = section.split("prints `", 1)[1].split("`", 2)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [said[0], said[2].split("`")[0]]
