"""Merging a stream's chunks into one ChatCompletion, and parsing tool arguments."""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xstream._exceptions import XStreamError
from xstream._models.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChoiceDelta,
    ChoiceLogprobs,
    ChunkChoice,
    Function,
    FunctionDelta,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    Usage,
    decode_chunk,
    encode_request,
)
from xstream._protocol.accumulate import (
    _BLOCK,
    ChatCompletionAccumulator,
    ToolArgumentsError,
    parse_tool_arguments,
)


def delta_chunk(
    index: int = 0, finish_reason: str | None = None, **delta: Any
) -> ChatCompletionChunk:
    return ChatCompletionChunk(
        id="chatcmpl-1",
        created=1730000000,
        model="grok-2-latest",
        choices=(
            ChunkChoice(index=index, delta=ChoiceDelta(**delta), finish_reason=finish_reason),
        ),
    )


def call_delta(
    index: int,
    arguments: str,
    *,
    id: str | None = None,
    name: str | None = None,
) -> ToolCallDelta:
    return ToolCallDelta(
        index=index,
        id=id,
        type="function" if id else None,
        function=FunctionDelta(name=name, arguments=arguments),
    )


def accumulate(chunks: list[ChatCompletionChunk]) -> ChatCompletion:
    acc = ChatCompletionAccumulator()
    for c in chunks:
        acc.add(c)
    return acc.result()


def test_no_chunks_gives_an_empty_completion() -> None:
    acc = ChatCompletionAccumulator()
    assert acc.chunks_added == 0
    assert acc.result() == ChatCompletion()
    assert acc.result().choices == ()


def test_simple_text() -> None:
    chunks = [
        delta_chunk(role="assistant", content=""),
        delta_chunk(content="Hel"),
        delta_chunk(content="lo"),
        delta_chunk(content=None),
        delta_chunk(finish_reason="stop"),
    ]
    acc = ChatCompletionAccumulator()
    for c in chunks:
        acc.add(c)
    assert acc.chunks_added == 5
    result = acc.result()
    assert (result.id, result.model, result.created) == ("chatcmpl-1", "grok-2-latest", 1730000000)
    assert result.object == "chat.completion"
    [choice] = result.choices
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello"
    assert choice.message.reasoning_content is None
    assert choice.message.refusal is None
    assert choice.message.tool_calls is None
    assert choice.logprobs is None


def test_result_is_repeatable_and_callable_midway() -> None:
    acc = ChatCompletionAccumulator()
    acc.add(delta_chunk(content="a"))
    acc.add(delta_chunk(content="b"))
    assert acc.result().choices[0].message.content == "ab"
    assert acc.result().choices[0].message.content == "ab"
    acc.add(delta_chunk(content="c"))
    assert acc.result().choices[0].message.content == "abc"
    assert acc.result() == acc.result()


def test_no_content_pieces_means_none_not_empty() -> None:
    result = accumulate(
        [delta_chunk(role="assistant"), delta_chunk(content=""), delta_chunk(finish_reason="stop")]
    )
    message = result.choices[0].message
    assert (message.content, message.reasoning_content, message.refusal) == (None, None, None)
    assert message.tool_calls is None


def test_first_nonempty_id_model_created() -> None:
    chunks = [
        ChatCompletionChunk(choices=(ChunkChoice(delta=ChoiceDelta(content="a")),)),
        ChatCompletionChunk(id="first", model="m1", created=1),
        ChatCompletionChunk(id="second", model="m2", created=2),
    ]
    result = accumulate(chunks)
    assert (result.id, result.model, result.created) == ("first", "m1", 1)


def test_two_interleaved_choices() -> None:
    chunks = [
        delta_chunk(0, role="assistant"),
        delta_chunk(1, role="assistant"),
        delta_chunk(1, content="Bon"),
        delta_chunk(0, content="Hel"),
        delta_chunk(1, content="jour"),
        delta_chunk(0, content="lo"),
        delta_chunk(1, finish_reason="length"),
        delta_chunk(0, finish_reason="stop"),
    ]
    result = accumulate(chunks)
    assert [c.index for c in result.choices] == [0, 1]
    assert [c.message.content for c in result.choices] == ["Hello", "Bonjour"]
    assert [c.finish_reason for c in result.choices] == ["stop", "length"]


def test_choices_ordered_by_index_not_arrival() -> None:
    result = accumulate(
        [delta_chunk(2, content="c"), delta_chunk(0, content="a"), delta_chunk(1, content="b")]
    )
    assert [(c.index, c.message.content) for c in result.choices] == [(0, "a"), (1, "b"), (2, "c")]


def test_several_choices_in_one_chunk() -> None:
    chunk = decode_chunk(
        b'{"id":"x","choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}'
    )
    result = accumulate([chunk, chunk])
    assert [c.message.content for c in result.choices] == ["aa", "bb"]


def split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def test_two_parallel_tool_calls_split_into_many_pieces() -> None:
    weather = '{"city": "Paris", "unit": "celsius", "days": [1, 2, 3]}'
    time_ = '{"tz": "Europe/Paris — Heure d\'été"}'
    chunks = [delta_chunk(role="assistant", content=None)]
    chunks.append(delta_chunk(tool_calls=(call_delta(0, "", id="call_w", name="get_weather"),)))
    for piece in split(weather, 3):
        chunks.append(delta_chunk(tool_calls=(call_delta(0, piece),)))
    chunks.append(delta_chunk(tool_calls=(call_delta(1, "", id="call_t", name="get_time"),)))
    for piece in split(time_, 2):
        chunks.append(delta_chunk(tool_calls=(call_delta(1, piece),)))
    chunks.append(delta_chunk(finish_reason="tool_calls"))
    result = accumulate(chunks)
    [choice] = result.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls == (
        ToolCall(
            id="call_w", type="function", function=Function(name="get_weather", arguments=weather)
        ),
        ToolCall(id="call_t", type="function", function=Function(name="get_time", arguments=time_)),
    )


def test_tool_call_pieces_interleaved_in_one_chunk() -> None:
    chunks = [
        delta_chunk(
            tool_calls=(
                call_delta(0, '{"a"', id="c0", name="f"),
                call_delta(1, '{"b"', id="c1", name="g"),
            )
        ),
        delta_chunk(tool_calls=(call_delta(1, ": 2}"), call_delta(0, ": 1}"))),
    ]
    calls = accumulate(chunks).choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("c0", "f", {"a": 1}),
        ("c1", "g", {"b": 2}),
    ]


def test_tool_call_id_and_name_taken_once() -> None:
    # Some servers repeat id/name (or send "") on every delta: not concatenated.
    chunks = [
        delta_chunk(tool_calls=(call_delta(0, "{", id="call_1", name="f"),)),
        delta_chunk(tool_calls=(call_delta(0, "}", id="call_1", name="f"),)),
        delta_chunk(
            tool_calls=(
                ToolCallDelta(index=0, id="", function=FunctionDelta(name="", arguments="")),
            )
        ),
    ]
    calls = accumulate(chunks).choices[0].message.tool_calls
    assert calls == (ToolCall(id="call_1", function=Function(name="f", arguments="{}")),)


def test_tool_calls_with_distinct_ids_at_the_same_index_stay_apart() -> None:
    # Servers that send each call whole, all with index 0 (or none).
    chunks = [
        delta_chunk(tool_calls=(call_delta(0, '{"x":1}', id="call_a", name="f"),)),
        delta_chunk(tool_calls=(call_delta(0, '{"y":2}', id="call_b", name="g"),)),
    ]
    calls = accumulate(chunks).choices[0].message.tool_calls
    assert calls == (
        ToolCall(id="call_a", function=Function(name="f", arguments='{"x":1}')),
        ToolCall(id="call_b", function=Function(name="g", arguments='{"y":2}')),
    )


def test_tool_call_without_function_or_type() -> None:
    calls = (
        accumulate([delta_chunk(tool_calls=(ToolCallDelta(index=0, id="c"),))])
        .choices[0]
        .message.tool_calls
    )
    assert calls == (ToolCall(id="c", type="function", function=Function(name="", arguments="")),)


def test_reasoning_content_and_content() -> None:
    chunks = [
        delta_chunk(role="assistant", reasoning_content="The user "),
        delta_chunk(reasoning_content="says hi."),
        delta_chunk(content="Hi"),
        delta_chunk(content="!", finish_reason="stop"),
    ]
    message = accumulate(chunks).choices[0].message
    assert message.reasoning_content == "The user says hi."
    assert message.content == "Hi!"


def test_refusal() -> None:
    message = (
        accumulate([delta_chunk(refusal="I can't "), delta_chunk(refusal="help.")])
        .choices[0]
        .message
    )
    assert message.refusal == "I can't help."
    assert message.content is None


def test_role_first_finish_reason_last() -> None:
    chunks = [
        delta_chunk(role="assistant"),
        delta_chunk(role="other", finish_reason="length"),
        delta_chunk(finish_reason="stop"),
        delta_chunk(),
    ]
    choice = accumulate(chunks).choices[0]
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"


def test_usage_only_last_chunk() -> None:
    usage = Usage(prompt_tokens=5, completion_tokens=2, total_tokens=7, num_sources_used=1)
    chunks = [
        delta_chunk(role="assistant", content="Hi"),
        delta_chunk(finish_reason="stop"),
        decode_chunk(
            b'{"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,'
            b'"total_tokens":7,"num_sources_used":1},"citations":["https://x.ai"],'
            b'"system_fingerprint":"fp_1"}'
        ),
    ]
    result = accumulate(chunks)
    assert result.usage == usage
    assert result.citations == ("https://x.ai",)
    assert result.system_fingerprint == "fp_1"
    assert result.choices[0].message.content == "Hi"
    assert result.choices[0].finish_reason == "stop"


def test_usage_chunk_with_empty_delta_changes_nothing() -> None:
    chunks = [
        delta_chunk(content="Hi", finish_reason="stop"),
        decode_chunk(
            b'{"choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'
        ),
    ]
    result = accumulate(chunks)
    assert result.choices[0].message.content == "Hi"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.total_tokens == 2


def test_last_non_none_usage_fingerprint_citations() -> None:
    first = Usage(total_tokens=1)
    last = Usage(total_tokens=2)
    chunks = [
        ChatCompletionChunk(usage=first, system_fingerprint="a", citations=("x",)),
        ChatCompletionChunk(usage=last, system_fingerprint="b", citations=("y",)),
        ChatCompletionChunk(),
    ]
    result = accumulate(chunks)
    assert (result.usage, result.system_fingerprint, result.citations) == (last, "b", ("y",))


def test_logprobs_concatenated() -> None:
    def lp(*tokens: str) -> tuple[TokenLogprob, ...]:
        return tuple(TokenLogprob(token=t, logprob=-1.0) for t in tokens)

    chunks = [
        ChatCompletionChunk(
            choices=(
                ChunkChoice(
                    delta=ChoiceDelta(content="ab"), logprobs=ChoiceLogprobs(content=lp("a", "b"))
                ),
            )
        ),
        ChatCompletionChunk(choices=(ChunkChoice(delta=ChoiceDelta(content="c"), logprobs=None),)),
        ChatCompletionChunk(
            choices=(
                ChunkChoice(
                    delta=ChoiceDelta(content="c"), logprobs=ChoiceLogprobs(content=lp("c"))
                ),
            )
        ),
        ChatCompletionChunk(
            choices=(
                ChunkChoice(
                    delta=ChoiceDelta(refusal="no"), logprobs=ChoiceLogprobs(refusal=lp("no"))
                ),
            )
        ),
    ]
    logprobs = accumulate(chunks).choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content == lp("a", "b", "c")
    assert logprobs.refusal == lp("no")


@given(st.text(), st.data())
def test_any_split_of_text_accumulates_back(text: str, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=len(text) + 1)))
    bounds = [0, *cuts, len(text)]
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    acc = ChatCompletionAccumulator()
    for piece in pieces:
        acc.add(delta_chunk(content=piece))
    content = acc.result().choices[0].message.content
    assert content == (text or None)


@given(st.lists(st.text(min_size=1), min_size=1), st.lists(st.text(min_size=1), min_size=1))
def test_any_split_of_tool_arguments_accumulates_back(first: list[str], second: list[str]) -> None:
    acc = ChatCompletionAccumulator()
    acc.add(
        delta_chunk(
            tool_calls=(call_delta(0, "", id="a", name="f"), call_delta(1, "", id="b", name="g"))
        )
    )
    for i in range(max(len(first), len(second))):
        calls = []
        if i < len(first):
            calls.append(call_delta(0, first[i]))
        if i < len(second):
            calls.append(call_delta(1, second[i]))
        acc.add(delta_chunk(tool_calls=tuple(calls)))
    calls_out = acc.result().choices[0].message.tool_calls
    assert calls_out is not None
    assert [c.function.arguments for c in calls_out] == ["".join(first), "".join(second)]


# -- linear work ----------------------------------------------------------------------


class Piece(str):
    """A str that records every concatenation it takes part in."""

    concatenations = 0

    def __add__(self, other: str) -> str:
        Piece.concatenations += 1
        return str.__add__(self, other)

    def __radd__(self, other: str) -> str:
        Piece.concatenations += 1
        return str.__add__(other, self)


def test_two_hundred_thousand_deltas() -> None:
    pieces = [Piece(chr(0x61 + i % 26) * (1 + i % 3)) for i in range(200_000)]
    chunks = [delta_chunk(content=p, reasoning_content=p) for p in pieces]
    Piece.concatenations = 0
    acc = ChatCompletionAccumulator()
    for c in chunks:
        acc.add(c)
    message = acc.result().choices[0].message
    assert message.content == "".join(pieces)
    assert message.reasoning_content == "".join(pieces)
    assert Piece.concatenations == 0  # no `s += piece`
    assert acc.chunks_added == 200_000


@pytest.fixture
def join_calls() -> Iterator[list[int]]:
    """Count the ``str.join`` calls made while the fixture is active."""
    calls = [0]

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "c_call" and getattr(arg, "__name__", None) == "join":
            calls[0] += 1

    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(None)


def test_add_joins_in_blocks_never_per_chunk(join_calls: list[int]) -> None:
    # linear: the pieces are joined a block of _BLOCK at a time (so that a long answer
    # costs about its text: tests/streams/test_memory.py), never the whole text per add
    chunks = [
        delta_chunk(content="x", reasoning_content="y", tool_calls=(call_delta(0, "z"),))
        for _ in range(500)
    ]
    acc = ChatCompletionAccumulator()
    for c in chunks:
        acc.add(c)
    assert 0 < join_calls[0] <= 3 * (500 // _BLOCK + 500 // _BLOCK**2)
    joined = join_calls[0]
    completion = acc.result()
    assert join_calls[0] - joined == 3  # each text field joined once more, in result()
    message = completion.choices[0].message
    assert message.content == "x" * 500 and message.reasoning_content == "y" * 500
    assert message.tool_calls is not None and message.tool_calls[0].function.arguments == "z" * 500


# -- parse_tool_arguments ---------------------------------------------------------------


class Weather(msgspec.Struct):
    city: str
    days: int = 1


def call(arguments: str, name: str = "get_weather") -> ToolCall:
    return ToolCall(id="call_1", function=Function(name=name, arguments=arguments))


def test_parse_valid_json() -> None:
    assert parse_tool_arguments(call('{"city": "Paris", "days": 3}')) == {
        "city": "Paris",
        "days": 3,
    }


def test_parse_into_a_struct() -> None:
    assert parse_tool_arguments(call('{"city": "Paris"}'), Weather) == Weather(city="Paris", days=1)


def test_parse_into_other_types() -> None:
    assert parse_tool_arguments(call('{"a": 1}'), dict[str, int]) == {"a": 1}


@pytest.mark.parametrize("arguments", ["", "  "])
def test_parse_empty_arguments_as_empty_object(arguments: str) -> None:
    assert parse_tool_arguments(call(arguments)) == {}


def test_parse_invalid_json() -> None:
    arguments = '{"city": "Paris", days: 3}'
    with pytest.raises(ToolArgumentsError) as info:
        parse_tool_arguments(call(arguments))
    error = info.value
    assert isinstance(error, XStreamError)
    assert isinstance(error, ValueError)
    assert (error.tool_call_id, error.name, error.arguments) == ("call_1", "get_weather", arguments)
    message = str(error)
    assert "'get_weather'" in message
    assert "'call_1'" in message
    assert "not valid JSON" in message
    assert "byte 18" in message  # where the JSON goes wrong
    assert arguments in message
    assert isinstance(error.__cause__, msgspec.DecodeError)


def test_parse_truncated_json() -> None:
    with pytest.raises(ToolArgumentsError, match="truncated"):
        parse_tool_arguments(call('{"city": "Par'))


def test_parse_wrong_shape_for_the_type() -> None:
    with pytest.raises(ToolArgumentsError, match=r"do not match Weather.*\$\.days"):
        parse_tool_arguments(call('{"city": "Paris", "days": "three"}'), Weather)


def test_parse_error_truncates_long_arguments() -> None:
    arguments = '{"text": "' + "x" * 5000
    with pytest.raises(ToolArgumentsError) as info:
        parse_tool_arguments(call(arguments))
    assert info.value.arguments == arguments
    assert len(str(info.value)) < 500
    assert arguments[:200] + "..." in str(info.value)


def test_parse_accumulated_tool_call() -> None:
    chunks = [
        delta_chunk(
            tool_calls=(
                call_delta(
                    0, p, id="c" if i == 0 else None, name="get_weather" if i == 0 else None
                ),
            )
        )
        for i, p in enumerate(split('{"city": "Oslo", "days": 2}', 4))
    ]
    calls = accumulate(chunks).choices[0].message.tool_calls
    assert calls is not None
    assert parse_tool_arguments(calls[0], Weather) == Weather(city="Oslo", days=2)


def _decoded(*deltas: dict[str, Any]) -> list[ChatCompletionChunk]:
    return [
        msgspec.json.decode(
            json.dumps({"id": "c", "choices": [{"index": 0, "delta": d}]}), type=ChatCompletionChunk
        )
        for d in deltas
    ]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_lands_in_one_place_whatever_the_servers_field(field: str) -> None:
    acc = ChatCompletionAccumulator()
    for chunk in _decoded({field: "Let me "}, {field: "think."}, {"content": "42"}):
        acc.add(chunk)
    message = acc.result().choices[0].message
    assert message.reasoning_content == "Let me think." and message.content == "42"
    assert message.reasoning == ("Let me think." if field == "reasoning" else None)


def test_reasoning_details_are_kept_and_sent_back_as_they_came() -> None:
    details = [{"type": "reasoning.encrypted", "data": "opaque", "id": "r1", "index": 0}]
    acc = ChatCompletionAccumulator()
    for chunk in _decoded({"reasoning": "hm", "reasoning_details": details}, {"content": "ok"}):
        acc.add(chunk)
    message = acc.result().choices[0].message
    assert message.reasoning_details == tuple(details)
    body = json.loads(encode_request("m", [message], stream=False, params={}))
    assert body["messages"] == [
        {"role": "assistant", "content": "ok", "reasoning_details": details}
    ]


_CHUNK_JSON = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["", "c1", "c2"]),
        "model": st.sampled_from(["", "m"]),
        "created": st.sampled_from([0, 1, 2]),
        "system_fingerprint": st.sampled_from(["fp1", "fp2"]),
        "service_tier": st.just("default"),
        "citations": st.just(["https://x"]),
        "usage": st.builds(lambda n: {"completion_tokens": n}, st.integers(0, 5)),
        "choices": st.lists(
            st.fixed_dictionaries(
                {"index": st.integers(0, 1)},
                optional={
                    "finish_reason": st.sampled_from(["stop", "length"]),
                    "logprobs": st.just({"content": [{"token": "a", "logprob": -1.0}]}),
                    "delta": st.fixed_dictionaries(
                        {},
                        optional={
                            "role": st.just("assistant"),
                            "content": st.text(max_size=3),
                            "refusal": st.text(max_size=2),
                            "reasoning_content": st.text(max_size=2),
                            "reasoning": st.text(max_size=2),
                            "tool_calls": st.just([{"index": 0, "function": {"arguments": "x"}}]),
                        },
                    ),
                },
            ),
            max_size=2,
        ),
    },
)


_PLAIN = st.builds(
    lambda text, usage: {"choices": [{"index": 0, "delta": {"content": text}}], **usage},
    st.text(max_size=3),
    st.sampled_from([{}, {"usage": {"completion_tokens": 1}}, {"system_fingerprint": "fp3"}]),
)
_FIRST = {"id": "c1", "model": "m", "created": 1, "choices": [{"index": 0, "delta": {"role": "a"}}]}


@given(
    st.booleans(),
    st.lists(st.one_of(_CHUNK_JSON, _PLAIN), max_size=12),
    st.lists(st.integers(1, 5), max_size=6),
)
def test_add_all_merges_exactly_as_add_does(
    opened: bool, chunks: list[dict[str, Any]], cuts: list[int]
) -> None:
    chunks = [_FIRST, *chunks] if opened else chunks  # the common stream: content after a head
    decoded = [msgspec.convert(c, ChatCompletionChunk) for c in chunks]
    one_by_one = ChatCompletionAccumulator()
    for chunk in decoded:
        one_by_one.add(chunk)
    batched = ChatCompletionAccumulator()
    start = 0
    for size in [*cuts, len(decoded)]:  # batches of any size, as network reads bring them
        batched.add_all(decoded[start : start + size])
        start += size
    batched.add_all(decoded[start:])
    assert batched.result() == one_by_one.result()
    assert batched.chunks_added == one_by_one.chunks_added == len(decoded)
