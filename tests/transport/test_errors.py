"""The exception helpers: what a malformed event becomes, whatever the decoder raised."""

from __future__ import annotations

import msgspec
import pytest

import xstream
from xstream._exceptions import malformed_event


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


# ---------------------------------------------------------------- public names

SAMPLES = [
    xstream.RateLimitError("slow down", status_code=429, body={"error": {"code": "rate"}}),
    xstream.StreamRateLimitError("slow", status_code=429, body={"error": {"type": "rate_limit"}}),
    xstream.IdleTimeoutError("quiet", deadline="idle", seconds=1.5, events_received=3),
    xstream.MalformedEventError("bad", position=2, payload=b"{x"),
    xstream.IncompleteStreamError("cut", events_received=4),
    xstream.NotStreamedError("whole", body={"id": "x"}, raw=b'{"id":"x"}'),
    xstream.EventTooLargeError("big", limit=10),
    xstream.APIConnectionError(),
    xstream.ConfigurationError("no key"),
    xstream.RefusalError("I cannot", completion=None),
    xstream.ToolArgumentsError("bad", tool_call_id="call_1", name="f", arguments="{"),
]


def test_every_error_is_shown_by_its_public_name() -> None:
    public = [getattr(xstream, n) for n in xstream.__all__]
    errors = [e for e in public if isinstance(e, type) and issubclass(e, BaseException)]
    assert len(errors) > 30
    assert {e.__name__ for e in errors if e.__module__ != "xstream"} == set()
    public = [e for e in errors if e.__module__ == "xstream"]
    assert all(getattr(xstream, c.__name__) is c for c in public)
    assert repr(xstream.RateLimitError) == "<class 'xstream.RateLimitError'>"


def test_a_traceback_names_xstream_rate_limit_error() -> None:
    import traceback

    try:
        raise SAMPLES[0]
    except xstream.RateLimitError as exc:
        text = "".join(traceback.format_exception(exc))
    assert text.splitlines()[-1] == "xstream.RateLimitError: slow down"
    assert "_errors" not in text.splitlines()[-1]


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_errors_pickle_round_trip(error: xstream.XStreamError) -> None:
    import pickle

    for protocol in (0, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL):
        data = pickle.dumps(error, protocol=protocol)
        copy = pickle.loads(data)
        assert type(copy) is type(error) and copy.args == error.args and str(copy) == str(error)
        assert vars(copy) == vars(error)


def test_a_pickled_error_loads_in_a_fresh_process_by_its_public_name() -> None:
    import pickle
    import subprocess
    import sys

    data = pickle.dumps(SAMPLES[0])
    assert b"xstream" in data and b"RateLimitError" in data
    code = (
        "import pickle, sys; e = pickle.loads(sys.stdin.buffer.read()); "
        "print(type(e).__module__, type(e).__name__, e.status_code, e.code, e.response)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=data, capture_output=True, check=True, timeout=30
    )
    assert out.stdout.decode().split() == ["xstream", "RateLimitError", "429", "rate", "None"]


def test_the_live_response_does_not_travel_in_a_pickle() -> None:
    import pickle

    error = xstream.RateLimitError("x", status_code=429)
    error.response = object()  # type: ignore[assignment]  # stands in for a ClientResponse
    assert pickle.loads(pickle.dumps(error)).response is None
