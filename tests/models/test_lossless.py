"""Payloads lose nothing: any key at any depth comes back from ``to_dict()`` as sent,
the relay's bytes are the server's, and the typed events add up to the completion."""

from __future__ import annotations

import itertools
import json
import pickle
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xstream
from tests.conftest import KEY
from xstream._models.chat import (
    ChatCompletionChunk,
    ChoiceDelta,
    Usage,
    decode_chunk,
    decode_completion,
)
from xstream._protocol.chat_state import ChatCompletionStreamState
from xstream.testing import MockServer, Reply

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
# Keys no Struct declares (a declared key with a value of another type is malformed).
extra_keys = st.dictionaries(st.text(max_size=8).map(lambda k: "x_" + k), json_values, max_size=3)


@st.composite
def chunk_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A chunk as some provider might send it, with extra keys anywhere."""

    def extra() -> dict[str, Any]:
        return draw(extra_keys)

    function = {"name": "f", "arguments": draw(st.text(max_size=10)), **extra()}
    call = {"index": 0, "id": "call_1", "type": "function", "function": function, **extra()}
    delta: dict[str, Any] = {"role": "assistant", **extra()}
    content = draw(
        st.none()
        | st.text(max_size=10)
        | st.lists(
            st.sampled_from(
                [
                    {"type": "text", "text": "a"},
                    {"type": "thinking", "thinking": [{"type": "text", "text": "t"}]},
                    {"type": "image_url", "image_url": {"url": "u"}},
                ]
            ),
            max_size=3,
        )
    )
    if draw(st.booleans()):
        delta["content"] = content
    if draw(st.booleans()):
        delta["tool_calls"] = [call]
    if draw(st.booleans()):
        annotation = {"type": "url_citation", "url_citation": {"url": "u", **extra()}, **extra()}
        delta["annotations"] = [annotation]
    choice = {"index": 0, "delta": delta, "finish_reason": draw(st.none() | st.just("stop"))}
    choice.update(extra())
    chunk: dict[str, Any] = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [choice],
        **extra(),
    }
    if draw(st.booleans()):
        chunk["usage"] = {
            "prompt_tokens": 1,
            "completion_tokens": 2,
            "total_tokens": 3,
            "prompt_tokens_details": {"cached_tokens": 0, **extra()},
            "completion_tokens_details": {"reasoning_tokens": 1, **extra()},
            **extra(),
        }
    return chunk


@given(chunk_objects())
@settings(max_examples=300)
def test_any_chunk_comes_back_from_to_dict_as_sent(sent: dict[str, Any]) -> None:
    raw = json.dumps(sent).encode()
    chunk = decode_chunk(raw)
    if chunk._kept:  # something was kept: the server's JSON, exactly
        assert chunk.to_dict() == sent
        assert json.loads(chunk.to_json()) == sent
    else:  # every key declared: the same, but for keys sent as null
        assert chunk.to_dict() == without_nulls(sent)
    # what was kept is where it was sent
    top = {k: v for k, v in sent.items() if k.startswith("x_")}
    assert chunk.extra_fields == top
    delta = sent["choices"][0]["delta"]
    assert chunk.choices[0].delta.extra_fields == {k: v for k, v in delta.items() if k[:2] == "x_"}
    if "usage" in sent:
        assert chunk.usage is not None
        details = sent["usage"]["prompt_tokens_details"]
        assert chunk.usage.prompt_tokens_details is not None
        for key, value in details.items():
            assert getattr(chunk.usage.prompt_tokens_details, key) == value


@given(chunk_objects())
@settings(max_examples=100)
def test_kept_payloads_encode_pickle_and_compare_as_their_fields(sent: dict[str, Any]) -> None:
    chunk = decode_chunk(json.dumps(sent).encode())
    encoded = msgspec.json.decode(msgspec.json.encode(chunk))
    assert not any(k.startswith("x_") for k in encoded)  # the typed view only
    assert "\x00" not in json.dumps(encoded)
    assert isinstance(chunk, ChatCompletionChunk)
    assert pickle.loads(pickle.dumps(chunk)).to_dict() == chunk.to_dict()
    again = msgspec.json.decode(msgspec.json.encode(chunk), type=ChatCompletionChunk)
    assert msgspec.json.decode(msgspec.json.encode(again)) == encoded
    assert (chunk == again) is not chunk._kept  # what was kept counts


def without_nulls(value: Any) -> Any:
    """``value`` (JSON) without its ``null`` members, at every depth."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def test_an_empty_key_is_kept_too() -> None:
    chunk = decode_chunk(b'{"id":"c","choices":[],"":1}')
    assert chunk.extra_fields == {"": 1}
    assert chunk.to_dict() == {"id": "c", "choices": [], "": 1}


def test_a_key_named_like_a_method_is_kept_without_hiding_it() -> None:
    chunk = decode_chunk(b'{"id":"c","choices":[],"to_dict":1,"extra_fields":2}')
    assert chunk.extra_fields == {"to_dict": 1, "extra_fields": 2}
    assert chunk.to_dict() == {"id": "c", "choices": [], "to_dict": 1, "extra_fields": 2}


def test_a_wrong_type_inside_a_kept_payload_says_where() -> None:
    raw = b'{"choices":[{"index":0,"x":1,"delta":{"content":5}}]}'
    try:
        decode_chunk(raw)
    except msgspec.ValidationError as exc:
        assert "$.choices[0].delta" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("decoded")


def test_a_completion_keeps_unknown_keys_and_parts() -> None:
    sent = {
        "id": "x",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "A"}],
                    "x": 1,
                },
            }
        ],
    }
    completion = decode_completion(json.dumps(sent).encode())
    message = completion.choices[0].message
    assert (message.content, message.content_parts, message.extra_fields) == (
        "A",
        ({"type": "text", "text": "A"},),
        {"x": 1},
    )
    assert completion.to_dict() == sent


def test_constructed_payloads_have_nothing_kept() -> None:
    assert ChoiceDelta(content="a").extra_fields == {}
    assert ChoiceDelta(content="a").content_parts is None
    assert Usage(prompt_tokens=1).to_dict() == {
        "prompt_tokens": 1,
        "completion_tokens": 0,
        "total_tokens": 0,
    }


# -- the relay ------------------------------------------------------------------------------


def test_the_relays_bytes_are_the_upstreams_data_lines() -> None:
    with (
        MockServer.running_in_thread() as srv,
        xstream.Client(api_key=KEY, base_url=srv.base_url) as client,
    ):

        @given(st.lists(chunk_objects(), min_size=1, max_size=4))
        @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        def relay_is_exact(chunks: list[dict[str, Any]]) -> None:
            body = b"".join(
                b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n" for c in chunks
            )
            body += b"data: [DONE]\n\n"
            srv.enqueue(Reply(body=body, content_type="text/event-stream"))
            stream = client.chat.completions.create(
                model="grok-4", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            assert b"".join(stream.to_sse()) == body

        relay_is_exact()


# -- events hold to the completion ----------------------------------------------------------


@st.composite
def split_streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Content and tool calls, cut into pieces, the pieces grouped into chunks at
    random, the finish anywhere from the last piece's chunk to absent."""
    pieces: list[dict[str, Any]] = []
    text = draw(st.text(max_size=12))
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=3)))
    bounds = [0, *cuts, len(text)]
    pieces += [{"content": text[a:b]} for a, b in itertools.pairwise(bounds) if b > a]
    for i in range(draw(st.integers(0, 3))):
        args = json.dumps({"n": i, "s": draw(st.text(max_size=6))})
        cut = draw(st.integers(0, len(args)))
        head = {"index": i, "id": f"call_{i}", "type": "function"}
        head["function"] = {"name": f"f{i}", "arguments": args[:cut]}
        pieces.append({"tool_calls": [head]})
        if cut < len(args):
            pieces.append({"tool_calls": [{"index": i, "function": {"arguments": args[cut:]}}]})
    groups: list[list[dict[str, Any]]] = []
    for piece in pieces:
        # pieces of the same kind may share a chunk only when they are both calls
        same = groups and draw(st.booleans()) and "tool_calls" in piece
        if same and "tool_calls" in groups[-1][-1]:
            groups[-1].append(piece)
        else:
            groups.append([piece])
    chunks: list[dict[str, Any]] = []
    for group in groups:
        delta: dict[str, Any] = {}
        for piece in group:
            if "content" in piece:
                delta["content"] = delta.get("content", "") + piece["content"]
            else:
                delta.setdefault("tool_calls", []).extend(piece["tool_calls"])
        chunks.append({"index": 0, "delta": delta})
    if not chunks:
        chunks.append({"index": 0, "delta": {"content": ""}})
    chunks[0]["delta"]["role"] = "assistant"
    finish = draw(st.sampled_from(["in_last", "own_chunk", "none"]))
    if finish == "in_last":
        chunks[-1]["finish_reason"] = "stop"
    elif finish == "own_chunk":
        chunks.append({"index": 0, "delta": {}, "finish_reason": "stop"})
    return [
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [c]}
        for c in chunks
    ]


@given(split_streams())
@settings(max_examples=300)
def test_every_tool_call_gets_its_done_event_wherever_it_arrives(
    chunks: list[dict[str, Any]],
) -> None:
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    events = list(state.iter_events(decode_chunk(json.dumps(c).encode()) for c in chunks))
    message = state.get_final_completion().choices[0].message
    calls = message.tool_calls or ()
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [(e.id, e.name, e.arguments) for e in done] == [
        (c.id, c.function.name, c.function.arguments) for c in calls
    ]
    deltas = [e for e in events if e.type == "tool_calls.function.arguments.delta"]
    for call in calls:  # every delta of a call comes before its done
        last_delta = max(
            i for i, e in enumerate(events) if e in deltas and e.name == call.function.name
        )
        first_done = next(
            i for i, e in enumerate(events) if e in done and e.name == call.function.name
        )
        assert last_delta < first_done
    text = "".join(e.delta for e in events if e.type == "content.delta")
    assert text == (message.content or "")
    finished = any(c["choices"][0].get("finish_reason") for c in chunks)
    content_done = [e.content for e in events if e.type == "content.done"]
    if finished and message.content:
        assert content_done == [message.content]
