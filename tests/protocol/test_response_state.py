"""ResponseStreamState, sans-IO: a Responses stream's events in, the parsed events
``responses.stream()`` hands out, under every way the text can be cut."""

from __future__ import annotations

import itertools
import json
import typing
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xstream
from xstream import (
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItem,
    ResponseOutputItemAddedEvent,
    ResponseOutputTextDeltaEvent,
    ResponseOutputTextDoneEvent,
    ResponseStreamState,
)
from xstream._models.responses import KnownEvent
from xstream._protocol.response_events import REPLACED
from xstream._streams.responses import decode_response


def consistent(partial: Any, whole: Any) -> bool:
    """``partial`` is what ``whole`` looked like earlier in its text: keys a subset,
    strings prefixes, lists no longer, each value consistent; an open number any
    number (its digits are still arriving); closed values equal."""
    if partial is None:
        return True
    if isinstance(partial, msgspec.Struct) or isinstance(whole, msgspec.Struct):
        if isinstance(partial, msgspec.Struct) and isinstance(whole, msgspec.Struct):
            return bool(partial == whole)  # a closed object is complete
        partial, whole = msgspec.to_builtins(partial), msgspec.to_builtins(whole)
    if isinstance(partial, dict):
        return isinstance(whole, dict) and all(
            k in whole and consistent(v, whole[k]) for k, v in partial.items()
        )
    if isinstance(partial, list):
        return (
            isinstance(whole, list)
            and len(partial) <= len(whole)
            and all(consistent(p, w) for p, w in zip(partial, whole, strict=False))
        )
    if isinstance(partial, str):
        return isinstance(whole, str) and whole.startswith(partial)
    if isinstance(partial, bool) or isinstance(whole, bool):
        return partial is whole
    if isinstance(partial, int | float):
        return isinstance(whole, int | float)
    return bool(partial == whole)


class Item(msgspec.Struct):
    label: str
    qty: int
    tags: list[str]


class Doc(msgspec.Struct):
    title: str
    score: float
    flag: bool
    note: str | None
    items: list[Item]
    extra: dict[str, int]


items = st.builds(
    Item,
    label=st.text(max_size=12),
    qty=st.integers(-(10**12), 10**12),
    tags=st.lists(st.text(max_size=5), max_size=3),
)
docs = st.builds(
    Doc,
    title=st.text(max_size=20),
    score=st.floats(allow_nan=False, allow_infinity=False),
    flag=st.booleans(),
    note=st.none() | st.text(max_size=10),
    items=st.lists(items, max_size=4),
    extra=st.dictionaries(st.text(max_size=4), st.integers(-1000, 1000), max_size=3),
)


@st.composite
def cut_texts(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A Doc's JSON (compact or indented, escaped or not), cut into random deltas."""
    doc = draw(docs)
    text = json.dumps(
        msgspec.to_builtins(doc),
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 2])),
    )
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=40)))
    bounds = [0, *(c for c in cuts if c < len(text)), len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds)]


def _text_events(pieces: list[str], output_index: int = 0, content_index: int = 0) -> list[Any]:
    where = {"item_id": "msg_1", "output_index": output_index, "content_index": content_index}
    return [ResponseOutputTextDeltaEvent(delta=p, **where) for p in pieces]  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(cut_texts())
def test_parsed_under_every_cut_is_a_growing_partial_that_ends_as_the_decoded_type(
    case: tuple[str, list[str]],
) -> None:
    text, pieces = case
    state = ResponseStreamState(text_format=Doc)
    out = [state.handle_event(e) for e in _text_events(pieces)]
    done = state.handle_event(ResponseOutputTextDoneEvent(item_id="msg_1", text=text))
    expected = msgspec.json.decode(text, type=Doc)
    assert all(isinstance(e, xstream.ParsedResponseOutputTextDeltaEvent) for e in out)
    parsed = [e.parsed for e in out]  # type: ignore[union-attr]
    assert parsed[-1] == expected
    for before, after in itertools.pairwise(parsed):
        assert consistent(before, after), (before, after)
    assert all(consistent(p, expected) for p in parsed)
    assert [e.snapshot for e in out] == [
        text[: len("".join(pieces[: i + 1]))] for i in range(len(pieces))
    ]  # type: ignore[union-attr]
    assert isinstance(done, xstream.ParsedResponseOutputTextDoneEvent)
    assert done.parsed == expected


def test_one_parser_per_text_part() -> None:
    state = ResponseStreamState(text_format=dict[str, int])
    a = [state.handle_event(e) for e in _text_events(['{"a"', ": 1", "}"], 1, 0)]
    b = state.handle_event(_text_events(['{"b": 2'], 1, 1)[0])
    c = state.handle_event(_text_events(['{"c": 3}'], 2, 0)[0])
    assert [e.parsed for e in a] == [{}, {"a": 1}, {"a": 1}]  # type: ignore[union-attr]
    assert b.parsed == {"b": 2} and c.parsed == {"c": 3}  # type: ignore[union-attr]
    assert a[-1].snapshot == '{"a": 1}' and b.snapshot == '{"b": 2'  # type: ignore[union-attr]


def test_text_that_is_not_json_is_none_never_raised() -> None:
    state = ResponseStreamState(text_format=Doc)
    out = [state.handle_event(e) for e in _text_events(["{", "oops", "}"])]
    done = state.handle_event(ResponseOutputTextDoneEvent(text="{oops}"))
    assert [e.parsed for e in out] == [{}, {}, {}]  # type: ignore[union-attr]
    assert done.parsed is None  # type: ignore[union-attr]


def test_other_events_pass_through_unchanged() -> None:
    state = ResponseStreamState(text_format=Doc)
    event = xstream.ResponseCreatedEvent(sequence_number=0)
    assert state.handle_event(event) is event


def test_function_call_arguments_parsed_by_the_tool_the_item_names() -> None:
    class Weather(msgspec.Struct):
        city: str

    state = ResponseStreamState(tools=[Weather])
    item = ResponseOutputItem(type="function_call", id="fc_1", call_id="call_1", name="Weather")
    state.handle_event(ResponseOutputItemAddedEvent(output_index=0, item=item))
    deltas = [
        state.handle_event(ResponseFunctionCallArgumentsDeltaEvent(item_id="fc_1", delta=p))
        for p in ['{"ci', 'ty": "Ri', 'ga"}']
    ]
    done = state.handle_event(
        ResponseFunctionCallArgumentsDoneEvent(item_id="fc_1", arguments='{"city": "Riga"}')
    )
    assert [d.parsed_arguments for d in deltas] == [{}, {"city": "Ri"}, Weather("Riga")]  # type: ignore[union-attr]
    assert deltas[1].snapshot == '{"city": "Ri'  # type: ignore[union-attr]
    assert isinstance(done, xstream.ParsedResponseFunctionCallArgumentsDoneEvent)
    assert done.name == "Weather" and done.parsed_arguments == Weather("Riga")
    assert done.arguments_error is None
    # a call whose item was never announced: its done event's name still types it
    orphan = state.handle_event(
        ResponseFunctionCallArgumentsDoneEvent(output_index=3, name="Weather", arguments="{}")
    )
    assert orphan.parsed_arguments is None  # type: ignore[union-attr]
    assert isinstance(orphan.arguments_error, xstream.ToolArgumentsError)  # type: ignore[union-attr]


def test_parsed_events_keep_the_wire_fields_and_encode_without_the_snapshot() -> None:
    state = ResponseStreamState(text_format=dict[str, int])
    wire = ResponseOutputTextDeltaEvent(sequence_number=4, item_id="m", delta='{"a": 1}')
    event = state.handle_event(wire)
    assert isinstance(event, ResponseOutputTextDeltaEvent) and event.type == wire.type
    encoded = msgspec.json.decode(msgspec.json.encode(event))
    assert encoded == {**msgspec.json.decode(msgspec.json.encode(wire)), "parsed": {"a": 1}}


def test_the_parsed_union_is_the_wire_union_with_the_four_replaced() -> None:
    parsed = {typing.get_origin(t) or t for t in typing.get_args(xstream.ParsedResponseStreamEvent)}
    wire = set(typing.get_args(KnownEvent))
    assert parsed == {
        *(REPLACED.get(t, t) for t in wire),
        xstream.ResponseToolCallEvent,
        xstream.UnknownResponseEvent,
    }
    assert all(issubclass(new, old) for old, new in REPLACED.items())


@pytest.mark.parametrize("raw", [True, False])
def test_a_parsed_function_call_goes_back_without_parsed_arguments(raw: bool) -> None:
    wire = (
        b'{"type":"function_call","id":"fc_1","call_id":"c","name":"f","arguments":"{}","x_new":1}'
    )
    decoded = decode_response(b'{"id":"r","output":[' + wire + b"]}")
    parsed = ResponseStreamState(
        tools=[{"type": "function", "name": "f", "strict": True}]
    ).parse_final(decoded)
    (call,) = parsed.output
    assert isinstance(call, xstream.ParsedResponseFunctionToolCall) and call.parsed_arguments == {}
    if raw:
        assert bytes(call.to_input()) == wire
    else:
        plain = msgspec.structs.replace(call).to_input()
        assert plain == {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "c",
            "name": "f",
            "arguments": "{}",
        }
