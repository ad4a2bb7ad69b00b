"""Any event stream: ``EventStream``, and the reconnection the SSE standard defines.

A stream kind on the engine (:mod:`xstream._streams.engine`), open to every
``text/event-stream`` endpoint, plus what the WHATWG standard calls
"reestablishing the connection" (HTML, section 9.2.3):

* A *resumable* stream (``GET`` by default; ``POST`` only when the caller opts
  in with ``reconnect=True``) that drops, or ends, is opened again after the
  reconnection time (the server's last ``retry:``, else one second), with the
  header ``Last-Event-ID`` set to the last event ID seen. A stream that ends
  cleanly counts as dropped too: that is what ``EventSource`` does, and what
  servers that close long polls expect.
* Consecutive failures back off (the delay doubles, capped); after
  ``max_reconnects`` attempts in a row that bring no new event the stream gives
  up with :class:`StreamDisconnectedError`. HTTP 204 stops it for good, as a
  clean end. A non-retryable status (4xx) or a body that is not an event stream
  is raised at once.
* A ``POST`` is not reconnected by default, because opening it again usually
  starts the work again (a second generation). Like chat streams, it is retried
  only while no event has reached the caller (the engine does that).

Events are handed out only when complete, and the ``Last-Event-ID`` we send is
the ID in effect at the last blank line, so a server that resumes *after* that
ID delivers every event exactly once across drops.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import types
import typing
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import aiohttp
import msgspec

from .._config.retries import retry_delay, status_is_retryable
from .._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    IncompleteStreamError,
    ProtocolError,
    StreamDisconnectedError,
    TotalTimeoutError,
)
from .._sse.decoder import ServerSentEvent, SSEDecoder
from .._transport.errors import error_event, headers_of
from .._transport.request import Opened, Request
from .._transport.transport import Transport
from .engine import StreamEngine
from .relay import aiohttp_response, event_block, json_of, relay
from .state import next_state
from .stats import BaseStats

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "DEFAULT_MAX_RECONNECTS",
    "DEFAULT_RECONNECT_DELAY",
    "MAX_RECONNECT_DELAY",
    "Decode",
    "EventStream",
    "EventStreamStats",
    "event_decoder",
    "open_event_stream",
]

log = logging.getLogger("xstream")

_T = TypeVar("_T")

DEFAULT_RECONNECT_DELAY = 1.0  # seconds, until the server sends retry:
MAX_RECONNECT_DELAY = 30.0  # cap of the backoff (a larger retry: from the server still wins)
DEFAULT_MAX_RECONNECTS = 5  # attempts in a row without a new event

_DONE = b"[DONE]"

Decode = Callable[[ServerSentEvent, aiohttp.ClientResponse], Any]
"""Turns one event into an item, ``None`` to skip it; may raise ``ValueError``
(a malformed payload) or an ``APIError`` (an error sent in the stream)."""


class EventStreamStats(BaseStats, kw_only=True):
    """Live numbers about one event stream (times in seconds, from the first request).

    ``events``: items handed out; ``skipped``: events a typed stream had no type
    for; ``bytes``: received, all connections together; ``reconnects``:
    reconnection attempts; ``retries``: attempts redone before the first event;
    ``last_event_id``: what a reconnect sends as ``Last-Event-ID``;
    ``reconnection_time``: the server's last ``retry:`` in milliseconds;
    ``done``: the stream ended normally (clean end of a stream that is not
    resumed, HTTP 204, ``[DONE]``, or its final event).
    """

    events: int = 0
    skipped: int = 0
    reconnects: int = 0
    last_event_id: str = ""
    reconnection_time: int | None = None
    time_to_first_event: float | None = None


class EventStream(StreamEngine[_T]):
    """The events of one ``text/event-stream`` response: iterate with ``async for``.

    Items are :class:`ServerSentEvent` objects, or instances of the ``type=``
    the stream was opened with. ``async with stream:`` or ``await
    stream.aclose()`` releases the connection; so does leaving the loop early.
    Read once, like :class:`AsyncStream`. ``stats`` counts events, bytes and
    reconnects; ``response`` is the current connection's response.

    >>> stream = await client.sse("GET", "/events")          # doctest: +SKIP
    >>> async with stream:
    ...     async for event in stream:
    ...         print(event.id, event.event, event.data)
    """

    _stats: EventStreamStats
    _observes = False  # a subclass that sets this sees every item in _see()

    def __init__(
        self,
        transport: Transport,
        opened: Opened,
        *,
        decode: Decode | None = None,
        needs_final: bool = False,
        reconnect: bool = False,
        max_reconnects: int = DEFAULT_MAX_RECONNECTS,
        last_event_id: str = "",
    ) -> None:
        super().__init__(transport, opened, stats=EventStreamStats(last_event_id=last_event_id))
        self._decode = decode
        self._needs_final = needs_final  # an end before that item is an error
        self._reconnect = reconnect
        self._max_reconnects = max_reconnects
        self._failures = 0  # reconnect attempts since the last event
        # While relayed: each typed item with the event it was decoded from, until relayed.
        self._wire_events: deque[tuple[Any, ServerSentEvent]] | None = None
        if opened.response.status == 204:  # "no content": nothing to read, nothing to resume
            self.stats.done = True
            self.state = next_state(self.state, "body_ended")  # released by the transport

    @property  # type: ignore[override]
    def stats(self) -> EventStreamStats:
        """Live numbers; ``last_event_id`` and ``reconnection_time`` are the decoder's
        as of the last byte read (a ``retry:`` block with no event counts too)."""
        stats = self._stats
        decoder: SSEDecoder | None = getattr(self, "_decoder", None)
        if decoder is not None:
            stats.last_event_id = decoder.last_event_id
            stats.reconnection_time = decoder.reconnection_time
        return stats

    @stats.setter
    def stats(self, value: EventStreamStats) -> None:
        self._stats = value

    def to_sse(self) -> AsyncIterator[bytes]:
        """The stream re-encoded as ``text/event-stream`` bytes, to relay it on.

        A :class:`ServerSentEvent` goes on as it came (``event``, ``id``, ``retry``,
        ``data``); a typed item as ``data: {json}``, named by its tag when it is a
        tagged Struct. An error mid-stream is sent as one ``event: error`` and ends
        it. Closing the iterator (the web framework does when the client leaves)
        closes this stream at once. For Starlette and FastAPI::

            return StreamingResponse(stream.to_sse(), media_type="text/event-stream")
        """
        return self._relay()

    async def to_aiohttp_response(self, request: web.BaseRequest) -> web.StreamResponse:
        """Relay the stream to an ``aiohttp.web`` client (see :meth:`to_sse`): the
        response to return from the handler. The moment the client leaves, also
        while the server is quiet, this stream is closed."""
        return await aiohttp_response(request, self._relay())

    def _relay(self) -> AsyncGenerator[bytes, None]:
        self.keep_wire()
        return relay(self, self.sse_item, self._close, b"")

    def keep_wire(self) -> None:
        """Keep the event each typed item came from until :meth:`sse_item` relays it:
        what :meth:`to_sse` does, so the relay passes on the server's data unchanged."""
        if self._wire_events is None and self._decode is not None:
            self._wire_events = deque()

    def _wire_block(self, item: Any) -> bytes | None:
        """``item``'s event as the server sent it (its name and data), while kept."""
        kept = self._wire_events
        while kept:
            seen, event = kept.popleft()
            if seen is item:
                return event_block(event.raw, event=event.event)
        return None

    def sse_item(self, item: Any) -> bytes:
        if isinstance(item, ServerSentEvent):
            return event_block(item.raw, event=item.event, id=item.id, retry=item.retry)
        wire = self._wire_block(item)
        if wire is not None:
            return wire
        tag = getattr(getattr(item, "__struct_config__", None), "tag", None)
        return event_block(json_of(item), event=tag if isinstance(tag, str) else None)

    def _see(self, item: _T) -> bool | None:
        """A subclass's look at each item (when ``_observes``): True ends the stream
        (the item is the last), None drops the item (one already handed out).

        A method, not a callback attribute: a bound method stored on the stream
        would make a reference cycle, and only the cyclic GC could then release
        an unread stream.
        """
        return False

    # ------------------------------------------------------------ the kind

    @property
    def _delivered(self) -> int:
        return self.stats.events

    def _repr_extra(self) -> str:
        return f" reconnects={self.stats.reconnects}"

    def _last_event_id(self) -> str:
        return self.stats.last_event_id

    def _new_decoder(self) -> SSEDecoder:
        """A decoder for a new connection that carries the stream's state: the last
        event ID stays until the new connection sets one, and so does retry:."""
        decoder = SSEDecoder(max_event_bytes=self._max_event_bytes)
        decoder.last_event_id = self.stats.last_event_id
        decoder.reconnection_time = self.stats.reconnection_time
        return decoder

    def _decode_events(self, events: list[ServerSentEvent], now: float) -> list[_T]:
        """Turn events into items (decoded, observed), stopping at a failure or the end."""
        stats = self.stats
        if stats.time_to_first_event is None:
            stats.time_to_first_event = now - self._sent
        self._failures = 0
        decode, observe = self._decode, self._observes
        wire = self._wire_events
        if decode is None and not observe:
            out = cast("list[_T]", events)
        else:
            out = []
            for event in events:
                try:
                    item: Any = event if decode is None else decode(event, self.response)
                except ValueError as exc:  # msgspec errors (and UnicodeDecodeError before 0.23)
                    if event.raw.strip() == _DONE:
                        self._end()
                    else:
                        self._pending = self._malformed(event, events, exc)
                    break
                except APIError as exc:
                    self._pending = exc
                    break
                if item is None:
                    stats.skipped += 1
                    continue
                verdict = self._see(item) if observe else False
                if verdict is None:
                    stats.skipped += 1
                    continue
                out.append(item)
                if wire is not None:
                    wire.append((item, event))
                if verdict:
                    self._end()
                    break
        stats.events += len(out)
        return out

    def _body_ended(self, decoder: SSEDecoder) -> BaseException | None:
        decoder.close()
        cut = " inside an event" if decoder.discarded else ""
        where, count = self._request.where, self.stats.events
        if self._reconnect:
            # EventSource reconnects when the body ends: so do we (204 stops it).
            return StreamDisconnectedError(
                f"{where} ended the stream{cut} after {count} events", events_received=count
            )
        if self._needs_final or cut:
            return IncompleteStreamError(
                f"the stream from {where} ended{cut} before its final event, "
                f"after {count} events: the output may be cut short",
                events_received=count,
            )
        return None

    # ------------------------------------------------------------ resuming

    async def _resume(self, error: BaseException) -> bool:
        if not (self._reconnect and isinstance(error, StreamDisconnectedError | ProtocolError)):
            return False
        await self._reconnect_after(error)
        return True

    async def _reconnect_after(self, error: APIError) -> None:
        """The standard's "reestablish the connection", with backoff and a cap."""
        stats = self.stats  # last_event_id and retry: as the decoder has them (also id-only blocks)
        self.response.close()
        request = self._request
        while True:
            if self._failures >= self._max_reconnects:
                raise StreamDisconnectedError(
                    f"gave up on {request.where} after {self._failures} reconnects in a row "
                    f"without a new event; last: {error}",
                    events_received=stats.events,
                ) from error
            delay = self._reconnect_delay(error)
            if delay is None:  # the server asked to wait longer than we will
                raise error
            remaining = self._remaining()
            if remaining is not None and delay >= remaining:
                seconds = self._timeout.total
                raise TotalTimeoutError(
                    f"the total deadline of {seconds} s ends before {request.where} "
                    f"can be reconnected; {stats.events} events had arrived",
                    deadline="total",
                    seconds=seconds,
                    events_received=stats.events,
                ) from error
            log.info(
                "reconnecting to %s in %.3f s (reconnect %d, Last-Event-ID %r) after: %s",
                request.where,
                delay,
                stats.reconnects + 1,
                stats.last_event_id,
                error,
            )
            await asyncio.sleep(delay)
            self._failures += 1
            stats.reconnects += 1
            phase = "first_event" if self._last_event is None else "idle"
            sent = self._loop.time()
            try:
                response = await self._transport.attempt(
                    request, stats.last_event_id, started=self._started, phase=phase
                )
                await self._transport.check_event_stream(response, request, started=self._started)
            except APIStatusError as exc:
                if not status_is_retryable(exc.status_code, headers_of(exc) or {}):
                    raise
                error = exc
                continue
            except APIConnectionError as exc:
                error = exc
                continue
            self._use(response, sent)
            if response.status == 204:
                log.info("%s answered 204 No Content: the stream is over", request.where)
                stats.done = True
                self.state = next_state(self.state, "body_ended")
            return

    def _reconnect_delay(self, error: APIError) -> float | None:
        headers = headers_of(error)
        if headers and ("retry-after" in headers or "retry-after-ms" in headers):
            return retry_delay(self._failures, headers)
        ms = self.stats.reconnection_time
        base = DEFAULT_RECONNECT_DELAY if ms is None else ms / 1000
        return float(min(base * 2**self._failures, max(base, MAX_RECONNECT_DELAY)))

    def _remaining(self) -> float | None:
        total = self._timeout.total
        if total is None:
            return None
        return self._started + total - self._loop.time()


# ---------------------------------------------------------------- typed events


def event_decoder(type: Any) -> Decode:
    """How a typed stream turns events into ``type`` instances.

    * ``type`` a tagged Struct, or a union of them (``msgspec.Struct`` with
      ``tag=...``): each event is decoded into the member whose tag is the
      event's name (``event: join`` -> the Struct with ``tag="join"``); the
      data need not repeat the tag. Unnamed events (``"message"``) with no
      member of that name are decoded with the whole union, so streams that
      put the tag inside the JSON work too. Events named after no member are
      skipped (``stats.skipped``), except ``event: error``, raised as
      :class:`ServerStreamError`.
    * any other type (a Struct, ``dict``, ``list[int]``, ...): every event's
      data is decoded into it, whatever the event's name.

    Events with no data are skipped; ``data: [DONE]`` ends the stream.
    """
    whole = msgspec.json.Decoder(type)
    members = _tagged_members(type)
    if not members:

        def decode_any(event: ServerSentEvent, response: aiohttp.ClientResponse) -> Any:
            return whole.decode(event.raw) if event.raw else None

        return decode_any

    by_name = {tag: msgspec.json.Decoder(cls) for tag, cls in members.items()}

    def decode_tagged(event: ServerSentEvent, response: aiohttp.ClientResponse) -> Any:
        decoder = by_name.get(event.event)
        if decoder is not None:
            return decoder.decode(event.raw or b"{}")
        if not event.raw:
            return None
        if event.event == "message":
            return whole.decode(event.raw)
        if event.event == "error":
            raise error_event(event, response)
        return None

    return decode_tagged


def _tagged_members(tp: Any) -> dict[str, builtins.type[msgspec.Struct]]:
    """``{tag: Struct}`` when ``tp`` is a str-tagged Struct or a union of them, else ``{}``."""
    origin = typing.get_origin(tp)
    members = typing.get_args(tp) if origin in (typing.Union, types.UnionType) else (tp,)
    out: dict[str, builtins.type[msgspec.Struct]] = {}
    for member in members:
        if not (isinstance(member, builtins.type) and issubclass(member, msgspec.Struct)):
            return {}
        tag = member.__struct_config__.tag
        if not isinstance(tag, str):
            return {}
        out[tag] = member
    return out


# ---------------------------------------------------------------- opening


async def open_event_stream(
    transport: Transport,
    request: Request,
    *,
    type: Any,
    reconnect: bool | None,
    max_reconnects: int,
    last_event_id: str | None,
) -> EventStream[Any]:
    """Send ``request`` (retrying what is safe) and read its body as an event stream."""
    if max_reconnects < 0:
        raise ValueError("max_reconnects must be >= 0")
    opened = await transport.open(request, last_event_id=last_event_id or "")
    return EventStream(
        transport,
        opened,
        decode=None if type is None else event_decoder(type),
        reconnect=request.method == "GET" if reconnect is None else reconnect,
        max_reconnects=max_reconnects,
        last_event_id=last_event_id or "",
    )
