"""Relays that survive the browser: event ids, a store, resume from any replica.

A :class:`ResumableRelay` runs one *producer* per answer: a task on the replica that
started it, reading the upstream stream (``stream.to_sse()``: the server's data,
unchanged) and appending each event to a :class:`StreamStore`. *Readers* (a browser's
``EventSource``, on any replica that shares the store) read from the store: every event
carries an ``id:``, and a reader that comes back with ``Last-Event-ID`` gets exactly
the events after it, then the live rest.

Ends are explicit: the answer's own end (``data: [DONE]``, the Responses API's last
event), an upstream error (``event: error``), a stop, and a producer that is gone (no
append and no heartbeat for ``idle`` seconds) each reach every reader as an event, and
the reader's response ends. Stores are bounded: at most ``max_events`` and
``max_bytes`` per answer, gone ``ttl`` seconds after its last append.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import secrets
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from .._exceptions import XStreamError
from .relay import SSE_HEADERS, aiohttp_response, event_block

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "END",
    "MemoryStore",
    "ResumableRelay",
    "StoreError",
    "StreamMeta",
    "StreamStore",
    "last_event_id_of",
]

log = logging.getLogger("xstream.relay")

END = b""  # the entry that ends an answer (no bytes are sent for it)

DEFAULT_MAX_EVENTS = 10_000
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
DEFAULT_TTL = 600.0
_SEEN_EVERY = 0.5  # seconds between a reader's "I am here" writes


class StoreError(XStreamError):
    """The store cannot be reached or refused an operation (Redis down, restarted)."""


StoreError.__module__ = "xstream"  # shown (and pickled) by its public name


class StreamMeta(msgspec.Struct, frozen=True):
    """What a store knows about one answer besides its events."""

    beat: float  # when the producer last appended or said it is alive (time.time())
    ended: bool  # the end entry was appended
    stopped: bool  # a stop was asked for
    reader_seen: float  # when a reader last read (0.0: never)
    first: int  # the number of the oldest event still kept (1 when none was trimmed)


class StreamStore(Protocol):
    """Where a relay keeps answers: append by one producer, read by many readers.

    Event ids are the event's number in its answer (1, 2, ...), as text."""

    async def create(self, stream_id: str) -> None:
        """Start an answer (the producer calls it once, first); an answer that exists
        with no event yet is taken up as it is (a stop asked meanwhile holds)."""

    async def append(self, stream_id: str, block: bytes) -> int:
        """Add an event (an SSE block; :data:`END` ends the answer); its number."""

    async def append_many(self, stream_id: str, blocks: list[bytes]) -> int:
        """Add events in order (one round trip where the store can); the last's number."""

    async def read(self, stream_id: str, after: int, timeout: float) -> list[tuple[int, bytes]]:
        """The events after number ``after``, waiting up to ``timeout`` seconds for one."""

    async def meta(self, stream_id: str) -> StreamMeta | None:
        """The answer's state, ``None`` when the store has no such answer (expired)."""

    async def beat(self, stream_id: str) -> None:
        """The producer is alive (it may be waiting for the model)."""

    async def seen(self, stream_id: str) -> None:
        """A reader is there."""

    async def stop(self, stream_id: str) -> None:
        """Ask the producer to stop (from any replica)."""

    async def aclose(self) -> None:
        """Release the store's resources."""


# -- in memory --------------------------------------------------------------------------------


class _Answer:
    __slots__ = (
        "beat",
        "bytes",
        "changed",
        "ended",
        "events",
        "first",
        "last",
        "reader_seen",
        "stopped",
        "touched",
    )

    def __init__(self) -> None:
        self.events: list[tuple[int, bytes]] = []
        self.first = 1  # the number of events[0]
        self.last = 0
        self.bytes = 0
        self.ended = self.stopped = False
        self.beat = self.touched = time.time()
        self.reader_seen = 0.0
        self.changed = asyncio.Event()


class MemoryStore:
    """Answers kept in this process (one replica): the default store.

    Bounded per answer: the oldest events go beyond ``max_events`` or ``max_bytes`` (a
    reader that resumes before the oldest kept gets a clear error, not a gap); an answer
    is forgotten ``ttl`` seconds after its last append or read."""

    def __init__(
        self,
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ttl: float = DEFAULT_TTL,
    ) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._answers: dict[str, _Answer] = {}

    def __repr__(self) -> str:
        return f"<xstream.MemoryStore answers={len(self._answers)} max_events={self.max_events}>"

    def _expire(self) -> None:
        cutoff = time.time() - self.ttl
        for key in [k for k, a in self._answers.items() if a.touched < cutoff]:
            del self._answers[key]

    def _get(self, stream_id: str) -> _Answer | None:
        return self._answers.get(stream_id)

    async def create(self, stream_id: str) -> None:
        self._expire()
        self._answers.setdefault(stream_id, _Answer())  # (an existing one keeps its stop)

    async def append(self, stream_id: str, block: bytes) -> int:
        answer = self._get(stream_id)
        if answer is None:
            raise StoreError(f"no answer {stream_id!r} in the store (expired?)")
        answer.last += 1
        answer.events.append((answer.last, block))
        answer.bytes += len(block)
        while len(answer.events) > 1 and (
            len(answer.events) > self.max_events or answer.bytes > self.max_bytes
        ):
            _, dropped = answer.events.pop(0)
            answer.bytes -= len(dropped)
            answer.first += 1
        if block == END:
            answer.ended = True
        answer.beat = answer.touched = time.time()
        answer.changed.set()
        answer.changed = asyncio.Event()
        return answer.last

    async def append_many(self, stream_id: str, blocks: list[bytes]) -> int:
        number = 0
        for block in blocks:
            number = await self.append(stream_id, block)
        return number

    async def read(self, stream_id: str, after: int, timeout: float) -> list[tuple[int, bytes]]:
        answer = self._get(stream_id)
        if answer is None:
            return []
        if answer.last <= after and not answer.ended:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answer.changed.wait(), timeout)
        start = max(after + 1 - answer.first, 0)
        return answer.events[start:]

    async def meta(self, stream_id: str) -> StreamMeta | None:
        answer = self._get(stream_id)
        if answer is None:
            return None
        return StreamMeta(
            beat=answer.beat,
            ended=answer.ended,
            stopped=answer.stopped,
            reader_seen=answer.reader_seen,
            first=answer.first,
        )

    async def beat(self, stream_id: str) -> None:
        answer = self._get(stream_id)
        if answer is not None:
            answer.beat = time.time()

    async def seen(self, stream_id: str) -> None:
        answer = self._get(stream_id)
        if answer is not None:
            answer.reader_seen = answer.touched = time.time()

    async def stop(self, stream_id: str) -> None:
        answer = self._get(stream_id)
        if answer is not None:
            answer.stopped = True
            answer.changed.set()

    async def aclose(self) -> None:
        self._answers.clear()

    @property
    def held_bytes(self) -> int:
        """The bytes of events held, all answers together."""
        return sum(a.bytes for a in self._answers.values())


# -- the relay --------------------------------------------------------------------------------


def _error(kind: str, message: str) -> bytes:
    body = msgspec.json.encode({"error": {"message": message, "type": kind, "code": kind}})
    return event_block(body, event="error")


def last_event_id_of(request: Any) -> str | None:
    """The ``Last-Event-ID`` a reconnecting client sent: its header (``EventSource``
    sends it), else a ``last_event_id`` query parameter (for clients that cannot set
    headers). Works with aiohttp's and Starlette's requests."""
    value = request.headers.get("Last-Event-ID")
    if not value:
        value = request.query.get("last_event_id") if hasattr(request, "query") else None
    if not value and hasattr(request, "query_params"):
        value = request.query_params.get("last_event_id")
    return value or None


class ResumableRelay:
    """Relay answers through a store so a reader can resume (see the module's text).

    ``store``: a :class:`MemoryStore` (default) or :class:`~xstream.RedisStore`.
    ``keep_alive``: seconds the producer goes on without any reader (a refresh resumes
    instead of starting over); after that with no reader, it closes upstream (the model
    stops). At least one second counts: readers say they are there twice a second. ``idle``: a producer silent (no event, no heartbeat) this long is gone.
    ``poll``: how long a reader waits on the store before checking on the producer
    and sending a keep-alive comment.

    >>> relay = xstream.ResumableRelay()                                # doctest: +SKIP
    >>> stream_id = await relay.start(await client.chat.completions.create(..., stream=True))
    >>> return await relay.to_aiohttp_response(request, stream_id)   # in a GET handler
    """

    def __init__(
        self,
        store: StreamStore | None = None,
        *,
        keep_alive: float = 30.0,
        idle: float = 15.0,
        poll: float = 1.0,
    ) -> None:
        self.store: StreamStore = store if store is not None else MemoryStore()
        self.keep_alive = keep_alive
        self.idle = idle
        self.poll = poll
        self._producers: dict[str, asyncio.Task[None]] = {}

    def __repr__(self) -> str:
        return (
            f"<xstream.ResumableRelay store={self.store!r} producing={len(self._producers)} "
            f"keep_alive={self.keep_alive} idle={self.idle}>"
        )

    # ------------------------------------------------------------ producing

    async def start(self, stream: Any, stream_id: str | None = None) -> str:
        """Start relaying ``stream`` (any xstream stream with ``to_sse()``) into the
        store; returns the answer's id (random unless given), for readers to ask for."""
        stream_id = stream_id or secrets.token_urlsafe(12)
        await self.store.create(stream_id)
        task = asyncio.ensure_future(self._produce(stream_id, stream.to_sse()))
        self._producers[stream_id] = task
        task.add_done_callback(lambda _t: self._producers.pop(stream_id, None))
        return stream_id

    async def stop(self, stream_id: str) -> None:
        """Stop an answer (the user pressed Stop), whichever replica produces it: its
        upstream is closed and its readers get a ``stream_stopped`` error event."""
        await self.store.stop(stream_id)
        task = self._producers.get(stream_id)
        if task is not None:
            task.cancel()

    async def aclose(self) -> None:
        """Cancel this replica's producers (their readers see the producer gone)."""
        for task in list(self._producers.values()):
            task.cancel()
        if self._producers:
            await asyncio.wait(list(self._producers.values()))

    async def _produce(self, stream_id: str, blocks: AsyncGenerator[bytes, None]) -> None:
        store = self.store
        watch = asyncio.ensure_future(self._watch(stream_id, asyncio.current_task()))
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        pump = asyncio.ensure_future(_pump(blocks, queue))
        # An append is never cut in the middle (a round trip to Redis cancelled half-way
        # would leave the answer's numbering unknown): a stop waits for it to land.
        inflight: asyncio.Future[int] | None = None
        try:
            # What arrived while the last append was on its way goes in the next one:
            # one round trip per batch under load, one per event when paced.
            while True:
                first = await queue.get()
                batch = [] if first is None else [first]
                done = first is None
                while not done and not queue.empty():
                    block = queue.get_nowait()
                    if block is None:
                        done = True
                    else:
                        batch.append(block)
                if batch:
                    inflight = asyncio.ensure_future(store.append_many(stream_id, batch))
                    await asyncio.shield(inflight)
                    inflight = None
                if done:
                    pump.result()  # an error the stream raised outside to_sse's own handling
                    break
        except asyncio.CancelledError:  # stopped, no reader for keep_alive, or shut down
            if inflight is not None:
                await _quiet(asyncio.wait_for(inflight, self.idle))
            stopped = _error("stream_stopped", "the answer was stopped before its end")
            await _quiet(store.append(stream_id, stopped))
            await _quiet(store.append(stream_id, END))
            raise
        except StoreError:
            log.warning("relay %s: the store failed; upstream closed", stream_id, exc_info=True)
        else:
            await _quiet(store.append(stream_id, END))
        finally:
            watch.cancel()
            pump.cancel()
            with contextlib.suppress(BaseException):
                await pump

    async def _watch(self, stream_id: str, producer: asyncio.Task[Any] | None) -> None:
        """Beat for the producer; stop it when asked or when no reader came for
        ``keep_alive`` seconds."""
        started = time.time()
        # At least once a second: a stop pressed on another replica acts within it.
        every = max(min(self.idle / 3, self.keep_alive / 2 or 1.0, 1.0), 0.05)
        first = True
        while True:
            if not first:
                await asyncio.sleep(every)
            first = False
            try:
                await self.store.beat(stream_id)
                meta = await self.store.meta(stream_id)
            except StoreError:
                continue
            if meta is None or producer is None:
                continue
            last_reader = meta.reader_seen or started
            # A reader says it is there every _SEEN_EVERY seconds: never count it gone sooner.
            grace = max(self.keep_alive, 2 * _SEEN_EVERY)
            if meta.stopped or time.time() - last_reader > grace:
                producer.cancel()
                return

    # ------------------------------------------------------------ reading

    async def events(
        self, stream_id: str, last_event_id: str | None = None
    ) -> AsyncGenerator[bytes, None]:
        """The answer's events as SSE blocks with ids, after ``last_event_id`` (all of
        them without), then live until its end; keep-alive comments while waiting."""
        store = self.store
        try:
            after = int(last_event_id) if last_event_id else 0
        except ValueError:
            yield _error("invalid_last_event_id", f"not an event id: {str(last_event_id)[:40]!r}")
            return
        try:
            meta = await store.meta(stream_id)
            if meta is None:
                yield _error("stream_not_found", "no such answer (it may have expired)")
                return
            seen = 0.0
            while True:
                now = time.monotonic()
                if now - seen >= _SEEN_EVERY:  # a reader is there (for keep_alive)
                    await store.seen(stream_id)
                    seen = now
                entries = await store.read(stream_id, after, self.poll)
                if entries and entries[0][0] > after + 1:
                    yield _error(
                        "resume_point_expired",
                        f"events after {after} are no longer kept (the oldest is {entries[0][0]})",
                    )
                    return
                for number, block in entries:
                    after = number
                    if block == END:
                        return
                    yield b"id: %d\n" % number + block
                if entries:
                    continue
                meta = await store.meta(stream_id)
                if meta is None:
                    yield _error("stream_not_found", "the answer expired while being read")
                    return
                if time.time() - meta.beat > self.idle and not meta.ended:
                    yield _error(
                        "producer_gone",
                        f"the answer's producer stopped (nothing for {self.idle:g} s): "
                        "its replica may be gone",
                    )
                    return
                yield b": keep-alive\n\n"
        except StoreError as exc:
            yield _error("store_unavailable", f"the relay's store failed: {exc}")

    async def to_aiohttp_response(
        self, request: web.BaseRequest, stream_id: str
    ) -> web.StreamResponse:
        """The answer for an ``aiohttp.web`` GET handler, resuming after the client's
        ``Last-Event-ID`` (header or ``?last_event_id=``). A client that leaves does not
        stop the producer (see ``keep_alive``)."""
        body = self.events(stream_id, last_event_id_of(request))
        return await aiohttp_response(request, body)

    def to_starlette_response(self, request: Any, stream_id: str) -> Any:
        """The answer as a Starlette / FastAPI ``StreamingResponse`` (see
        :meth:`to_aiohttp_response`)."""
        responses = importlib.import_module("starlette.responses")  # an optional framework
        return responses.StreamingResponse(
            self.events(stream_id, last_event_id_of(request)),
            media_type="text/event-stream",
            headers={k: v for k, v in SSE_HEADERS.items() if k.lower() != "content-type"},
        )


async def _pump(blocks: AsyncGenerator[bytes, None], queue: asyncio.Queue[bytes | None]) -> None:
    """Move the stream's SSE blocks into ``queue``, then ``None``; the stream closes
    however this ends (cancelled: upstream closed)."""
    try:
        async with contextlib.aclosing(blocks):
            async for block in blocks:
                queue.put_nowait(block)
    finally:
        queue.put_nowait(None)


async def _quiet(awaitable: Any) -> Any:
    """``await awaitable``, ``None`` when the store fails (while already ending)."""
    try:
        return await awaitable
    except (StoreError, OSError, TimeoutError):
        return None
