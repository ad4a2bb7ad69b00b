"""The connection pool's hygiene: what aiohttp's connector does not check.

* An idle pooled connection is handed out only when it is clean (open, its last
  response read to the end, nothing unread buffered, no error, not closing):
  a response that arrives on an idle connection, which nobody asked for, must
  never be read as the next request's answer.
* A request tells whether it went out on a reused connection (:func:`reuse_flag`),
  so the transport can resend one that failed on a kept-alive connection the
  server had already closed. (Not an aiohttp trace: a trace config makes aiohttp
  build trace objects and await their signals on every request.)
* A body read fails at once when its connection is lost mid-body (aiohttp's C
  parser would leave it waiting).
* A plain-HTTP socket is read at most :data:`READ_SIZE` bytes at a time
  (:func:`_watch`). CPython's selector transport asks ``recv`` for 256 KiB on every
  read and shrinks the result: past glibc's mmap threshold (128 KiB) each read maps
  and unmaps memory, which cost a paced stream a third of its CPU per chunk
  (``benchmarks/bench_paced.py``). TLS transports read into a buffer of their own.
* A request waits for room in the pool *before* it is built (:func:`slot`):
  aiohttp builds the whole request (headers, body, timers, traces) and only then
  queues it for a connection, so 10,000 streams over a pool of 1,000 held 9,000
  built requests while they waited (``bench_concurrent``: 188 MiB peak RSS before,
  106-110 MiB after).
* A response's head is parsed on its own, before any body byte that came with it
  (:func:`head_first`): aiohttp parses a network read whole and, when the body's
  framing breaks in the same read, raises before handing out the response, so the
  events that did arrive would be lost and the request sent again.

aiohttp's connector internals differ across the supported range (3.10 to 3.14);
both ends are tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections import deque
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_exceptions import HttpProcessingError

__all__ = [
    "READ_SIZE",
    "connector_class",
    "forget_reuse",
    "full_reads",
    "head_first",
    "reuse_flag",
    "slot",
    "stale",
    "watch",
]

log = logging.getLogger("xstream")

READ_SIZE = 126 * 1024  # the most one read asks for: under glibc's mmap threshold (128 KiB)


def watch(response: aiohttp.ClientResponse) -> None:
    """Make a body read fail at once when its connection is lost mid-body.

    aiohttp's C parser, on a framing error in the middle of a body (an invalid
    chunk size, ...), closes the connection but never wakes the body's reader,
    which would then wait for a deadline. When the connection goes, this hands the
    reader the error instead (one hook per connection, not per read).
    """
    connection = response.connection
    protocol = connection.protocol if connection is not None else None
    if protocol is None:
        return
    protocol._xstream_body = response.content  # type: ignore[attr-defined]
    _watch(protocol)


def _cap_reads(transport: Any, size: int | None) -> None:
    """At most ``size`` bytes per socket read (``None``: the transport's default), on
    CPython's selector and proactor transports (others read as they do)."""
    default = getattr(type(transport), "max_size", None)
    if isinstance(default, int):
        transport.max_size = default if size is None else min(size, default)


def full_reads(response: aiohttp.ClientResponse) -> None:
    """Let ``response``'s connection read as much as its transport does by default:
    the sync facade hands each read's bytes across threads, and fewer, larger reads
    are cheaper there than the mmap that :data:`READ_SIZE` avoids (measured: sync
    e2e 2.4 µs per chunk capped, 2.1 uncapped)."""
    connection = response.connection
    if connection is not None:
        _cap_reads(connection.transport, None)


def _watch(protocol: Any) -> None:
    """Hook ``protocol``'s ``connection_lost`` (see :func:`watch`) and cap its socket's
    reads at :data:`READ_SIZE`, once per connection. (The connections of xstream's
    own pool are :class:`_Protocol`, whose method does it: no closure per connection.)"""
    if getattr(protocol, "_xstream_watched", False):
        return
    protocol._xstream_watched = True
    _cap_reads(protocol.transport, READ_SIZE)
    if isinstance(protocol, _Protocol):
        return
    lost = protocol.connection_lost

    def connection_lost(exc: BaseException | None) -> None:
        cause = protocol.exception()  # what the parser stored when it gave up
        lost(exc)
        _body_lost(protocol, cause)

    protocol.connection_lost = connection_lost


def _body_lost(protocol: Any, cause: BaseException | None) -> None:
    """The connection went: fail the body being read, unless it had ended."""
    body: aiohttp.StreamReader | None = getattr(protocol, "_xstream_body", None)
    if body is None or body.is_eof():
        return
    if isinstance(cause, HttpProcessingError):
        # the parser gave up on the framing: say so, over aiohttp's "not completed"
        # (which its pure-Python parser sets when the connection goes)
        error = aiohttp.ClientPayloadError(f"the body is not valid HTTP: {cause}")
        body.set_exception(error, cause)
    elif body.exception() is None:
        body.set_exception(aiohttp.ClientPayloadError("Response payload is not completed"))


_RECEIVED = ResponseHandler.data_received


class _Protocol(ResponseHandler):
    """The connections of xstream's own pool: aiohttp's, failing a body being read
    at once when the connection goes (see :func:`watch`), and parsing a response's
    head apart when asked (see :func:`head_first`).

    Both are methods of the class, not attributes set on the connection: uvloop's
    transports look ``data_received`` up once, when the connection is made, and
    would never see a method set on the instance later."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # what watch() and head_first() keep on a connection, declared up front
        self._xstream_watched = False
        self._xstream_head = False  # the next read may hold a response's head
        self._xstream_tail = b""
        self._xstream_body: aiohttp.StreamReader | None = None
        if not hasattr(self, "_buffer_paused"):  # (aiohttp 3.10 has no such flag)
            self._buffer_paused = False

    def data_received(self, data: bytes) -> None:
        if self._xstream_head:
            _head_received(self, data, _RECEIVED.__get__(self))
        else:
            _RECEIVED(self, data)

    def resume_reading(self, *args: Any, **kwargs: Any) -> None:  # (3.14: resume_parser)
        """Resume only what is paused. aiohttp 3.14's body reader calls this after
        every read that leaves its buffer low, paused or not, and each call re-enters
        ``data_received`` with no bytes and the transport's own ``resume_reading``:
        about 4 % of a paced stream's CPU, for nothing. When reading is paused (flow
        control, or a buffer the protocol holds), it resumes as aiohttp's does."""
        if self._reading_paused or self._buffer_paused:
            super().resume_reading(*args, **kwargs)

    def connection_lost(self, exc: BaseException | None) -> None:
        cause = self.exception()  # what the parser stored when it gave up
        super().connection_lost(exc)
        _body_lost(self, cause)


_HEAD_END = b"\r\n\r\n"


def head_first(protocol: Any) -> None:
    """Have ``protocol`` (aiohttp's ``ResponseHandler``) parse the next response's
    head apart from the body bytes that arrive with it (once per request).

    aiohttp hands its parser a whole network read; when the body's framing breaks
    inside it (an invalid chunk size after a few events, say), the parser raises
    and the response is never handed out: what arrived is lost, and the request
    looks unanswered. Fed the head first, the response is handed out, the events
    before the fault reach the body's buffer, and the fault is raised on the read
    after them. A head with both ``Transfer-Encoding`` and ``Content-Length`` is
    read by its transfer coding, as RFC 9112 (6.3) says, the connection closed after.
    """
    if protocol is None:
        return
    protocol._xstream_tail = b""  # the head's last bytes so far (its end may span reads)
    protocol._xstream_body = None  # the new response's body, once its head is parsed
    _watch(protocol)  # in place before any body byte can break
    if isinstance(protocol, _Protocol):
        protocol._xstream_head = True  # its data_received() looks (xstream's own pool)
        return
    # Another session's connection: a method on the instance, which CPython's
    # transports look up on every read (uvloop's do not: there, reads are parsed whole).
    if "data_received" in vars(protocol):
        return  # still waiting for the last request's head (it was never answered)
    received = protocol.data_received

    def data_received(data: bytes) -> None:
        if _head_received(protocol, data, received):
            del protocol.data_received  # aiohttp's own method takes every read after it

    protocol.data_received = data_received


def _head_received(protocol: Any, data: bytes, received: Any) -> bool:
    """One read while ``protocol`` waits for a response's head: fed to aiohttp's
    ``received`` as the head, then the body bytes after it; whether the head is in."""
    tail = protocol._xstream_tail
    end = (tail + data).find(_HEAD_END)
    if end < 0:  # the head goes on in the next read
        protocol._xstream_tail = (tail + data)[-3:]
        received(data)
        return False
    protocol._xstream_head = False  # the head is in: every read after it is the body's
    cut = end + len(_HEAD_END) - len(tail)
    head, body = data[:cut], data[cut:]
    if not tail:
        head = _one_framing(protocol, head)
    received(head)
    protocol._xstream_body = getattr(protocol, "_payload", None)
    if body and protocol.exception() is None:
        received(body)
    return True


def _one_framing(protocol: Any, head: bytes) -> bytes:
    """``head`` without ``Content-Length`` when it also has ``Transfer-Encoding``
    (which wins, RFC 9112 6.3: the connection is then closed after the response)."""
    lower = head.lower()
    if b"\ntransfer-encoding:" not in lower or b"\ncontent-length:" not in lower:
        return head
    lines = head.split(b"\r\n")
    kept = [line for line in lines if not line.lower().startswith(b"content-length:")]
    protocol.force_close()
    log.debug("a response with both Transfer-Encoding and Content-Length: read by its coding")
    return b"\r\n".join(kept)


def _reusable(protocol: Any) -> bool:
    """An idle pooled connection may carry the next request only when it is clean:
    still open, its last response read to the end, nothing unread buffered (a
    response nobody asked for), no error, not closing."""
    return bool(protocol is not None and protocol.is_connected() and not protocol.should_close)


class _HeadFirst(aiohttp.TCPConnector):
    """Each request's connection parses its response's head apart (:func:`head_first`),
    and requests queue for room in the pool before they are built (:func:`slot`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._factory = functools.partial(_Protocol, loop=self._loop)  # type: ignore[assignment, unused-ignore]
        self._passing = 0  # let through the gate, their connection not taken yet
        self._queue: deque[slot] = deque()
        # By task (a request's connection is taken in the task that sends it; not a
        # context variable: every callback scheduled meanwhile would keep a copy):
        self._passes: dict[asyncio.Task[Any] | None, slot] = {}  # let through, not connected
        self._reuse: dict[asyncio.Task[Any] | None, list[bool]] = {}  # see reuse_flag()

    def _room(self) -> bool:
        return not self._limit or len(self._acquired) + self._passing < self._limit

    def _release_waiter(self) -> None:
        super()._release_waiter()
        queue = self._queue
        while queue and (self._room() or self._closed):
            turn = queue.popleft()
            if not turn._waiter.done():  # (else cancelled: its caller gives up)
                turn._let_through(self)

    def _close(self, *args: Any, **kwargs: Any) -> Any:
        closed = super()._close(*args, **kwargs)
        self._release_waiter()  # let the queue through: their requests fail as closed
        return closed

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        if self._passes:
            passed = self._passes.pop(asyncio.current_task(), None)
            if passed is not None:
                passed.take()  # from here on, aiohttp's own count holds its connection
        connection = await super().connect(req, traces, timeout)
        head_first(connection.protocol)
        return connection


class slot:
    """A call's turn for room in ``session``'s pool (a connection in use, being opened,
    or about to be, counts), taken before its request is built: at most ``within``
    seconds (then the request's own ``total`` deadline fails it). Let through, the
    request counts until its connection is taken. (Only xstream's pool queues here:
    another session's requests queue in aiohttp, once built.)

    ``started = await turn.enter()``, then :meth:`leave` once the request is sent
    or failed; :meth:`abandon` if that await raised. No coroutine of its own: a call
    waiting its turn holds only its caller's frame and one future (thousands of
    calls waiting for a pool of hundreds: the memory is what each one holds)."""

    __slots__ = ("_connector", "_counted", "_queued", "_task", "_timer", "_waiter", "_within")

    def __init__(self, session: aiohttp.ClientSession, within: float | None) -> None:
        connector = session.connector
        self._connector = connector if isinstance(connector, _HeadFirst) else None
        self._within = within
        self._counted = False
        self._task: asyncio.Task[Any] | None = None
        self._waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._queued = 0.0

    def enter(self) -> asyncio.Future[float]:
        """The turn: a future of the loop time the wait began, done once let through
        (at once when there is room and nobody queues before it)."""
        loop = asyncio.get_running_loop()
        self._queued = loop.time()
        waiter = self._waiter
        connector = self._connector
        if connector is None:
            waiter.set_result(self._queued)
        elif connector._queue or not connector._room():
            self._task = asyncio.current_task()
            connector._queue.append(self)
            if self._within is not None:
                self._timer = loop.call_later(self._within, self._expire)
        else:
            self._task = asyncio.current_task()
            self._let_through(connector)
        return waiter

    def _let_through(self, connector: _HeadFirst) -> None:
        connector._passing += 1
        self._counted = True
        connector._passes[self._task] = self
        self._stop_timer()
        self._waiter.set_result(self._queued)

    def _expire(self) -> None:
        """``within`` passed in the queue: go on uncounted (the request's ``total``
        deadline, passed too, fails it before it is sent)."""
        self._timer = None
        if not self._waiter.done():
            self._connector._queue.remove(self)  # type: ignore[union-attr]
            self._waiter.set_result(self._queued)

    def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def abandon(self) -> None:
        """The await of :meth:`enter` raised (the caller was cancelled): out of the
        queue; or, let through already, the turn passes to the next."""
        self._stop_timer()
        if self._counted:
            self.leave()
            return
        connector = self._connector
        if connector is not None:
            with contextlib.suppress(ValueError):  # (not queued: expired, or never)
                connector._queue.remove(self)

    def take(self) -> None:
        """Its connection is taken (or it never will be): stop counting it."""
        if self._counted:
            self._counted = False
            self._connector._passing -= 1  # type: ignore[union-attr]

    def leave(self) -> None:
        """The request is sent or failed: if it never reached the pool (an error),
        its turn passes to the next."""
        connector = self._connector
        if connector is not None and self._counted:
            connector._passes.pop(self._task, None)
            self.take()
            connector._release_waiter()


class _CleanConnector(_HeadFirst):
    """A ``TCPConnector`` that hands out only clean idle connections.

    aiohttp reuses an idle connection whenever its socket is open, so bytes that
    arrived on it while idle would be read as the answer to the next request.
    Here such a connection is closed instead. (``_get`` is private and changed
    shape in aiohttp 3.11: both are handled; the range is tested at both ends.)
    """

    # (aiohttp < 3.11 types _get as synchronous: the other class below is for it)
    async def _get(self, key: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override, unused-ignore]
        get: Any = super()._get  # Any: its type differs across the supported aiohttp range
        while True:
            connection = await get(key, *args, **kwargs)
            if connection is None:
                return None
            if _reusable(connection.protocol):
                _note_reuse(self)
                return connection
            log.debug("closing a pooled connection that is not clean")
            connection.close()


class _CleanConnectorBefore311(_HeadFirst):
    """:class:`_CleanConnector` for aiohttp < 3.11, whose ``_get`` is synchronous and
    returns a protocol that the caller acquires."""

    def _get(self, key: Any, *args: Any, **kwargs: Any) -> Any:
        get: Any = super()._get
        while True:
            protocol = get(key, *args, **kwargs)
            if protocol is None:
                return None
            if _reusable(protocol):
                _note_reuse(self)
                return protocol
            log.debug("closing a pooled connection that is not clean")
            protocol.close()


def connector_class() -> type[aiohttp.TCPConnector]:
    if inspect.iscoroutinefunction(aiohttp.TCPConnector._get):
        return _CleanConnector
    return _CleanConnectorBefore311  # pragma: no cover - aiohttp < 3.11


def reuse_flag(session: aiohttp.ClientSession) -> list[bool]:
    """A flag, ``[False]``, that becomes ``[True]`` when the next request of this task
    on ``session`` goes out on a pooled connection (of xstream's pool: another's
    stays false); :func:`forget_reuse` once that request is answered or failed."""
    flag = [False]
    connector = session.connector
    if isinstance(connector, _HeadFirst):
        connector._reuse[asyncio.current_task()] = flag
    return flag


def forget_reuse(session: aiohttp.ClientSession) -> None:
    connector = session.connector
    if isinstance(connector, _HeadFirst):
        connector._reuse.pop(asyncio.current_task(), None)


def _note_reuse(connector: _HeadFirst) -> None:
    flag = connector._reuse.get(asyncio.current_task())
    if flag is not None:
        flag[0] = True


def stale(exc: BaseException) -> bool:
    """A failure that a connection the server already closed gives (not a timeout)."""
    return isinstance(exc, aiohttp.ClientConnectionError | ConnectionError) and not isinstance(
        exc, aiohttp.ServerTimeoutError
    )
