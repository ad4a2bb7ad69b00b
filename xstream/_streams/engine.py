"""The stream engine: the one read loop every kind of stream runs on.

The hot path, per network read: one bounded read under the deadline in force
(:meth:`StreamEngine._next_data`), then one feed of the SSE decoder over the
bytes and the stream kind turning the events into items (:meth:`StreamEngine._absorb`;
for chat, ``feed_payloads`` and one ``map`` of msgspec over the payloads).
Everything else (deadlines, stats, retries) happens once per read, never once
per item.

The rules kept here, once for every kind:

* Nothing lost: items that arrived before a failure are handed out first; the
  failure is raised on the next read (``_pending``). Bytes aiohttp received
  before a transport error are decoded before that error is raised.
* Nothing duplicated: once a response started, a failure is raised, never sent
  again, unless the server said it may be (an overloaded or rate-limit error
  event), and then only while no item has been handed out (the state is still
  ``READING``; see :mod:`xstream._streams.state`).
* Nothing leaked: leaving the loop (``break``, an exception, cancellation)
  closes the response at once. ``__aiter__`` hands out a small iterator whose
  ``__del__`` closes the response the moment the loop drops it, without waiting
  for the event loop to finalize an async generator. After the end marker, the
  rest of the body is drained (bounded) so the connection goes back to the pool.

A stream kind (chat chunks, generic events, Responses events) says only what
differs: how events become items (``_decode_events``), what the end of the
body means (``_body_ended``), whether a failure may resume the stream
(``_resume``) and what to forget when an attempt is redone (``_restart``); at
its end marker it calls ``_end()``.

The sync facade drives the same loop through public methods: :meth:`receive`
on the loop thread (reads, retries, the end of the body), :meth:`decode` on the
caller's (the items are made where they are used), :meth:`close_soon` from any
thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Generic, NoReturn, Self, TypeVar

import aiohttp

from .._config.retries import retry_delay
from .._exceptions import (
    APITimeoutError,
    EventTooLargeError,
    MalformedEventError,
    OverloadedError,
    ProtocolError,
    StreamDisconnectedError,
    StreamRateLimitError,
    XStreamError,
    deadline_error,
    error_message,
    malformed_event,
    stream_error,
)
from .._sse.decoder import ServerSentEvent, SSEDecoder
from .._transport.errors import body_error, decode_body, headers_of, not_streamed
from .._transport.request import Opened, window
from .._transport.transport import Transport
from .connection import give_back, received_before_error
from .deadline import NEVER, READ_FAILURES, DeadlinePassed, arm
from .iterators import BatchIterator
from .state import DONE, DRAINING, ENDED, FINISHED, OPEN, READING, STREAMING, next_state
from .stats import BaseStats

__all__ = [
    "BatchIterator",
    "StreamEngine",
]

log = logging.getLogger("xstream")

_T = TypeVar("_T")

_READ_BYTES = 128 * 1024  # at most this much per read: one batch stays small

# Failures after which the request may be sent again, if nothing reached the caller:
# only those where the server said so (an error event that is a retryable status).
# Once its response started, a drop, a broken framing or a silence is raised, never
# sent again: the server may be generating the answer, and would be asked twice.
_RETRYABLE = (OverloadedError, StreamRateLimitError)


class StreamEngine(Generic[_T]):
    """The read loop: read, decode, hand out a batch; retry, resume, drain, release.

    Iterate with ``async for``; ``async with stream:`` or ``await
    stream.aclose()`` releases the connection even if you never iterate. A
    stream is read once: after the loop ends (also by ``break``), a new
    ``async for`` yields nothing. To read it in parts, hold one iterator:
    ``it = aiter(stream)`` and ``await anext(it)``.
    """

    __slots__ = (  # no instance dict: one object less per stream for the GC
        "__weakref__", "_body_started", "_broken", "_connected", "_decoder",
        "_events_seen", "_last_event", "_loop", "_max_event_bytes", "_op", "_pending",
        "_request", "_retries_left", "_sent", "_settled", "_started", "_timeout",
        "_timer", "_timer_at", "_transport", "_waiting", "read_bytes", "response",
        "state", "stats",
    )  # fmt: skip
    response: aiohttp.ClientResponse
    stats: BaseStats
    _noun = "events"  # what the items are called in messages
    _expected = "decodable"  # what an event that does not decode is not

    def __init__(self, transport: Transport, opened: Opened, *, stats: BaseStats) -> None:
        request = opened.request
        self.response = opened.response
        self.stats = stats
        # At most this much per read. The sync facade reads more at once: each read's
        # bytes cross threads, a hop that costs ~0.2 ms here however small the read.
        self.read_bytes = _READ_BYTES
        self._transport = transport
        self._request = request
        self._timeout = request.timeout
        self._loop = asyncio.get_running_loop()
        # Loop times: the call began (``total`` counts from it, its wait for a free
        # connection included), it went out (the stats), and this connection's request
        # went out (``first_event``).
        self._started, self._sent, self._connected = opened.started, request.sent, request.sent
        self._last_event: float | None = None  # on this connection
        # The deadline timer (see _read): when it fires, and the read it may end.
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = NEVER
        self._settled = False  # the timer is armed for the idle phase
        self._waiting: aiohttp.StreamReader | None = None
        self._max_event_bytes = transport.max_event_bytes
        self._retries_left = opened.retries_left
        self._pending: BaseException | None = None  # raised once the items before it are out
        self._broken: BaseException | None = None  # transport error met after salvaging bytes
        self.state = READING  # see _streams/state.py
        self._body_started = False  # the current connection's body sent bytes
        self._events_seen = 0  # events decoded so far, for positions in messages
        self._decoder = self._new_decoder()
        self._op = request.operation  # OpenTelemetry's record of this call, when on

    # ------------------------------------------------------------ public API

    def __aiter__(self) -> AsyncIterator[_T]:
        return BatchIterator(self)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        self._close()

    close = aclose  # the OpenAI SDK's name

    def __repr__(self) -> str:
        state = "done" if self.stats.done else "closed" if self.finished else "open"
        return (
            f"<{type(self).__name__} {state} {self._noun}={self._delivered}"
            f"{self._repr_extra()} status={self.response.status}>"
        )

    def __del__(self) -> None:
        # A stream dropped without being read or closed must not leak its connection.
        if getattr(self, "state", DONE) not in FINISHED:
            self.response.close()
        if getattr(self, "_op", None) is not None:
            self._end_op()

    # ------------------------------------------------------------ what a kind says

    @property
    def _delivered(self) -> int:
        """Items handed out so far (for messages)."""
        raise NotImplementedError

    def _repr_extra(self) -> str:
        return ""

    sse_end = b""  # what the relay (``to_sse``) sends after the last item

    def sse_item(self, item: Any) -> bytes:
        """An item as the relay (``to_sse``) encodes it."""
        raise NotImplementedError

    def keep_wire(self) -> None:
        """From now on keep each item's bytes until :meth:`sse_item` relays it, so the
        relay passes the server's data on unchanged (``to_sse`` does this)."""
        raise NotImplementedError

    def _seen_all(self) -> None:
        """The caller saw every item of the last batch (it asks for the next one):
        what a kind keeps of it can be let go of before the next read is awaited."""

    def _feed(self, data: bytes) -> list[Any]:
        """One read's bytes to the decoder: what :meth:`_decode_events` takes."""
        return self._decoder.feed(data)

    def _decode_events(self, events: list[Any], now: float) -> list[_T]:
        """Turn one read's events (what :meth:`_feed` returned) into items; set
        ``_ended`` at the end marker and ``_pending`` at a failure, stopping there."""
        raise NotImplementedError

    def _body_ended(self, decoder: SSEDecoder) -> BaseException | None:
        """The body ended (``decoder`` not yet closed): the error to raise, or
        ``None`` when that is a normal end."""
        raise NotImplementedError

    async def _resume(self, error: BaseException) -> bool:
        """Reconnect after ``error`` if this kind resumes (True: go on reading)."""
        return False

    def _restart(self) -> None:
        """Forget what the failed attempt built (before a retry)."""

    def _last_event_id(self) -> str:
        return ""

    @staticmethod
    def salvage(raw: bytes) -> Any:
        """A whole JSON answer (from a server that ignored ``stream``) decoded as what
        this kind of stream builds, if it is one; kept on :class:`NotStreamedError`."""
        return None

    def _new_decoder(self) -> SSEDecoder:
        return SSEDecoder(max_event_bytes=self._max_event_bytes)

    def _telemetry(self) -> tuple[object, float | None]:
        """What a traced call records at its end: the result built so far (a
        ``ChatCompletion`` or ``Response``, else None) and the time to the first item."""
        return None, None

    # ------------------------------------------------------------ the loop

    async def next_batch(self) -> list[_T]:
        """The items completed by the next network read(s); ``[]`` at the end. Raises
        the stream's failure once every item before it was returned."""
        self._seen_all()
        while True:
            batch = self._taken(await self._next_data())
            if batch is None:
                return []
            if batch:
                return batch

    def _taken(self, data: bytes | None) -> list[_T] | None:
        """One read's items, ``None`` after the last read; past the end marker, the
        connection given back. (The loop's iterator awaits the read itself.)"""
        if data is None:
            return None
        batch = self._absorb(data)
        if self.state is ENDED:
            self._finish()
        return batch

    # ------------------------------------------------------------ for the sync facade

    @property
    def finished(self) -> bool:
        """No more batches: the stream is done, closed or failed."""
        return self.state >= DRAINING

    @property
    def stopped(self) -> bool:
        """What follows in the current read is not for the caller: the end marker
        came, or a failure (raised by the next :meth:`receive`)."""
        return self.state > STREAMING or self._pending is not None

    async def receive(self) -> bytes | None:
        """The loop thread's part of a read (see :meth:`decode` for the rest)."""
        return await self._next_data()

    def decode(self, data: bytes) -> list[_T]:
        """The items of one read's bytes, on the calling thread (the sync facade's:
        the items are made where they are used); past the end marker, the
        connection is given back on the loop thread, soon."""
        batch = self._absorb(data)
        if self.state is ENDED:
            self._done()
            with contextlib.suppress(RuntimeError):  # the loop is gone, and the connection
                self._loop.call_soon_threadsafe(self._give_back)
        return batch

    def discard(self) -> None:
        """Stop reading and release the connection now, without waiting (on the
        loop's thread: what a generator's ``finally`` and a finalizer may do)."""
        if self.state not in FINISHED:
            self._close()

    def close_soon(self) -> None:
        """Close from any thread without waiting (finalizers, the sync facade)."""
        if self.state not in FINISHED:
            with contextlib.suppress(RuntimeError):  # the loop is already gone
                self._loop.call_soon_threadsafe(self._close)

    async def _next_data(self) -> bytes | None:
        """The next read's bytes, once any failure met so far was retried (or
        raised); ``None`` when there are no more. What needs the event loop:
        reads, retries, the end of the body. :meth:`_absorb` does the rest."""
        while self.state <= STREAMING:  # open
            if self._pending is not None:
                error, self._pending = self._pending, None
                try:
                    again = await self._retry(error)
                except BaseException as exc:
                    if isinstance(exc, XStreamError):
                        self._request.scrub(exc)  # built from server bytes: no secrets
                    self._end_op(exc)
                    self._close()
                    raise
                if again:
                    continue
                self._end_op(self._request.scrub(error))
                self._close()
                raise error
            try:  # _read(), inline: a coroutine less per read (and per waiting stream)
                content = self._before_read()
                try:
                    data = self._after_read(await content.read(self.read_bytes))
                except READ_FAILURES as exc:
                    data = self._read_failed(exc, content)
                finally:
                    self._waiting = None
            except (APITimeoutError, StreamDisconnectedError, ProtocolError) as exc:
                self._pending = exc
                continue
            if not data:
                self._end_of_body()
                continue
            if not self._body_started:
                self._body_started = True
                if data.lstrip()[:1] == b"{":  # one JSON document, not an event stream
                    self._pending = await self._whole_json(data)
                    continue
            return data
        return None

    def _absorb(self, data: bytes) -> list[_T]:
        """Decode one read: its items. Pure computation, touching neither the
        connection nor the loop, so the sync facade runs it on the caller's thread
        (the items are made where they are used). Sets ``_ended`` at the end
        marker, ``_pending`` at a failure."""
        try:
            events = self._feed(data)
        except EventTooLargeError as exc:
            events, exc.events = exc.events, []
            self._pending = exc
        if not events:
            return []
        stats = self.stats
        now = self._loop.time()
        last = self._last_event
        if last is not None and now - last > stats.max_gap:
            stats.max_gap = now - last
        self._last_event = now
        stats.elapsed = now - self._sent
        batch = self._decode_events(events, now)
        self._events_seen += len(events)
        if batch and self.state is READING:
            self.state = STREAMING
        return batch

    async def _read(self) -> bytes:
        """One network read, bounded by the deadline in force (one timer per stream, not
        one per read: see :mod:`.deadline`); errors mapped."""
        content = self._before_read()
        try:
            return self._after_read(await content.read(self.read_bytes))
        except READ_FAILURES as exc:
            return self._read_failed(exc, content)
        finally:
            self._waiting = None

    def _before_read(self) -> aiohttp.StreamReader:
        if self._broken is not None:
            self._disconnected(self._broken)
        content = self.response.content
        if not self._settled:  # else the deadline can only have moved later
            deadline = self._deadline()[0]
            if deadline is not None and deadline < self._timer_at:
                self._arm(deadline, content)
            # Once idle is the phase (an event came), the deadline only moves later
            # until the timer fires (or the connection changes): no need to look.
            self._settled = self._timer is not None and self._last_event is not None
        self._waiting = content  # the read the timer may end
        return content

    def _after_read(self, data: bytes) -> bytes:
        stats = self.stats
        if stats.time_to_first_byte is None and data:
            stats.time_to_first_byte = self._loop.time() - self._sent
        stats.bytes += len(data)
        return data

    def _read_failed(self, exc: BaseException, content: aiohttp.StreamReader) -> bytes:
        """A read's failure mapped (raised), or the bytes received before it."""
        if isinstance(exc, DeadlinePassed):
            _, name, seconds = self._deadline()
            error = deadline_error(
                name,
                f"the {name} deadline of {seconds:g} s passed; {self._delivered} {self._noun} "
                f"({self.stats.bytes} bytes) had arrived from {self._request.where}",
                seconds=seconds,
                events_received=self._delivered,
            )
            raise self._request.tried(error, self._loop.time()) from exc
        # aiohttp raises a stored connection error before handing out bytes it
        # had already received: take those first, raise on the next read.
        data = received_before_error(content)
        if not data:
            self._disconnected(exc)
        self._broken = exc
        return self._after_read(data)

    def _arm(self, deadline: float, content: aiohttp.StreamReader) -> None:
        """The deadline timer, at ``deadline`` (earlier than where it was); before the
        first event, no later than ``idle`` from now, where the idle deadline can start
        the earliest: the first event then never moves the timer earlier (a cancelled
        handle would sit in the loop's timer heap until its time, ten minutes on)."""
        timer = self._timer
        if timer is not None:
            timer.cancel()
        idle = self._timeout.idle
        if self._last_event is None and idle is not None:
            deadline = min(deadline, self._loop.time() + idle)
        self._timer_at = deadline
        self._timer = arm(self._loop, deadline, self, content)

    def _disarm(self) -> None:
        timer, self._timer = self._timer, None
        self._timer_at = NEVER
        self._settled = False
        if timer is not None:
            timer.cancel()

    def _deadline(self) -> tuple[float | None, str, float | None]:
        """The read deadline (loop time), its name and value: first_event until an
        event came, then idle since the last event, both restarting with each new
        connection; or total from the start, when that ends first."""
        if self._last_event is None:
            phase, anchor = "first_event", self._connected
        else:
            phase, anchor = "idle", max(self._last_event, self._connected)
        limit, name, seconds = window(self._timeout, self._started, anchor, phase)
        return (None if limit is None else anchor + limit), name, seconds

    def _disconnected(self, exc: BaseException) -> NoReturn:
        raise body_error(
            exc,
            self._request,
            delivered=self._delivered,
            noun=self._noun,
            received=self.stats.bytes,
        ) from exc

    def _malformed(
        self, event: ServerSentEvent, events: list[ServerSentEvent], exc: ValueError
    ) -> MalformedEventError:
        """The error for ``event`` (one of ``events``, this read's) that did not decode."""
        position = self._events_seen + next(i for i, e in enumerate(events) if e is event)
        return malformed_event(
            event.raw,
            exc,
            position=position,
            subject=f"event #{position} ({event.event!r}) of {self._request.where}",
            expected=self._expected,
        )

    async def _whole_json(self, first: bytes) -> BaseException:
        """The body is one JSON document (a server that ignored ``stream``): read it
        (bounded) and say so, with the document; or the error it describes."""
        parts, size = [first], len(first)
        while size <= self._max_event_bytes:
            data = await self._read()
            if not data:
                break
            parts.append(data)
            size += len(data)
        raw = b"".join(parts)
        body = decode_body(raw)
        if error_message(body) is not None:
            return stream_error(body, self.response)
        ctype = self.response.headers.get("Content-Type", "")
        error = not_streamed(self._request, raw, body, ctype)
        error.completion = self.salvage(raw)
        return error

    def _end_of_body(self) -> None:
        error = self._body_ended(self._decoder)
        if error is not None:
            self._pending = error
            return
        self.stats.done = True
        self.state = next_state(self.state, "body_ended")
        self.response.release()  # the body was read to its end: the connection is clean
        self._end_op()

    # ------------------------------------------------------------ retrying

    async def _retry(self, error: BaseException) -> bool:
        """Go on after ``error``: resume (kinds that do), or send the request again
        if nothing reached the caller yet, so nothing can be duplicated."""
        if await self._resume(error):
            return True
        if (
            self.state is not READING
            or self._retries_left <= 0
            or not isinstance(error, _RETRYABLE)
        ):
            return False
        delay = retry_delay(self.stats.retries, headers_of(error))
        if delay is None:  # the server asked to wait longer than we will
            return False
        total = self._timeout.total
        if total is not None and self._loop.time() + delay >= self._started + total:
            return False  # a backoff that would end past the deadline is not slept
        log.debug(
            "retrying %s before its first %s in %.2f s: %s",
            self._request.where,
            self._noun.rstrip("s"),
            delay,
            error,
        )
        if self._op is not None:
            self._op.retry(error, delay)
        self.response.close()
        await asyncio.sleep(delay)
        self.stats.retries += 1
        sent = self._loop.time()
        response, left = await self._transport.send(
            self._request,
            retries=self._retries_left - 1,
            last_event_id=self._last_event_id(),
            started=self._started,
        )
        self._retries_left = left
        self._use(response, sent)
        self._last_event = None  # a new attempt: first_event again
        self._restart()
        return True

    def _use(self, response: aiohttp.ClientResponse, sent: float) -> None:
        """Read from a new connection from now on (a new decoder, fresh deadlines)."""
        if self.state not in OPEN:  # closed by another task while we were reconnecting
            response.close()
            return
        self.response = response
        self._disarm()  # fresh deadlines on the new connection
        self._connected = sent
        self._body_started = False
        self._broken = None
        self._decoder = self._new_decoder()

    # ------------------------------------------------------------ ending

    def _end(self) -> None:
        """The kind read its end marker (the items before it are handed out first)."""
        self.state = next_state(self.state, "end")

    def _finish(self) -> None:
        """After the end marker: the stream is done; give the connection back."""
        self._done()
        self._give_back()

    def _done(self) -> None:
        self._disarm()
        self.stats.done = True
        self._end_op()

    def _give_back(self) -> None:
        """The rest of the body (usually nothing, or the chunked terminator) is read
        so that the connection can be reused: at once when it is already here,
        else by a task of its own, so the caller gets the last items now rather
        than after a slow server ends the body."""
        if self.state is not ENDED:  # closed meanwhile (the sync facade gives back later)
            return
        draining = give_back(self.response, self._loop)
        if draining is not None:
            self._transport.draining(draining)
        self.state = next_state(self.state, "draining" if draining else "released")

    def _close(self) -> None:
        self._disarm()
        if self.state is not DRAINING and not self.response.closed:
            self.response.close()
        self.state = next_state(self.state, "close")
        if self._op is not None:
            self._end_op()

    def _end_op(self, error: BaseException | None = None) -> None:
        """End the traced call (once) with what is known: on the end marker, an
        error, or a stream left early (then without an error: what arrived)."""
        op, self._op = self._op, None
        if op is not None:
            result, first = self._telemetry()
            op.end(result, error=error, time_to_first_chunk=first)
