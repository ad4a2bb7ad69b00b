"""Tests for the sans-IO SSE decoder (``xstream._sse.decoder``).

The rules come from the WHATWG HTML standard, 9.2.6 "Parsing an event stream"
and "Interpreting an event stream"; test names quote what the standard says.

* ``sse_vectors.json`` is a copy of the shared conformance vectors (all but
  four very long ones, which are rebuilt in code below).  Each is fed whole,
  one byte at a time, in its own split and in seeded random splits.
* ``reference_decode`` is a deliberately naive decoder written straight from
  the standard's text: decode everything, split lines, apply the field rules.
  Hypothesis checks that the real decoder agrees with it on generated input,
  however the input is cut into pieces.
"""

from __future__ import annotations

import ast
import base64
import itertools
import json
import random
import re
import subprocess
import sys
import tracemalloc
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xstream
from xstream import EventTooLargeError, ServerSentEvent, SSEDecoder
from xstream._sse.decoder import DEFAULT_MAX_EVENT_BYTES

Piece = bytes | bytearray | memoryview
EventTuple = tuple[str, str, str | None, int | None]

MiB = 1024 * 1024

# ------------------------------------------------------------ the reference

_LINE_END = re.compile("\r\n|\r|\n")
_ASCII_DIGITS = re.compile("[0-9]+")


class Reference(NamedTuple):
    events: list[EventTuple]
    last_event_id: str
    reconnection_time: int | None
    retry_updates: list[int]
    discarded: bool


def reference_decode(stream: bytes) -> Reference:
    """The standard, read literally, over the whole input at once.

    ``discarded``: the input ended inside an event, i.e. with a non-empty
    unterminated line, or with a block that has data but no blank line.
    """
    text = stream.decode("utf-8", "replace")
    if text.startswith("\ufeff"):  # the UTF-8 decode algorithm strips one BOM
        text = text[1:]
    *lines, unterminated = _LINE_END.split(text)
    events: list[EventTuple] = []
    retry_updates: list[int] = []
    data = ""
    event_type = ""
    id_buffer: str | None = None  # None: no id field accepted yet
    last_event_id = ""
    block_retry: int | None = None
    for line in lines:
        if line == "":  # dispatch
            last_event_id = "" if id_buffer is None else id_buffer
            if data:
                events.append((event_type or "message", data[:-1], id_buffer, block_retry))
            data = event_type = ""
            block_retry = None
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data += value + "\n"
        elif name == "event":
            event_type = value
        elif name == "id":
            if "\0" not in value:
                id_buffer = value
        elif name == "retry" and _ASCII_DIGITS.fullmatch(value):
            block_retry = int(value)
            retry_updates.append(block_retry)
    return Reference(
        events=events,
        last_event_id=last_event_id,
        reconnection_time=retry_updates[-1] if retry_updates else None,
        retry_updates=retry_updates,
        discarded=bool(unterminated or data),
    )


# ------------------------------------------------------------------ helpers


class Outcome(NamedTuple):
    events: list[ServerSentEvent]
    last_event_id: str
    reconnection_time: int | None
    discarded: bool


def as_tuple(event: ServerSentEvent) -> EventTuple:
    return (event.event, event.data, event.id, event.retry)


def decode(pieces: Iterable[Piece], **kwargs: Any) -> Outcome:
    """Feed every piece, then close; what a client would see."""
    decoder = SSEDecoder(**kwargs)
    events: list[ServerSentEvent] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    assert decoder.close() == []
    return Outcome(events, decoder.last_event_id, decoder.reconnection_time, decoder.discarded)


def cut(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """Split data at the given offsets (repeated offsets give empty pieces)."""
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def random_splits(data: bytes, seed: str, count: int) -> Iterator[list[Piece]]:
    """Seeded splits: a few cuts, tiny pieces, cuts at line ends and
    multi-byte characters; sometimes empty pieces and non-bytes types."""
    rng = random.Random(seed)  # str seeds are hashed deterministically
    size = len(data)
    specials = [i for i, b in enumerate(data[:65536]) if b in (10, 13) or b >= 0x80]
    for i in range(count):
        style = i % 3
        if size == 0:
            cuts: list[int] = []
        elif style == 0:
            cuts = [rng.randint(0, size) for _ in range(rng.randint(1, 8))]
        elif style == 1 and size <= 4096:
            cuts, pos = [], 0
            while pos < size:
                pos += rng.randint(1, 8)
                cuts.append(min(pos, size))
        elif style == 1:
            cuts = [rng.randint(0, size) for _ in range(300)]
        else:
            picks = rng.sample(specials, min(len(specials), 24)) if specials else [0]
            cuts = [p + rng.randint(0, 1) for p in picks]
        pieces: list[Piece] = list(cut(data, cuts))
        if rng.random() < 0.3:
            for _ in range(rng.randint(1, 3)):
                pieces.insert(rng.randint(0, len(pieces)), b"")
        if rng.random() < 0.3:
            kinds = (bytes, bytearray, memoryview)
            pieces = [rng.choice(kinds)(p) for p in pieces]
        yield pieces


# ------------------------------------------------------------- the vectors


class Vector(NamedTuple):
    name: str
    data: bytes
    expected: list[EventTuple]
    retry_updates: list[int]
    chunks: list[bytes] | None


def _load_vectors() -> list[Vector]:
    raw = json.loads(Path(__file__).with_name("sse_vectors.json").read_text("utf-8"))
    vectors = []
    for v in raw:
        chunks = [base64.b64decode(c) for c in v["chunks_b64"]] if "chunks_b64" in v else None
        expected = [(e["event"], e["data"], e["id"], e["retry"]) for e in v["expected"]]
        data = base64.b64decode(v["input_b64"])
        vectors.append(Vector(v["name"], data, expected, v["expected_retry_updates"], chunks))
    return vectors


def _long_vectors() -> list[Vector]:
    """The shared vectors too big to copy, rebuilt with their expectations."""
    chars = "é€😀" * 10_000  # 2-, 3- and 4-byte characters, 90,000 bytes
    e, i = "e" * 10_000, "i" * 10_000
    return [
        Vector(
            "many-data-lines",
            b"data:x\n" * 10_000 + b"\n",
            [("message", "\n".join(["x"] * 10_000), None, None)],
            [],
            None,
        ),
        Vector(
            "long-multibyte-line",
            b"data: " + chars.encode() + b"\n\n",
            [("message", chars, None, None)],
            [],
            None,
        ),
        Vector(
            "long-event-name-and-id",
            f"event: {e}\nid: {i}\ndata: x\n\n".encode(),
            [(e, "x", i, None)],
            [],
            None,
        ),
        Vector(
            "long-data-line-1mib",
            b"data:" + b"y" * MiB + b"\n\n",
            [("message", "y" * MiB, None, None)],
            [],
            None,
        ),
    ]


VECTORS = _load_vectors() + _long_vectors()


def _feedings(vector: Vector) -> Iterator[tuple[str, list[Piece]]]:
    yield "whole", [vector.data]
    if len(vector.data) <= 8192:
        yield "bytewise", [vector.data[i : i + 1] for i in range(len(vector.data))]
    if vector.chunks is not None:
        yield "explicit", list(vector.chunks)
    count = 20 if len(vector.data) <= 8192 else 4
    for n, pieces in enumerate(random_splits(vector.data, vector.name, count)):
        yield f"random#{n}", pieces


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_conformance_vector(vector: Vector) -> None:
    ref = reference_decode(vector.data)
    expected_retry = vector.retry_updates[-1] if vector.retry_updates else None
    for mode, pieces in _feedings(vector):
        got = decode(pieces)
        assert [as_tuple(e) for e in got.events] == vector.expected, mode
        assert got.reconnection_time == expected_retry, mode
        assert got.last_event_id == ref.last_event_id, mode
        assert got.discarded == ref.discarded, f"{mode}: discarded for input {vector.data[:80]!r}"


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_reference_implementation_passes_the_vectors(vector: Vector) -> None:
    # The reference is only a good oracle if it is right where answers are known.
    ref = reference_decode(vector.data)
    assert ref.events == vector.expected
    assert ref.retry_updates == vector.retry_updates


# ------------------------------------------------- hypothesis: any split

_NAMES = st.sampled_from(
    [
        b"data",
        b"event",
        b"id",
        b"retry",
        b"",
        b"Data",
        b"dat",
        b"datas",
        b"data ",
        b" data",
        b"\xef\xbb\xbfdata",
        b"foo",
        b"\xff",
        b"\x00",
        "é".encode(),
    ]
)
_ATOMS = st.sampled_from(
    [
        b"",
        b" ",
        b"  ",
        b":",
        b"x",
        b"0",
        b"42",
        b"007",
        b"-1",
        b"1e3",
        b"\x00",
        b"\xff",
        b"\xc3",
        b"\xc3\xa9",
        "€".encode(),
        "😀".encode(),
        b"\xf0\x9f",
        "\uff11".encode(),
        b"\xef\xbb\xbf",
        b"[DONE]",
        b"\t",
        b'{"a": 1}',
    ]
)
_NO_LINE_END = st.binary(max_size=4).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_VALUES = st.lists(_ATOMS | _NO_LINE_END, max_size=5).map(b"".join)
_SEPARATORS = st.sampled_from([b":", b": ", b":  ", b""])
_FIELD_LINES = st.tuples(_NAMES, _SEPARATORS, _VALUES).map(b"".join)
_LINES = st.one_of(_FIELD_LINES, _FIELD_LINES, _VALUES.map(lambda v: b":" + v), st.just(b""))
_ENDINGS = st.sampled_from([b"\n", b"\r", b"\r\n"])


@st.composite
def sse_streams(draw: st.DrawFn) -> bytes:
    """SSE-ish input: optional (possibly truncated) BOM, lines with mixed line
    ends, and maybe an unterminated last line."""
    start = draw(st.sampled_from([b"", b"", b"\xef\xbb\xbf", b"\xef\xbb"]))
    body = b"".join(line + end for line, end in draw(st.lists(st.tuples(_LINES, _ENDINGS))))
    tail = draw(st.one_of(st.just(b""), _LINES))
    return start + body + tail


_INPUTS = st.one_of(sse_streams(), st.binary(max_size=300))


def draw_pieces(draw: st.DataObject, data: bytes) -> list[Piece]:
    cuts = draw.draw(st.lists(st.integers(0, len(data)), max_size=24), label="cuts")
    kinds = st.sampled_from([bytes, bytearray, memoryview])
    return [draw.draw(kinds, label="kind")(p) for p in cut(data, cuts)]


_SETTINGS = settings(max_examples=400, deadline=None)


def _comparable(outcome: Outcome) -> tuple[Any, ...]:
    events = [(e.event, e.raw, e.id, e.retry) for e in outcome.events]
    return (events, outcome.last_event_id, outcome.reconnection_time, outcome.discarded)


@_SETTINGS
@given(data=_INPUTS, draw=st.data())
def test_any_split_gives_the_same_result_as_the_whole_input(
    data: bytes, draw: st.DataObject
) -> None:
    pieces = draw_pieces(draw, data)
    assert _comparable(decode(pieces)) == _comparable(decode([data]))


@_SETTINGS
@given(data=_INPUTS, draw=st.data())
def test_decoder_agrees_with_the_reference_implementation(data: bytes, draw: st.DataObject) -> None:
    ref = reference_decode(data)
    got = decode(draw_pieces(draw, data))
    assert [as_tuple(e) for e in got.events] == ref.events
    assert got.last_event_id == ref.last_event_id
    assert got.reconnection_time == ref.reconnection_time
    assert got.discarded == ref.discarded


# The decoder decodes the shapes real streams have (blocks of one `data: ` line,
# or of `event: ` and `data: `, keep-alive comments between them) without its
# per-line loop. These streams are mostly such blocks, with near-misses mixed
# in (`data:` without the space, a second data line, an id, a retry, a
# comment inside a block, extra blank lines), so that both the fast check and
# every way it must fall back are exercised, under any split.
_PAYLOADS = st.sampled_from(
    [b"", b" ", b"x", b'{"a": 1}', b"[DONE]", "\u00e9\U0001f680".encode(), b":"]
)
_UNIFORM_BLOCKS = st.one_of(
    _PAYLOADS.map(lambda v: b"data: " + v + b"\n\n"),
    _PAYLOADS.map(lambda v: b"data: " + v + b"\n\n"),
    _PAYLOADS.map(lambda v: b"data: " + v + b"\r\n\r\n"),
    st.tuples(st.sampled_from([b"delta", b"", b"done", b"\xff"]), _PAYLOADS).map(
        lambda t: b"event: " + t[0] + b"\ndata: " + t[1] + b"\n\n"
    ),
    st.just(b": keep-alive\n\n"),
    st.just(b":\n\n"),
)
_NEAR_MISSES = st.sampled_from(
    [
        b"data:x\n\n",
        b"data: a\ndata: b\n\n",
        b"id: 7\n\n",
        b"id: 8\ndata: y\n\n",
        b"data: z\nid: 9\n\n",
        b"retry: 10\n\n",
        b"data: r\nretry: 20\n\n",
        b": c\ndata: w\n\n",
        b"\n",
        b"\n\n",
        b"event: e\n\n",
        b"event: e\ndata: v\nid: 3\n\n",
        b"data: v\nevent: e\n\n",
        b"dat\n\n",
        b"event:e\ndata: v\n\n",
        b"data: unterminated",
        b"\xef\xbb\xbfdata: bom\n\n",
    ]
)


@st.composite
def llm_shaped_streams(draw: st.DrawFn) -> bytes:
    blocks = draw(st.lists(st.one_of(*[_UNIFORM_BLOCKS] * 6, _NEAR_MISSES), max_size=40))
    return b"".join(blocks)


@_SETTINGS
@given(data=llm_shaped_streams(), draw=st.data())
def test_streams_shaped_like_real_ones_decode_as_the_reference_does(
    data: bytes, draw: st.DataObject
) -> None:
    ref = reference_decode(data)
    got = decode(draw_pieces(draw, data))
    assert [as_tuple(e) for e in got.events] == ref.events
    assert [e.raw for e in got.events] == [e.raw for e in decode([data]).events]
    assert got.last_event_id == ref.last_event_id
    assert got.reconnection_time == ref.reconnection_time
    assert got.discarded == ref.discarded


@_SETTINGS
@given(data=st.one_of(llm_shaped_streams(), sse_streams()), draw=st.data())
def test_feed_payloads_gives_the_data_of_the_events_feed_gives(
    data: bytes, draw: st.DataObject
) -> None:
    pieces = draw_pieces(draw, data)
    plain, payloads = SSEDecoder(), SSEDecoder()
    for piece in pieces:
        events = plain.feed(piece)
        got = payloads.feed_payloads(piece)
        if got and type(got[0]) is bytes:
            # Only plain events come back as their data: unnamed, no id or retry of their own.
            assert all(type(item) is bytes for item in got)
            assert [(e.event, e.retry) for e in events] == [("message", None)] * len(events)
            assert len({e.id for e in events}) == 1  # the id in effect, the same on all
            assert got == [e.raw for e in events]
        else:
            assert got == events
        assert payloads.last_event_id == plain.last_event_id
    plain.close()
    payloads.close()
    assert payloads.discarded == plain.discarded


@_SETTINGS
@given(data=st.one_of(llm_shaped_streams(), sse_streams()))
def test_a_paced_stream_one_event_a_read_decodes_as_fed_whole(data: bytes) -> None:
    # A model's answer arrives an event per read: the shape feed_payloads answers fastest.
    pieces = [p + b"\n\n" for p in data.split(b"\n\n")[:-1]] + [data.split(b"\n\n")[-1]]
    plain, payloads = SSEDecoder(), SSEDecoder()
    for piece in pieces:
        events = plain.feed(piece)
        got = payloads.feed_payloads(piece)
        if got and type(got[0]) is bytes:
            assert got == [e.raw for e in events]
            assert [(e.event, e.retry) for e in events] == [("message", None)] * len(events)
        else:
            assert got == events
        assert payloads.last_event_id == plain.last_event_id


def test_a_piece_of_uniform_blocks_after_an_id_carries_that_id_on_every_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 5\n\n") == []
    events = decoder.feed(b"data: a\n\n: ping\n\ndata: b\n\n")
    assert [(e.raw, e.id) for e in events] == [(b"a", "5"), (b"b", "5")]
    assert decoder.last_event_id == "5"
    events = decoder.feed(b"event: x\ndata: c\n\nevent: \ndata: d\n\n")
    assert [(e.event, e.raw, e.id) for e in events] == [("x", b"c", "5"), ("message", b"d", "5")]


# -------------------------------------------------------- line endings


@pytest.mark.parametrize(
    "pieces",
    [
        [b"data: A\r", b"\ndata: B\r\n\r\n"],
        [b"data: A\r", b"", b"", b"\ndata: B\r\n\r\n"],
        [b"data: A\r", bytearray(), memoryview(b""), b"\n", b"data: B\r", b"\n\r", b"\n"],
    ],
    ids=["adjacent", "empty-pieces-between", "every-line-split"],
)
def test_a_cr_at_the_end_of_one_piece_and_lf_at_the_start_of_the_next_are_one_line_end(
    pieces: list[Piece],
) -> None:
    # "CRLF" is one end of line; reading it as CR then LF would dispatch "A" alone.
    assert [e.data for e in decode(pieces).events] == ["A\nB"]


def test_a_cr_at_the_end_of_a_piece_ends_the_line_even_if_no_lf_follows() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert [e.data for e in decoder.feed(b"\r")] == ["a"]  # CR, then a blank line
    assert decoder.feed(b"data: b\r") == []
    assert [e.data for e in decoder.feed(b"\n\n")] == ["b"]


def test_a_lone_cr_then_other_text_in_the_next_piece_is_a_line_end() -> None:
    assert [e.data for e in decode([b"data: a\r", b"data: b\r\r"]).events] == ["a\nb"]


# ------------------------------------------------------- input types, data


def test_bytearray_and_memoryview_pieces_are_accepted() -> None:
    big = b"xxdata: hello\n\nyy"
    pieces: list[Piece] = [bytearray(b"event: greet\n"), memoryview(big)[2:-2]]
    events = decode(pieces).events
    assert [as_tuple(e) for e in events] == [("greet", "hello", None, None)]
    assert type(events[0].raw) is bytes


def test_a_parked_piece_is_copied_so_the_caller_may_reuse_its_buffer() -> None:
    decoder = SSEDecoder()
    buffer = bytearray(b"data: ab")
    assert decoder.feed(buffer) == []
    buffer[:] = b"XXXXXXXX"
    assert [e.data for e in decoder.feed(b"\n\n")] == ["ab"]


def test_raw_is_bytes_and_data_is_str() -> None:
    (event,) = decode([b'data: {"a": 1}\n\n']).events
    assert event.raw == b'{"a": 1}'
    assert isinstance(event.raw, bytes)
    assert event.data == '{"a": 1}'
    assert isinstance(event.data, str)


def test_invalid_utf8_becomes_the_replacement_character_in_data_but_raw_keeps_the_bytes() -> None:
    (event,) = decode([b"data: a\xffb\xe2\x82\n\n"]).events
    assert event.raw == b"a\xffb\xe2\x82"
    assert event.data == "a\ufffdb\ufffd"


def test_a_utf8_character_split_across_pieces_is_decoded_whole() -> None:
    euro = "€".encode()
    (event,) = decode([b"data: " + euro[:1], euro[1:2], euro[2:] + b"\n\n"]).events
    assert event.data == "€"


def test_multiple_data_lines_are_joined_with_lf() -> None:
    (event,) = decode([b"data: YHOO\ndata: +2\ndata: 10\n\n"]).events
    assert event.raw == b"YHOO\n+2\n10"


# ------------------------------------------------------------------ retry


@pytest.mark.parametrize(
    ("value", "expected"),
    [(b"0", 0), (b"007", 7), (b"1000", 1000), (b"99999999999999999999", 99999999999999999999)],
)
def test_retry_made_of_ascii_digits_sets_the_reconnection_time(value: bytes, expected: int) -> None:
    got = decode([b"retry: " + value + b"\ndata: x\n\n"])
    assert got.reconnection_time == expected
    assert got.events[0].retry == expected


@pytest.mark.parametrize(
    "value",
    [
        b"-1",
        b"+1",
        b"1e3",
        b"1.5",
        b"0x10",
        b"1_000",
        "\uff11\uff12\uff13".encode(),
        "\u00b2".encode(),
        "\u0663".encode(),
        b"100 ",
        b" 100",
        b"\t100",
        b"",
        b"10\x00",
    ],
)
def test_retry_that_is_not_only_ascii_digits_is_ignored(value: bytes) -> None:
    got = decode([b"retry: 5\n\n", b"retry: " + value + b"\ndata: x\n\n"])
    assert got.reconnection_time == 5  # the earlier valid value stays
    assert got.events[0].retry is None


def test_retry_in_a_block_that_is_later_discarded_still_sets_the_reconnection_time() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"retry: 300\ndata: never dispatched\n") == []
    assert decoder.reconnection_time == 300  # set when the field is read, not at dispatch
    assert decoder.close() == []
    assert decoder.discarded
    assert decoder.reconnection_time == 300


def test_retry_is_per_block_on_the_event() -> None:
    events = decode([b"retry: 100\ndata: a\n\ndata: b\n\n"]).events
    assert [e.retry for e in events] == [100, None]


# --------------------------------------------------------------------- id


def test_id_is_none_until_the_stream_sets_one_and_empty_after_a_reset() -> None:
    got = decode([b"data: a\n\nid: 1\ndata: b\n\ndata: c\n\nid\ndata: d\n\n"])
    assert [e.id for e in got.events] == [None, "1", "1", ""]
    assert got.last_event_id == ""


def test_an_id_field_containing_null_is_ignored() -> None:
    got = decode([b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"])
    assert [e.id for e in got.events] == ["1", "1"]
    assert got.last_event_id == "1"


def test_a_block_with_only_an_id_sets_the_last_event_id_without_firing_an_event() -> None:
    decoder = SSEDecoder()
    assert decoder.last_event_id == ""
    assert decoder.feed(b"id: 7\n") == []
    assert decoder.last_event_id == ""  # the buffer is committed at the blank line
    assert decoder.feed(b"\n") == []
    assert decoder.last_event_id == "7"
    assert [e.id for e in decoder.feed(b"data: x\n\n")] == ["7"]


# ------------------------------------------------------------ end of input


@pytest.mark.parametrize(
    ("stream", "discarded"),
    [
        (b"", False),
        (b"data: a\n\n", False),
        (b"data: a", True),  # unterminated line
        (b"data: a\n", True),  # data but no blank line
        (b"data: a\r", True),
        (b"data\n", True),  # an empty data line still makes an event
        (b"data: a\n\r", False),  # LF then CR: the CR is the blank line
        (b": just a comment", True),  # unterminated, non-empty
        (b": comment\n", False),
        (b"id: 1\nevent: x\nretry: 5\n", False),  # nothing to dispatch
        (b"data: a\n\n\xef\xbb\xbf", True),  # a later BOM is an ordinary character
        (b"\xef\xbb\xbf", False),  # the leading BOM is not content
        (b"\xef\xbb", True),  # a truncated BOM decodes to U+FFFD
    ],
)
def test_close_reports_whether_the_input_ended_inside_an_event(
    stream: bytes, discarded: bool
) -> None:
    assert decode([stream]).discarded is discarded
    assert decode([stream[i : i + 1] for i in range(len(stream))]).discarded is discarded


def test_an_unterminated_final_event_is_discarded_not_dispatched() -> None:
    decoder = SSEDecoder()
    assert [e.data for e in decoder.feed(b"data: a\n\ndata: b")] == ["a"]
    assert decoder.close() == []
    assert decoder.discarded


def test_feed_after_close_raises() -> None:
    decoder = SSEDecoder()
    decoder.close()
    with pytest.raises(RuntimeError):
        decoder.feed(b"data: x\n\n")


@pytest.mark.parametrize("fed", [b"", b"data: x", b"data: x\n", b"data: x\n\n"])
def test_close_never_raises_and_returns_nothing_even_when_called_twice(fed: bytes) -> None:
    decoder = SSEDecoder()
    decoder.feed(fed)
    assert decoder.close() == []
    assert decoder.close() == []


# ----------------------------------------------------------------- limits


def test_max_event_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SSEDecoder(max_event_bytes=0)
    with pytest.raises(ValueError):
        SSEDecoder(max_event_bytes=-1)


def test_an_unterminated_line_over_the_limit_raises_and_says_how_to_raise_it() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(EventTooLargeError) as info:
        decoder.feed(b"data: " + b"x" * 200)
    assert isinstance(info.value, xstream.StreamError)
    assert info.value.limit == 100
    assert info.value.events == []
    message = str(info.value)
    assert "max_event_bytes" in message
    assert "100" in message


def test_an_unterminated_line_in_small_pieces_raises_once_it_passes_the_limit() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    for _ in range(10):
        assert decoder.feed(b"x" * 10) == []  # exactly at the limit is allowed
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"x")


def test_many_data_lines_together_over_the_limit_raise() -> None:
    line = b"data: " + b"x" * 90 + b"\n"
    decoder = SSEDecoder(max_event_bytes=1000)
    accepted = 0  # data bytes taken without complaint
    with pytest.raises(EventTooLargeError):
        for _ in range(100):
            decoder.feed(line)
            accepted += 90
    assert accepted <= 1000 < accepted + 2 * 90


def test_many_data_lines_in_one_piece_over_the_limit_raise() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(EventTooLargeError):
        decoder.feed((b"data: " + b"x" * 90 + b"\n") * 20)


def test_many_data_lines_in_tiny_pieces_over_the_limit_raise() -> None:
    stream = (b"data: " + b"x" * 90 + b"\r\n") * 20
    decoder = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(EventTooLargeError):
        for i in range(0, len(stream), 7):
            decoder.feed(stream[i : i + 7])


def test_events_completed_before_the_oversized_one_travel_on_the_exception() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(EventTooLargeError) as info:
        decoder.feed(b"data: a\n\nid: 1\ndata: b\n\ndata: " + b"x" * 200)
    assert [as_tuple(e) for e in info.value.events] == [
        ("message", "a", None, None),
        ("message", "b", "1", None),
    ]
    # Later feeds keep failing, with nothing new to hand over.
    with pytest.raises(EventTooLargeError) as again:
        decoder.feed(b"\n\ndata: c\n\n")
    assert again.value.events == []
    assert "max_event_bytes" in str(again.value)
    assert decoder.close() == []


def test_an_oversized_event_that_arrives_whole_in_one_piece_raises_too() -> None:
    # The limit is on the event, not on how the network cut it: same answer for any split.
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(EventTooLargeError) as info:
        decoder.feed(b"data: ok\n\ndata: " + b"x" * 200 + b"\n\ndata: later\n\n")
    assert [e.data for e in info.value.events] == ["ok"]


@pytest.mark.parametrize(
    "stream",
    [
        b"data: " + b"x" * 200,
        b"data: a\n\ndata: " + b"x" * 200,
        (b"data: " + b"x" * 60 + b"\n") * 3,
    ],
    ids=["long-line", "after-an-event", "many-data-lines"],
)
def test_an_oversized_event_counts_as_discarded_also_after_close(stream: bytes) -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(EventTooLargeError):
        decoder.feed(stream)
    assert decoder.discarded  # the oversized event was dropped
    assert decoder.close() == []  # never raises, even after the error
    assert decoder.discarded  # and the end of input does not forget the drop


def test_a_never_ending_line_is_cut_off_at_the_limit_not_buffered_forever() -> None:
    # 200 MB nominal, in 64 KiB pieces made lazily from one reused object.
    piece = b"x" * 65536
    decoder = SSEDecoder()
    accepted = 0
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"data: ")
        accepted = 6
        while accepted < 200_000_000:
            decoder.feed(piece)
            accepted += len(piece)
            assert decoder._parts_len <= DEFAULT_MAX_EVENT_BYTES
    # It raised on the piece that crossed the limit, then let go of the buffer.
    assert DEFAULT_MAX_EVENT_BYTES - len(piece) < accepted <= DEFAULT_MAX_EVENT_BYTES
    assert decoder._parts_len == 0
    assert not decoder._parts  # nothing held


def test_memory_held_by_a_never_ending_line_stays_near_the_limit() -> None:
    # A reused bytearray: the decoder copies each piece, as with fresh network reads.
    limit = 4 * MiB
    piece = bytearray(b"x" * 65536)
    decoder = SSEDecoder(max_event_bytes=limit)
    tracemalloc.start()
    try:
        with pytest.raises(EventTooLargeError):
            for _ in range(1000):
                decoder.feed(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit + 4 * len(piece)


# ------------------------------------------------------------ linear time


@pytest.mark.timeout(10)  # a quadratic re-join of 16 MiB in 1 KiB pieces would take minutes
def test_a_16_mib_line_in_1_kib_pieces_is_joined_once() -> None:
    size = 16 * MiB
    piece = b"y" * 1024
    decoder = SSEDecoder(max_event_bytes=2 * size)
    events: list[ServerSentEvent] = []
    tracemalloc.start()
    try:
        events += decoder.feed(b"data:")
        for _ in range(size // len(piece)):
            events += decoder.feed(piece)
        events += decoder.feed(b"\n\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(events) == 1
    assert len(events[0].raw) == size
    assert events[0].raw.count(b"y") == size
    # At most a few whole copies alive at once (joined line, split line, value):
    # keeping re-joined prefixes around would grow with the square of the pieces.
    assert peak < 3.5 * size


# ------------------------------------------------------------------ sans-IO

_IO_MODULES = {"asyncio", "aiohttp", "anyio", "socket", "selectors", "ssl"}


def _runtime_imports(path: Path, package: str) -> set[str]:
    # ``package``: the package the file is in (relative imports count from it)
    """Absolute names of the modules a file imports at run time
    (``if TYPE_CHECKING:`` blocks are skipped)."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            for child in node.orelse if name == "TYPE_CHECKING" else [*node.body, *node.orelse]:
                self.visit(child)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(alias.name for alias in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{module}" if module else base
            found.add(module)

    Visitor().visit(ast.parse(path.read_text("utf-8")))
    return found


def test_the_decoder_module_imports_no_io_library() -> None:
    package_dir = Path(xstream.__file__).parent
    seen: set[str] = set()
    todo = ["xstream._sse.decoder"]
    while todo:  # follow imports inside the package too (e.g. xstream._exceptions)
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = package_dir.joinpath(*module.split(".")[1:])
        is_package = path.is_dir()
        path = path / "__init__.py" if is_package else path.with_suffix(".py")
        package = module if is_package else module.rpartition(".")[0]
        imports = _runtime_imports(path, package)
        assert not {m.split(".")[0] for m in imports} & _IO_MODULES, module
        todo += [m for m in imports if m.startswith("xstream.")]
    assert "xstream._exceptions" in seen


def test_importing_the_decoder_alone_loads_no_io_library() -> None:
    # A bare package object stands in for xstream/__init__.py, which imports the client.
    code = (
        "import sys, types\n"
        f"pkg = types.ModuleType('xstream'); pkg.__path__ = [{str(Path(xstream.__file__).parent)!r}]\n"
        "sys.modules['xstream'] = pkg\n"
        "import xstream._sse.decoder\n"
        f"print(sorted(m for m in {sorted(_IO_MODULES)!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"data: a\n\ndata: [DONE]", "[DONE]"),
        (b"data: a\n\ndata: [DONE]\n", "[DONE]"),
        (b"data: a\n\nevent: x\ndata: 1\ndata: 2", "1\n2"),
        (b"\xef\xbb\xbfdata: b", "b"),
        (b"data: a\n\n", None),
        (b"data: a\n\n: comment", None),
    ],
)
def test_unterminated_shows_what_a_blank_line_would_dispatch_without_changing_state(
    stream: bytes, expected: str | None
) -> None:
    decoder = SSEDecoder()
    dispatched = [e.data for e in decoder.feed(stream)]
    last = decoder.unterminated()
    assert (last.data if last else None) == expected
    # nothing changed: the standard's answer is still to drop the block
    assert decoder.feed(b"") == [] and decoder.close() == []
    assert decoder.discarded == (stream != b"data: a\n\n")  # any unterminated line counts
    assert dispatched == ([] if stream.startswith(b"\xef") else ["a"])
