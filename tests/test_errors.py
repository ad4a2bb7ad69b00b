"""The exception helpers: what a malformed event becomes, whatever the decoder raised."""

from __future__ import annotations

import msgspec
import pytest

import xstream
from xstream._errors import malformed_event


@pytest.mark.parametrize(
    "exc",
    [
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),  # msgspec <= 0.22
        msgspec.DecodeError("Invalid UTF-8 encoded string"),  # msgspec 0.23
        msgspec.ValidationError("Expected `str`"),
        ValueError("anything else a decoder may raise"),
    ],
)
def test_invalid_utf8_is_told_from_the_bytes_not_the_exception(exc: ValueError) -> None:
    raw = b'{"delta": "ok \xe2\x82"}'
    error = malformed_event(raw, exc, position=3, subject="event #3", expected="a chunk")
    assert type(error) is xstream.InvalidUTF8Error
    assert error.position == 3 and error.payload == raw and error.__cause__ is exc
    assert "byte 14" in str(error) and "event #3" in str(error)


@pytest.mark.parametrize(
    "exc",
    [msgspec.DecodeError("truncated"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad")],
)
def test_valid_utf8_that_does_not_decode_is_malformed_not_invalid_utf8(exc: ValueError) -> None:
    raw = b'{"delta": "caf\xc3\xa9"'
    error = malformed_event(raw, exc, position=0, subject="event #0", expected="a chunk")
    assert type(error) is xstream.MalformedEventError
    assert "is not a chunk" in str(error) and error.payload == raw


def test_the_payload_kept_is_at_most_200_bytes() -> None:
    raw = b"\xff" + b"x" * 1000
    error = malformed_event(raw, ValueError(), position=0, subject="event #0", expected="a chunk")
    assert error.payload == raw[:200]
