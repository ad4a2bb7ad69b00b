"""PartialJSON: the value so far of a JSON text arriving in pieces, under every split."""

from __future__ import annotations

import itertools
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xstream import PartialJSON
from xstream._protocol.partial import PartialJSONError

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)


@st.composite
def texts(draw: st.DrawFn) -> tuple[Any, str]:
    value = draw(values)
    text = json.dumps(
        value,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 0, 2])),
        separators=draw(st.sampled_from([None, (",", ":")])),
    )
    return value, text


def _pieces(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points)]


def _fed(pieces: list[str]) -> PartialJSON:
    parser = PartialJSON()
    for piece in pieces:
        parser.feed(piece)
    return parser


@settings(max_examples=150, deadline=None)
@given(texts(), st.lists(st.integers(min_value=0), max_size=12))
def test_any_split_gives_the_whole_value(sample: tuple[Any, str], cuts: list[int]) -> None:
    value, text = sample
    parser = _fed(_pieces(text, cuts))
    parser.finish()
    assert parser.done
    assert parser.value == json.loads(text) == value or parser.value == json.loads(text)


@settings(max_examples=100, deadline=None)
@given(texts(), st.integers(min_value=0), st.lists(st.integers(min_value=0), max_size=8))
def test_the_value_of_a_prefix_does_not_depend_on_how_it_was_split(
    sample: tuple[Any, str], end: int, cuts: list[int]
) -> None:
    _, text = sample
    prefix = text[: end % (len(text) + 1)]
    whole = _fed([prefix]).value
    assert _fed(_pieces(prefix, cuts)).value == whole
    one_by_one = PartialJSON()
    for char in prefix:
        one_by_one.feed(char)
        _ = one_by_one.value  # reading in between changes nothing
    assert one_by_one.value == whole


@settings(max_examples=100, deadline=None)
@given(texts())
def test_each_prefix_shows_closed_values_and_open_strings_only(sample: tuple[Any, str]) -> None:
    _, text = sample
    parser = PartialJSON()
    for i, char in enumerate(text):
        parser.feed(char)
        shown = parser.value
        assert _is_prefix_of(shown, json.loads(text)), (text[: i + 1], shown)


def _is_prefix_of(shown: Any, final: Any) -> bool:
    """``shown`` is what a prefix may show of ``final``: complete values equal, an open
    string a prefix, an open number any valid number, containers element-wise."""
    if shown is None:
        return True
    if isinstance(final, dict):
        return (
            isinstance(shown, dict)
            and set(shown) <= set(final)
            and all(_is_prefix_of(v, final[k]) for k, v in shown.items())
        )
    if isinstance(final, list):
        return (
            isinstance(shown, list)
            and len(shown) <= len(final)
            and all(_is_prefix_of(v, final[i]) for i, v in enumerate(shown))
        )
    if isinstance(final, str):
        return isinstance(shown, str) and final.startswith(shown)
    if isinstance(final, bool):
        return shown is final
    if isinstance(final, int | float):
        return isinstance(shown, int | float)  # an open number shows its digits so far
    return False


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ('{"a": "hel', {"a": "hel"}),
        ('{"a": 1, "b": "he', {"a": 1, "b": "he"}),
        ('["ab", "c', ["ab", "c"]),
        ('{"a": 12', {"a": 12}),
        ('{"a": tr', {}),
        ('{"a": 1.', {"a": 1}),  # as far as it is a number: a shown key never vanishes
        ('{"a": -', {}),
        ('{"a"', {}),  # an open key is not shown
        ('{"a":', {}),
        ('{"a": [1, {"b": "x"}, {"c', {"a": [1, {"b": "x"}, {}]}),
        ('{"a": "x\\', {"a": "x"}),  # a split escape waits for the rest
        ('{"a": "x\\u00', {"a": "x"}),
        ('"\\ud83d\\ude00"', "\U0001f600"),  # a surrogate pair joined
        ("", None),
    ],
)
def test_what_a_prefix_shows(prefix: str, expected: Any) -> None:
    assert _fed([prefix]).value == expected


class Stop(msgspec.Struct):
    city: str


class Trip(msgspec.Struct):
    stops: list[Stop]
    name: str


def test_closed_objects_take_the_type_their_place_has() -> None:
    parser = PartialJSON(Trip)
    parser.feed('{"stops": [{"city": "Paris"}, {"city": "Ly')
    assert parser.value == {"stops": [Stop(city="Paris"), {"city": "Ly"}]}
    parser.feed('on"}], "name": "t"}')
    assert parser.value == Trip(stops=[Stop("Paris"), Stop("Lyon")], name="t")


def test_an_object_that_does_not_fit_its_type_stays_a_dict() -> None:
    parser = PartialJSON(list[Stop])
    parser.feed('[{"city": 3}, {"city": "x"}]')
    assert parser.value == [{"city": 3}, Stop(city="x")]


def test_values_already_shown_are_not_copied_again() -> None:
    parser = PartialJSON()
    parser.feed('{"done": {"a": [1, 2]}, "open": "')
    first = parser.value
    parser.feed("more")
    assert parser.value["done"] is first["done"]  # closed: shared
    assert first["open"] == ""  # what was handed out does not change


@pytest.mark.parametrize(
    ("text", "where"),
    [("{,", 1), ('{"a" 1', 5), ("[1 2]", 3), ("[1,]", 3), ('"\\x"', 2), ("nul!", 3), ("[] x", 3)],
)
def test_text_that_is_not_json_stops_with_where(text: str, where: int) -> None:
    parser = PartialJSON()
    with pytest.raises(PartialJSONError) as caught:
        for char in text:
            parser.feed(char)
    assert caught.value.offset == where
    assert parser.error is caught.value
    with pytest.raises(PartialJSONError):
        parser.feed("1")  # stays stopped
