"""Any event stream: ``EventStream``, and the reconnection the SSE standard defines.

The same decoder, deadlines and error mapping as chat streams, opened to every
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
  only while no event has reached the caller.

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
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar, cast, overload

import aiohttp
import msgspec
from yarl import URL

from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ConnectTimeoutError,
    FirstEventTimeoutError,
    IdleTimeoutError,
    IncompleteStreamError,
    MalformedEventError,
    StreamDisconnectedError,
    TotalTimeoutError,
    malformed_event,
    stream_error,
)
from ._http import ErrorMapper, earliest, header_secrets
from ._retries import retry_delay, status_is_retryable
from ._sse import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder
from ._stream import BatchReader, _deadline_name, _headers_of, _received_before_error
from ._timeouts import DEFAULT_TIMEOUT, Timeout, TimeoutTypes

if TYPE_CHECKING:
    from ._client import AsyncClient

__all__ = [
    "DEFAULT_MAX_RECONNECTS",
    "DEFAULT_RECONNECT_DELAY",
    "MAX_RECONNECT_DELAY",
    "EventStream",
    "EventStreamStats",
    "client_sse",
    "event_decoder",
    "open_sse",
]

log = logging.getLogger("xstream")

_T = TypeVar("_T")

DEFAULT_RECONNECT_DELAY = 1.0  # seconds, until the server sends retry:
MAX_RECONNECT_DELAY = 30.0  # cap of the backoff (a larger retry: from the server still wins)
DEFAULT_MAX_RECONNECTS = 5  # attempts in a row without a new event

_DRAIN_BYTES = 64 * 1024
_DRAIN_SECONDS = 1.0
_DONE = b"[DONE]"


class _ClientDefault:
    def __repr__(self) -> str:
        return "CLIENT_DEFAULT"


CLIENT_DEFAULT: Any = _ClientDefault()
"""``timeout=`` not given: use the client's (its own sentinel: ``_client`` imports this module)."""

Decode = Callable[[ServerSentEvent, aiohttp.ClientResponse], Any]
"""Turns one event into an item, ``None`` to skip it; may raise ``ValueError``
(a malformed payload) or an ``APIError`` (an error sent in the stream)."""


class EventStreamStats(msgspec.Struct, kw_only=True):
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
    bytes: int = 0
    reconnects: int = 0
    retries: int = 0
    last_event_id: str = ""
    reconnection_time: int | None = None
    time_to_first_event: float | None = None
    elapsed: float = 0.0
    done: bool = False


# ---------------------------------------------------------------- opening


class _ErrorMapping(Protocol):
    """How non-2xx answers and non-event-stream bodies become exceptions.

    ``AsyncClient`` is one (its existing mapping, API key redacted);
    :class:`_SessionErrors` is the one for a caller's own session.
    """

    async def _status_error(self, response: aiohttp.ClientResponse) -> APIStatusError: ...

    async def _check_event_stream(self, response: aiohttp.ClientResponse) -> None: ...

    def _redact(self, text: str) -> str: ...


class _Request:
    """Everything needed to (re)open one event stream."""

    __slots__ = ("body", "errors", "headers", "method", "params", "session", "timeout", "url")

    def __init__(
        self,
        session: Callable[[], aiohttp.ClientSession],
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None,
        params: Mapping[str, str] | None,
        timeout: Timeout,
        errors: _ErrorMapping,
    ) -> None:
        self.session = session
        self.method = method.upper()
        self.url = url
        self.headers = headers
        self.body = body
        self.params = params
        self.timeout = timeout
        self.errors = errors

    @property
    def where(self) -> str:
        """The URL for messages and logs: no query string (it may hold a token)."""
        return self.errors._redact(self.url.partition("?")[0])

    async def open(self, last_event_id: str, limit: float | None) -> aiohttp.ClientResponse:
        """One attempt: a 2xx event stream (or a released 204), else a mapped error.

        ``limit`` bounds the wait for the response headers, in seconds.
        """
        headers = self.headers
        if last_event_id:
            headers = {**headers, "Last-Event-ID": last_event_id}
        t = self.timeout
        client_timeout = aiohttp.ClientTimeout(
            total=None, connect=t.connect, sock_connect=t.connect
        )
        try:
            session = self.session()
            async with asyncio.timeout(limit):
                response = await session.request(
                    self.method,
                    self.url,
                    params=self.params,
                    data=self.body,
                    headers=headers,
                    timeout=client_timeout,
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise self._transport_error(exc, limit) from exc
        if response.status == 204:
            response.release()
            return response
        if not 200 <= response.status < 300:
            raise await self.errors._status_error(response)
        await self.errors._check_event_stream(response)
        return response

    def _transport_error(self, exc: BaseException, limit: float | None) -> APIError:
        if isinstance(exc, aiohttp.ConnectionTimeoutError) or (
            isinstance(exc, aiohttp.ServerTimeoutError) and "connect" in str(exc).lower()
        ):
            seconds = self.timeout.connect
            return ConnectTimeoutError(
                f"could not connect to {self.where} within {seconds} s",
                deadline="connect",
                seconds=seconds,
            )
        if isinstance(exc, TimeoutError):
            return FirstEventTimeoutError(
                f"no response from {self.where} within {limit} s",
                deadline="first_event",
                seconds=limit,
            )
        detail = self.errors._redact(str(exc))
        return APIConnectionError(f"could not reach {self.where}: {type(exc).__name__}: {detail}")


async def _connect(
    request: _Request, last_event_id: str, retries: int
) -> tuple[aiohttp.ClientResponse, int]:
    """Open the stream, retrying what is safe (nothing was received yet);
    return the response and the retries left."""
    t = request.timeout
    limit = earliest(t.first_event, t.total)
    attempt = 0
    while True:
        try:
            return await request.open(last_event_id, limit), retries - attempt
        except APIStatusError as exc:
            headers = _headers_of(exc) or {}
            retryable = status_is_retryable(exc.status_code, headers)
            delay = retry_delay(attempt, headers)
            error: APIError = exc
        except APIConnectionError as exc:
            retryable, delay, error = True, retry_delay(attempt), exc
        if attempt >= retries or not retryable or delay is None:
            raise error
        log.debug("retrying %s %s in %.2f s after %s", request.method, request.where, delay, error)
        attempt += 1
        await asyncio.sleep(delay)


# ---------------------------------------------------------------- the stream


class EventStream(BatchReader[_T]):
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

    response: aiohttp.ClientResponse
    stats: EventStreamStats
    _observes = False  # a subclass that sets this sees every item in _see()

    def __init__(
        self,
        request: _Request,
        response: aiohttp.ClientResponse,
        *,
        started: float,
        decode: Decode | None = None,
        needs_final: bool = False,
        reconnect: bool = False,
        max_reconnects: int = DEFAULT_MAX_RECONNECTS,
        retries_left: int = 0,
        last_event_id: str = "",
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self.response = response
        self.stats = EventStreamStats(last_event_id=last_event_id)
        self._request = request
        self._decode = decode
        self._needs_final = needs_final  # an end before that item is an error
        self._reconnect = reconnect
        self._max_reconnects = max_reconnects
        self._retries_left = retries_left
        self._max_event_bytes = max_event_bytes
        self._loop = asyncio.get_running_loop()
        self._started = started
        self._connected = started  # when the current connection's request went out
        self._last_event: float | None = None
        self._failures = 0  # reconnect attempts since the last event
        self._events_seen = 0
        self._pending: BaseException | None = None
        self._broken: BaseException | None = None
        self._ended = False  # [DONE] or the final item arrived
        self._handed_out = False
        self._finished = False
        self._decoder = self._new_decoder()
        if response.status == 204:  # "no content": nothing to read, nothing to resume
            self.stats.done = True
            self._finished = True

    # ------------------------------------------------------------ public API

    def __repr__(self) -> str:
        state = "done" if self.stats.done else "closed" if self._finished else "open"
        return (
            f"<{type(self).__name__} {state} events={self.stats.events} "
            f"reconnects={self.stats.reconnects} status={self.response.status}>"
        )

    def __del__(self) -> None:
        if not getattr(self, "_finished", True):
            self.response.close()

    def _see(self, item: _T) -> bool:
        """A subclass's look at each item (when ``_observes``); True ends the stream.

        A method, not a callback attribute: a bound method stored on the stream
        would make a reference cycle, and only the cyclic GC could then release
        an unread stream.
        """
        return False

    # ------------------------------------------------------------ reading

    def _at_end(self) -> bool:
        return self._ended

    async def _wind_down(self) -> None:
        await self._finish()

    def _decode_events(self, events: list[ServerSentEvent]) -> list[_T]:
        return self._items(events)

    async def _retry(self, error: BaseException) -> bool:
        return await self._recover(error)

    def _items(self, events: list[ServerSentEvent]) -> list[_T]:
        """Turn events into items (decoded, observed), stopping at a failure or the end."""
        now = self._loop.time()
        stats = self.stats
        if stats.time_to_first_event is None:
            stats.time_to_first_event = now - self._started
        self._last_event = now
        self._failures = 0
        stats.elapsed = now - self._started
        stats.last_event_id = self._decoder.last_event_id
        decode, observe = self._decode, self._observes
        if decode is None and not observe:
            out = cast("list[_T]", events)
        else:
            out = []
            for event in events:
                try:
                    item: Any = event if decode is None else decode(event, self.response)
                except ValueError as exc:  # msgspec errors, UnicodeDecodeError
                    if event.raw.strip() == _DONE:
                        self._ended = True
                    else:
                        self._pending = self._malformed(event, events, exc)
                    break
                except APIError as exc:
                    self._pending = exc
                    break
                if item is None:
                    stats.skipped += 1
                    continue
                out.append(item)
                if observe and self._see(item):
                    self._ended = True
                    break
        stats.events += len(out)
        self._events_seen += len(events)
        return out

    async def _read(self) -> bytes:
        """One network read, bounded by the deadline in force; errors mapped."""
        if self._broken is not None:
            self._disconnected(self._broken)
        deadline, error_class, seconds = self._deadline()
        content = self.response.content
        try:
            if deadline is None:
                data = await content.readany()
            else:
                async with asyncio.timeout_at(deadline):
                    data = await content.readany()
        except TimeoutError as exc:
            assert error_class is not None
            name = _deadline_name(error_class)
            raise error_class(
                f"the {name} deadline of {seconds:g} s passed; {self.stats.events} events "
                f"({self.stats.bytes} bytes) had arrived from {self._request.where}",
                deadline=name,
                seconds=seconds,
                events_received=self.stats.events,
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            data = _received_before_error(content)  # deliver what came before the error
            if not data:
                self._disconnected(exc)
            self._broken = exc
        self.stats.bytes += len(data)
        return data

    def _deadline(self) -> tuple[float | None, type[APITimeoutError] | None, float]:
        """The read deadline: first_event until an event came, then idle since the
        last event; both restart with each new connection; total from the start."""
        t = self._timeout
        deadline: float | None = None
        error_class: type[APITimeoutError] | None = None
        seconds = 0.0
        cls: type[APITimeoutError]
        if self._last_event is None:
            phase, cls = t.first_event, FirstEventTimeoutError
            anchor = self._connected
        else:
            phase, cls = t.idle, IdleTimeoutError
            anchor = max(self._last_event, self._connected)
        if phase is not None:
            deadline, error_class, seconds = anchor + phase, cls, phase
        if t.total is not None and (deadline is None or self._started + t.total < deadline):
            deadline, error_class, seconds = self._started + t.total, TotalTimeoutError, t.total
        return deadline, error_class, seconds

    @property
    def _timeout(self) -> Timeout:
        return self._request.timeout

    def _disconnected(self, exc: BaseException) -> NoReturn:
        raise StreamDisconnectedError(
            f"the connection to {self._request.where} broke after {self.stats.events} events "
            f"({self.stats.bytes} bytes): {type(exc).__name__}: {exc}",
            events_received=self.stats.events,
        ) from exc

    def _end_of_body(self) -> None:
        decoder = self._decoder
        decoder.close()
        cut = " inside an event" if decoder.discarded else ""
        if self._reconnect:
            # EventSource reconnects when the body ends: so do we (204 stops it).
            self._pending = StreamDisconnectedError(
                f"{self._request.where} ended the stream{cut} after {self.stats.events} events",
                events_received=self.stats.events,
            )
        elif self._needs_final or cut:
            self._pending = IncompleteStreamError(
                f"the stream from {self._request.where} ended{cut} before its final event, "
                f"after {self.stats.events} events: the output may be cut short",
                events_received=self.stats.events,
            )
        else:
            self.stats.done = True
            self._finished = True
            self.response.release()

    # ------------------------------------------------------------ recovering

    async def _recover(self, error: BaseException) -> bool:
        """Reconnect a resumable stream, or retry one whose events nobody saw yet."""
        if self._reconnect and isinstance(error, StreamDisconnectedError):
            await self._reconnect_after(error)
            return True
        if (
            self._handed_out
            or self._retries_left <= 0
            or not isinstance(error, StreamDisconnectedError | FirstEventTimeoutError)
        ):
            return False
        delay = retry_delay(self.stats.retries)
        assert delay is not None
        log.debug(
            "retrying %s before its first event in %.2f s: %s", self._request.where, delay, error
        )
        self.response.close()
        await asyncio.sleep(delay)
        self.stats.retries += 1
        sent = self._loop.time()
        response, left = await _connect(
            self._request, self.stats.last_event_id, self._retries_left - 1
        )
        self._retries_left = left
        self._use(response, sent)
        self._last_event = None
        return True

    async def _reconnect_after(self, error: APIError) -> None:
        """The standard's "reestablish the connection", with backoff and a cap."""
        stats = self.stats
        decoder = self._decoder
        stats.last_event_id = decoder.last_event_id  # also set by id-only blocks
        stats.reconnection_time = decoder.reconnection_time
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
            t = self._timeout
            phase = t.first_event if self._last_event is None else t.idle
            sent = self._loop.time()
            try:
                response = await request.open(
                    stats.last_event_id, earliest(phase, self._remaining())
                )
            except APIStatusError as exc:
                if not status_is_retryable(exc.status_code, _headers_of(exc) or {}):
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
                self._finished = True
            return

    def _reconnect_delay(self, error: APIError) -> float | None:
        headers = _headers_of(error)
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

    def _use(self, response: aiohttp.ClientResponse, sent: float) -> None:
        if self._finished:  # closed by another task while we were reconnecting
            response.close()
            return
        self.response = response
        self._connected = sent
        self._broken = None
        self._decoder = self._new_decoder()

    def _new_decoder(self) -> SSEDecoder:
        """A decoder for a new connection that carries the stream's state: the last
        event ID stays until the new connection sets one, and so does retry:."""
        decoder = SSEDecoder(max_event_bytes=self._max_event_bytes)
        decoder.last_event_id = self.stats.last_event_id
        decoder.reconnection_time = self.stats.reconnection_time
        return decoder

    # ------------------------------------------------------------ ending

    async def _finish(self) -> None:
        """After the last item: read the (short) rest so the connection can be reused."""
        self.stats.done = True
        self._finished = True
        response = self.response
        content = response.content
        budget = _DRAIN_BYTES
        try:
            async with asyncio.timeout(_DRAIN_SECONDS):
                while budget > 0 and not content.at_eof():
                    data = await content.readany()
                    if not data:
                        break
                    budget -= len(data)
        except (TimeoutError, aiohttp.ClientError, OSError):
            budget = 0
        if budget > 0 and content.at_eof():
            response.release()
        else:
            response.close()

    def _close(self) -> None:
        self._finished = True
        if not self.response.closed:
            self.response.close()

    def _malformed(
        self, event: ServerSentEvent, events: list[ServerSentEvent], exc: ValueError
    ) -> MalformedEventError:
        position = self._events_seen + next(i for i, e in enumerate(events) if e is event)
        return malformed_event(
            event.raw,
            exc,
            position=position,
            subject=f"event #{position} ({event.event!r}) of {self._request.where}",
            expected="decodable",
        )


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


def error_event(event: ServerSentEvent, response: aiohttp.ClientResponse | None) -> APIError:
    """The exception for an error sent inside the stream (``event: error``)."""
    try:
        body: object = msgspec.json.decode(event.raw)
    except ValueError:
        body = {"error": {"message": event.data[:200]}}
    return stream_error(body, response)


# ---------------------------------------------------------------- entry points


async def _open_stream(
    request: _Request,
    *,
    type: Any,
    reconnect: bool | None,
    max_reconnects: int,
    retries: int,
    last_event_id: str | None,
    max_event_bytes: int,
) -> EventStream[Any]:
    if max_reconnects < 0:
        raise ValueError("max_reconnects must be >= 0")
    started = asyncio.get_running_loop().time()
    response, left = await _connect(request, last_event_id or "", retries)
    return EventStream(
        request,
        response,
        started=started,
        decode=None if type is None else event_decoder(type),
        reconnect=request.method == "GET" if reconnect is None else reconnect,
        max_reconnects=max_reconnects,
        retries_left=left,
        last_event_id=last_event_id or "",
        max_event_bytes=max_event_bytes,
    )


@overload
async def open_sse(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: None = None,
    timeout: TimeoutTypes = DEFAULT_TIMEOUT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    max_retries: int = 2,
    last_event_id: str | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> EventStream[ServerSentEvent]: ...


@overload
async def open_sse(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: builtins.type[_T],
    timeout: TimeoutTypes = DEFAULT_TIMEOUT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    max_retries: int = 2,
    last_event_id: str | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> EventStream[_T]: ...


@overload
async def open_sse(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: Any,
    timeout: TimeoutTypes = DEFAULT_TIMEOUT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    max_retries: int = 2,
    last_event_id: str | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> EventStream[Any]: ...


async def open_sse(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: Any = None,
    timeout: TimeoutTypes = DEFAULT_TIMEOUT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    max_retries: int = 2,
    last_event_id: str | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> EventStream[Any]:
    """Open any event stream on your own ``aiohttp.ClientSession``.

    ``json`` is sent as the JSON body; ``headers`` are yours to set
    (``Authorization`` included: its value never appears in messages).
    ``type`` decodes each event's data (see :meth:`AsyncClient.sse`).
    ``reconnect`` defaults to ``True`` for ``GET``, ``False`` otherwise.
    Status errors raise as with :class:`AsyncClient`; the session stays open.

    >>> async with aiohttp.ClientSession() as session:        # doctest: +SKIP
    ...     stream = await open_sse(session, "GET", "https://example.com/feed")
    ...     async for event in stream:
    ...         print(event.event, event.data)
    """
    sent = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    body = None
    if json is not None:
        body = msgspec.json.encode(json)
        sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    request = _Request(
        lambda: session,
        method,
        url,
        headers=sent,
        body=body,
        params=params,
        timeout=Timeout.coerce(timeout),
        errors=_SessionErrors(sent),
    )
    return await _open_stream(
        request,
        type=type,
        reconnect=reconnect,
        max_reconnects=max_reconnects,
        retries=max_retries,
        last_event_id=last_event_id,
        max_event_bytes=max_event_bytes,
    )


@overload
async def client_sse(
    self: AsyncClient,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: None = None,
    timeout: TimeoutTypes = CLIENT_DEFAULT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    last_event_id: str | None = None,
) -> EventStream[ServerSentEvent]: ...


@overload
async def client_sse(
    self: AsyncClient,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: builtins.type[_T],
    timeout: TimeoutTypes = CLIENT_DEFAULT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    last_event_id: str | None = None,
) -> EventStream[_T]: ...


@overload
async def client_sse(
    self: AsyncClient,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: Any,
    timeout: TimeoutTypes = CLIENT_DEFAULT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    last_event_id: str | None = None,
) -> EventStream[Any]: ...


async def client_sse(
    self: AsyncClient,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: Any = None,
    timeout: TimeoutTypes = CLIENT_DEFAULT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    last_event_id: str | None = None,
) -> EventStream[Any]:
    """Open any event stream: ``AsyncClient.sse``.

    ``url`` is a path under ``base_url`` (``"events"``, ``"/responses"``) or an
    absolute URL; the API key is sent only to ``base_url``'s origin. ``json``
    becomes the JSON body. With ``type``, events are decoded into it instead of
    handed out as :class:`ServerSentEvent`: a union of tagged Structs is
    dispatched by event name (see :func:`event_decoder`).

    GET streams reconnect (``reconnect=True`` by default): after a drop, or
    when the body ends, the stream is opened again after the server's
    ``retry:`` (else 1 s, doubling on consecutive failures) with
    ``Last-Event-ID``; HTTP 204 ends it for good; ``max_reconnects`` attempts
    in a row without a new event raise :class:`StreamDisconnectedError`.
    Other methods reconnect only with ``reconnect=True``. ``last_event_id``
    resumes from a known ID on the first request. Deadlines and errors are
    those of chat streams (``timeout=``: a :class:`Timeout` or seconds).

    >>> class Join(msgspec.Struct, tag="join"):                 # doctest: +SKIP
    ...     user: str
    >>> class Leave(msgspec.Struct, tag="leave"):
    ...     user: str
    >>> async with await client.sse("GET", "/rooms/1/events", type=Join | Leave) as stream:
    ...     async for event in stream:
    ...         match event:
    ...             case Join(user=user): print("+", user)
    ...             case Leave(user=user): print("-", user)
    """
    absolute = url.startswith(("http://", "https://"))
    full = url if absolute else f"{self.base_url}/{url.lstrip('/')}"
    sent = self._headers(True, None)
    if URL(full).origin() != URL(self.base_url).origin():
        del sent["Authorization"]  # the key is for the API, not for every server
    body = None
    if json is None:
        del sent["Content-Type"]
    else:
        body = msgspec.json.encode(json)
    sent["Cache-Control"] = "no-cache"
    sent.update(headers or {})
    deadlines = self.timeout if timeout is CLIENT_DEFAULT else Timeout.coerce(timeout)
    request = _Request(
        self._get_session,
        method,
        full,
        headers=sent,
        body=body,
        params=params,
        timeout=deadlines,
        errors=self,
    )
    return await _open_stream(
        request,
        type=type,
        reconnect=reconnect,
        max_reconnects=max_reconnects,
        retries=self.max_retries,
        last_event_id=last_event_id,
        max_event_bytes=self.max_event_bytes,
    )


# ---------------------------------------------------------------- errors for a user's session


class _SessionErrors(ErrorMapper):
    """The error mapping for :func:`open_sse`: the client's, redacting the
    credentials found in the caller's own headers instead of an API key."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__(header_secrets(headers))

    async def _status_error(self, response: aiohttp.ClientResponse) -> APIStatusError:
        return await self.status_error(response)

    async def _check_event_stream(self, response: aiohttp.ClientResponse) -> None:
        await self.check_event_stream(response)

    def _redact(self, text: str) -> str:
        return self.redact(text)
