"""A sans-IO decoder for ``text/event-stream``: bytes in, events out.

It follows the WHATWG HTML standard, section 9.2.6 "Parsing an event stream"
and "Interpreting an event stream", exactly. Like h11, it does no I/O at all:
the client feeds it whatever the socket delivered and gets back the events
those bytes completed.

Why it is fast (every byte of every token passes through here):

* Line ends are found by ``bytes.rfind`` over the *new* piece only. Bytes that
  end no line are parked in a list and joined once, when their line ends, so
  a 16 MiB line fed in 1 KiB pieces costs O(16 MiB), not O(n^2).
* The complete lines of a piece are split in one C call: ``split(b"\\n")``,
  or ``splitlines()`` when the piece has a CR (for bytes it splits on CR, LF
  and CRLF only, exactly the standard's line ends).
* Field names are compared as bytes and the ``data`` value stays bytes: the
  client hands it to msgspec without ever building a ``str``. ``event.data``
  decodes on demand, with U+FFFD for invalid UTF-8 as the standard says.

Comparing names as bytes is exact: the standard decodes the stream as UTF-8
with replacement first, but line ends are ASCII and never inside a multi-byte
sequence, and an invalid sequence decodes to U+FFFD, which no field name has.
"""

from __future__ import annotations

from operator import itemgetter
from typing import cast

import msgspec

from .._exceptions import EventTooLargeError

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "SSEDecoder", "ServerSentEvent"]

DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024

_AFTER_DATA = itemgetter(slice(6, None))  # line[6:]: the value of a "data: " line
# The whole-read checks pay off from this many lines on; a read of a few lines (a
# network read of one or two events, small pieces) is quicker line by line.
_UNIFORM_LINES = 8
_BOM = b"\xef\xbb\xbf"  # stripped once, at the very start of the stream (WHATWG: "UTF-8 decode")
_LF = 10
_CR = 13  # (an int: "in" finds a byte by memchr, 6x faster than a bytes needle)
# No pieces or data lines pending: one shared empty tuple, not a list per decoder (an
# object less for the garbage collector per waiting stream; appending to it fails loudly).
_NONE: tuple[()] = ()


class ServerSentEvent(msgspec.Struct, frozen=True, gc=False):
    """One dispatched event.

    ``event`` is the type (``"message"`` when the stream named none), ``raw``
    the data field's bytes exactly as received (lines joined with LF), ``id``
    the last event ID in effect at dispatch (``None`` until the stream set one,
    ``""`` after an explicit reset) and ``retry`` the valid ``retry`` value of
    this event's own block, else ``None``.

    >>> ServerSentEvent("message", b'{"a": 1}').data
    '{"a": 1}'
    """

    event: str = "message"
    raw: bytes = b""
    id: str | None = None
    retry: int | None = None

    @property
    def data(self) -> str:
        """The data as text; invalid UTF-8 becomes U+FFFD (decoded on each access)."""
        return self.raw.decode("utf-8", "replace")


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


class SSEDecoder:
    """Incremental ``text/event-stream`` decoder.

    ``feed(piece)`` returns the events completed by that piece; ``close()``
    marks the end of input. Afterwards ``discarded`` tells whether the input
    ended inside an event (an unterminated line, or a block with data but no
    blank line after it), which the standard drops silently and a client
    should report as a truncated stream.

    ``max_event_bytes`` bounds what one event, or one unterminated line, may
    buffer. Past it :class:`EventTooLargeError` is raised; the events that
    the same piece completed before it travel on the exception (``.events``).

    >>> d = SSEDecoder()
    >>> d.feed(b"data: hel")
    []
    >>> [e.data for e in d.feed(b"lo\\r\\n\\r\\n")]
    ['hello']

    Also exposed, as the standard defines them for reconnecting:
    ``last_event_id`` (set at each blank line, ``""`` until an id is seen) and
    ``reconnection_time`` (milliseconds, from the last valid ``retry`` field).
    """

    __slots__ = (
        "_closed",
        "_data",
        "_data_bytes",
        "_error",
        "_event",
        "_id",
        "_parts",
        "_parts_len",
        "_payloads",
        "_retry",
        "_skip_lf",
        "_started",
        "discarded",
        "last_event_id",
        "max_event_bytes",
        "reconnection_time",
    )

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if max_event_bytes < 1:
            raise ValueError("max_event_bytes must be a positive number of bytes")
        self.max_event_bytes = max_event_bytes
        self.last_event_id = ""
        self.reconnection_time: int | None = None
        self.discarded = False
        # The unterminated line so far, as the pieces that brought it.
        self._parts: list[bytes] | tuple[()] = _NONE
        self._parts_len = 0
        self._payloads = False  # feed_payloads is feeding
        # A piece ended in CR: an LF opening the next piece belongs to it.
        self._skip_lf = False
        self._started = False  # past the first line (where a BOM may sit)
        self._closed = False
        self._error: EventTooLargeError | None = None
        # The block being read: data lines, event type, id buffer, retry.
        self._data: list[bytes] | tuple[()] = _NONE
        self._data_bytes = 0
        self._event = b""
        self._id: str | None = None  # the standard's "last event ID buffer"; None = never set
        self._retry: int | None = None

    def feed_payloads(
        self, data: bytes | bytearray | memoryview
    ) -> list[bytes] | list[ServerSentEvent]:
        """Like :meth:`feed`, for clients that read only the data of unnamed events.

        When every event the piece completed is unnamed (``message``) and set no
        id or retry of its own, they come back as their data (``bytes``), without
        building an event object for each: the shape of nearly every read of a
        chat completion stream. Otherwise the events come back as :meth:`feed`
        returns them. The id in effect is :attr:`last_event_id` in both cases.

        A piece that is exactly one ``data: <value>`` event, between events, is the
        read of a paced stream (a model's answer, token by token): it is answered in a
        few C calls, without splitting it into lines.
        """
        if (
            type(data) is bytes
            and data.startswith(b"data: ")
            and data.find(b"\n") == len(data) - 2
            and data[-1] == _LF
            and not self._parts
            and not self._data
            and self._started
            and not self._skip_lf
            and not self._event
            and self._retry is None
            and self._error is None
            and not self._closed
            and len(data) <= self.max_event_bytes
            and _CR not in data
        ):
            if self._id is not None:
                self.last_event_id = self._id
            return [data[6:-2]]
        self._payloads = True
        try:
            return self.feed(data)
        finally:
            self._payloads = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[ServerSentEvent]:
        """Take the next piece of the stream; return the events it completed."""
        if self._error is not None or self._closed:
            self._refuse()
        if type(data) is not bytes:
            data = bytes(data)
        if self._skip_lf and data:
            self._skip_lf = False
            if data[0] == _LF:
                data = data[1:]
        if not data:
            return []
        cr = data.rfind(b"\r")
        end = data.rfind(b"\n")
        if cr > end:
            end = cr
        if end < 0:  # no line ends in this piece: park it
            if isinstance(self._parts, list):
                self._parts.append(data)
            else:
                self._parts = [data]
            self._parts_len += len(data)
            if self._parts_len + self._data_bytes > self.max_event_bytes:
                self._fail(self._parts_len + self._data_bytes, [])
            return []
        end += 1
        if end == len(data):
            head, tail = data, b""
            self._skip_lf = cr == end - 1
        else:
            head, tail = data[:end], data[end:]
        if self._parts:
            head = b"".join([*self._parts, head])
            self._parts = _NONE
        # bytes.splitlines() splits on CR, LF and CRLF only (unlike str.splitlines),
        # exactly the standard's line ends; split(b"\n") is faster when there is no CR.
        if cr >= 0:
            lines = head.splitlines()
        else:
            lines = head.split(b"\n")
            lines.pop()  # head ends with a line end: the last element is always b""
        if not self._started:
            self._started = True
            if lines[0].startswith(_BOM):
                lines[0] = lines[0][3:]
        events = self._lines(lines)
        if len(head) > self.max_event_bytes:  # rare: only then can one event be too large
            self._check_events(self._as_events(events))
        self._parts_len = len(tail)
        if tail:
            self._parts = [tail]  # (none pending here: joined above)
        if self._parts_len + self._data_bytes > self.max_event_bytes:
            self._fail(self._parts_len + self._data_bytes, self._as_events(events))
        # bytes only from feed_payloads (no cast(): a call per feed)
        return events  # type: ignore[return-value]

    def close(self) -> list[ServerSentEvent]:
        """Mark the end of input. Never raises; returns no events (the standard
        discards an unterminated final event) and sets ``discarded``."""
        if not self._closed:
            self._closed = True
            pending = self._parts_len
            if pending and not self._started and b"".join(self._parts) == _BOM:
                pending = 0  # a body that is only a BOM ends no event
            self.discarded = self.discarded or bool(pending or self._data)
            self._parts = _NONE
            self._parts_len = 0
            self._data = _NONE
        return []

    def unterminated(self) -> ServerSentEvent | None:
        """The event a blank line would dispatch now, if any; the decoder is left
        as it is. For clients that choose to be lenient with servers that end the
        stream without the final blank line (the standard drops that block)."""
        if self._error is not None or self._closed:
            return None
        probe = SSEDecoder(max_event_bytes=self.max_event_bytes)
        probe._started = self._started
        probe._data = list(self._data)
        probe._data_bytes = self._data_bytes
        probe._event, probe._id, probe._retry = self._event, self._id, self._retry
        try:
            events = probe.feed(b"".join(self._parts) + b"\n\n")
        except EventTooLargeError:
            return None
        return events[-1] if events else None

    # ------------------------------------------------------------ internals

    def _as_events(self, events: list[bytes] | list[ServerSentEvent]) -> list[ServerSentEvent]:
        """What :meth:`feed` would have returned for what :meth:`feed_payloads` did."""
        if events and type(events[0]) is bytes:
            return [ServerSentEvent("message", raw, self._id) for raw in events]
        return cast("list[ServerSentEvent]", events)

    def _lines(self, lines: list[bytes]) -> list[bytes] | list[ServerSentEvent]:
        """Interpret complete lines: the standard's per-line steps, in order.

        The hottest loop of xstream: state lives in locals, and attributes are
        written only when they change.
        """
        first = self._data
        if len(lines) >= _UNIFORM_LINES and not first and not self._event and self._retry is None:
            shaped = self._uniform(lines)
            if shaped is not None:
                return shaped
        data = first if isinstance(first, list) else []  # (never appended to: _NONE)
        events: list[ServerSentEvent] = []
        append = events.append
        known = len(data)
        for line in lines:
            if not line:  # blank line: dispatch
                if self._id is not None:
                    self.last_event_id = self._id
                if data:
                    raw = data[0] if len(data) == 1 else b"\n".join(data)
                    event = _text(self._event) if self._event else "message"
                    append(ServerSentEvent(event, raw, self._id, self._retry))
                    data = []
                if self._event:
                    self._event = b""
                if self._retry is not None:
                    self._retry = None
            elif line.startswith(b"data: "):
                data.append(line[6:])
            elif line.startswith(b"data:"):
                data.append(line[5:])
            elif line.startswith(b"event: "):  # named events (the Responses API): one step
                self._event = line[7:]
            elif line[0] != 0x3A:  # 0x3A ':' starts a comment
                self._field(line, data)
        # Count what the unfinished block buffers, touching only this piece's lines.
        if data is first:
            if len(data) > known:
                self._data_bytes += sum(map(len, data[known:])) + len(data) - known
        else:
            self._data = data or _NONE
            self._data_bytes = sum(map(len, data)) + len(data)
        return events

    def _uniform(self, lines: list[bytes]) -> list[bytes] | list[ServerSentEvent] | None:
        """The shapes nearly every stream has, checked and decoded in C-speed steps.

        When the lines are blocks of exactly ``data: <value>`` and a blank line
        (chat completions; comment blocks such as keep-alives may sit between
        them), or of ``event: <type>``, ``data: <value>`` and a blank line (the
        Responses API), the per-line steps reduce to slicing: such a block sets
        no id or retry and its data is its one value, and a comment block
        dispatches nothing. Whether every block has that shape is decided
        without a Python-level loop over the lines: the blank lines are all
        empty (``any``), and every line of a column starts with the field name
        exactly when its smallest and largest line do (lines sharing a prefix
        are contiguous in byte order). Any other shape returns ``None`` and
        takes the general loop. Called only between blocks.
        """
        count = len(lines)
        if not count:
            return None
        id_ = self._id
        if count % 2 == 0 and not any(lines[1::2]):
            values = lines[::2]
            if min(values)[:1] == b":":  # comment blocks: skip them, they dispatch nothing
                values = [value for value in values if value[0] != 0x3A]
            if not values or (
                min(values).startswith(b"data: ") and max(values).startswith(b"data: ")
            ):
                if id_ is not None:
                    self.last_event_id = id_
                if self._payloads:  # feed_payloads: the values after "data: ", sliced in C
                    return list(map(_AFTER_DATA, values))
                return [ServerSentEvent("message", value[6:], id_) for value in values]
        if count % 3 == 0 and not any(lines[2::3]):
            names = lines[::3]
            values = lines[1::3]
            if (
                min(names).startswith(b"event: ")
                and max(names).startswith(b"event: ")
                and min(values).startswith(b"data: ")
                and max(values).startswith(b"data: ")
            ):
                if id_ is not None:
                    self.last_event_id = id_
                return [
                    ServerSentEvent(_text(name[7:]) or "message", value[6:], id_)
                    for name, value in zip(names, values, strict=True)
                ]
        return None

    def _field(self, line: bytes, data: list[bytes]) -> None:
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":  # "data" with no colon
            data.append(value)
        elif name == b"event":
            self._event = value
        elif name == b"id":
            if b"\x00" not in value:
                self._id = _text(value)
        elif name == b"retry" and value.isdigit():  # ASCII digits only, unlike int()
            self._retry = self.reconnection_time = int(value)
        # any other name is ignored

    def _check_events(self, events: list[ServerSentEvent]) -> None:
        """A piece larger than the limit may hold a whole oversized event."""
        for i, event in enumerate(events):
            if len(event.raw) > self.max_event_bytes:
                self._fail(len(event.raw), events[:i])

    def _refuse(self) -> None:
        if self._closed:
            raise RuntimeError("feed() after close()")
        raise EventTooLargeError(str(self._error), limit=self.max_event_bytes)

    def _fail(self, buffered: int, events: list[ServerSentEvent]) -> None:
        self._parts = _NONE
        self._parts_len = 0
        self._data = _NONE
        self._data_bytes = 0
        self.discarded = True
        self._error = EventTooLargeError(
            f"an event outgrew the decoder's limit of {self.max_event_bytes} bytes "
            f"({buffered} bytes in one event); raise it with "
            "max_event_bytes=... if the server really sends events this large",
            limit=self.max_event_bytes,
            events=events,
        )
        raise self._error
