"""AsyncStream: the chunks of one streamed response, and nothing leaked.

The hot path, per network read: one ``SSEDecoder.feed`` over the bytes, then
per event one msgspec decode straight from the event's bytes. Everything else
(deadlines, stats, retries) happens once per read, not once per chunk.

Rules kept here:

* Nothing lost: chunks that arrived before a failure are delivered first;
  the failure is raised on the next read (``_pending``).
* Nothing duplicated: a failed attempt is retried only while no chunk has
  been handed out.
* Nothing leaked: leaving the loop (``break``, an exception, cancellation)
  closes the response at once. ``__aiter__`` hands out a small iterator
  object whose ``__del__`` closes the response the moment the loop drops it,
  without waiting for the event loop to finalize an async generator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, NoReturn, Protocol, Self, TypeVar, cast

import aiohttp
import msgspec

from ._accumulate import ChatCompletionAccumulator
from ._errors import (
    APIError,
    APITimeoutError,
    EventTooLargeError,
    FirstEventTimeoutError,
    IdleTimeoutError,
    IncompleteStreamError,
    MalformedEventError,
    OverloadedError,
    StreamDisconnectedError,
    StreamRateLimitError,
    TotalTimeoutError,
    malformed_event,
    stream_error,
)
from ._retries import retry_delay
from ._sse import ServerSentEvent, SSEDecoder
from ._timeouts import Timeout
from ._types import CHUNK_DECODER, ChatCompletion, ChatCompletionChunk, Usage, decode_lenient

__all__ = ["AsyncStream", "StreamStats"]

log = logging.getLogger("xstream")

_T = TypeVar("_T")

# At most this much per network read: a backlog (a slow consumer, the sync facade's
# thread hop) is then decoded in cache-sized pieces instead of one huge batch;
# measured, 512 KiB pieces decode ~35% slower than 16-256 KiB ones.
_READ_BYTES = 128 * 1024
_DRAIN_BYTES = 64 * 1024  # what we read past [DONE] to give the connection back to the pool
_DRAIN_SECONDS = 1.0


class StreamStats(msgspec.Struct, kw_only=True):
    """Live numbers about one stream (times in seconds, from sending the request).

    ``time_to_first_byte`` / ``time_to_first_chunk`` / ``time_to_first_content``:
    latency to the first body bytes / first chunk / first chunk with text
    (content, reasoning or refusal); ``chunks``, ``bytes``: received so far;
    ``max_gap``: the largest wait between two reads that brought events;
    ``done``: whether ``[DONE]`` arrived; ``retries``: attempts redone before
    the first chunk; ``elapsed``: time from the request to the last event;
    ``usage``: the last usage the server reported.

    >>> StreamStats(time_to_first_chunk=0.5, elapsed=2.5, chunks=41).tokens_per_second
    20.5
    """

    time_to_first_byte: float | None = None
    time_to_first_chunk: float | None = None
    time_to_first_content: float | None = None
    chunks: int = 0
    bytes: int = 0
    max_gap: float = 0.0
    done: bool = False
    retries: int = 0
    elapsed: float = 0.0
    usage: Usage | None = None

    @property
    def tokens_per_second(self) -> float | None:
        """Completion tokens (from usage when sent, else chunks counted) per second
        after the first chunk; ``None`` until that can be told."""
        if self.time_to_first_chunk is None or self.elapsed <= self.time_to_first_chunk:
            return None
        usage = self.usage
        tokens = usage.completion_tokens if usage and usage.completion_tokens else self.chunks
        return tokens / (self.elapsed - self.time_to_first_chunk)


Reopen = Callable[[int], Awaitable[aiohttp.ClientResponse]]


class BatchReader(Generic[_T]):
    """The read loop every stream kind shares: read, decode, hand out a batch.

    Subclasses say how to turn events into items (``_decode_events``), whether
    the stream reached its end marker (``_at_end``), what to do then
    (``_wind_down``), and how to try again after a failure (``_retry``).
    """

    _finished: bool
    _pending: BaseException | None
    _handed_out: bool
    _decoder: SSEDecoder

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

    async def _next_batch(self) -> list[_T]:
        """The items completed by the next network read(s); ``[]`` at the end.

        Raises the stream's failure once every item before it was returned.
        """
        while not self._finished:
            if self._pending is not None:
                error, self._pending = self._pending, None
                try:
                    again = await self._retry(error)
                except BaseException:
                    self._close()
                    raise
                if again:
                    continue
                self._close()
                raise error
            try:
                data = await self._read()
            except (APITimeoutError, StreamDisconnectedError) as exc:
                self._pending = exc
                continue
            if not data:
                self._end_of_body()
                continue
            try:
                events = self._decoder.feed(data)
            except EventTooLargeError as exc:
                events, exc.events = exc.events, []
                self._pending = exc
            if events:
                batch = self._decode_events(events)
                if self._at_end():
                    await self._wind_down()
                if batch:
                    self._handed_out = True
                    return batch
        return []

    async def _read(self) -> bytes:
        raise NotImplementedError

    def _decode_events(self, events: list[ServerSentEvent]) -> list[_T]:
        raise NotImplementedError

    def _at_end(self) -> bool:
        raise NotImplementedError

    async def _wind_down(self) -> None:
        raise NotImplementedError

    async def _retry(self, error: BaseException) -> bool:
        raise NotImplementedError

    def _end_of_body(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class AsyncStream(BatchReader[_T]):
    """The chunks of a streamed response: iterate with ``async for``.

    Use it as ``async with stream:`` (or call ``await stream.aclose()``) to be
    sure the connection is released even if you never iterate. A stream is
    read once: after the loop ends (also by ``break``), a new ``async for``
    yields nothing. To read it in parts, hold one iterator:
    ``it = aiter(stream)`` and ``await anext(it)``.
    """

    response: aiohttp.ClientResponse
    stats: StreamStats

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        *,
        timeout: Timeout,
        started: float,
        max_event_bytes: int,
        retries_left: int = 0,
        reopen: Reopen | None = None,
    ) -> None:
        self.response = response
        self.stats = StreamStats()
        self._decode = CHUNK_DECODER.decode
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._started = started  # loop time at which the request went out
        self._last_event: float | None = None
        self._max_event_bytes = max_event_bytes
        self._decoder = SSEDecoder(max_event_bytes=max_event_bytes)
        self._retries_left = retries_left
        self._reopen = reopen
        self._accumulator = ChatCompletionAccumulator()
        self._pending: BaseException | None = None
        self._broken: BaseException | None = None  # transport error met after salvaging bytes
        self._finished = False  # no more batches: closed, failed or past [DONE]
        self._handed_out = False  # a chunk reached the caller: no retry from now on
        self._events_seen = 0

    # ------------------------------------------------------------ public API

    @property
    def done(self) -> bool:
        """Whether ``data: [DONE]`` arrived."""
        return self.stats.done

    @property
    def text_stream(self: AsyncStream[ChatCompletionChunk]) -> AsyncIterator[str]:
        """The content deltas of the first choice, as ``str``; empty and
        usage-only chunks are skipped."""
        return _text_deltas(self)

    async def get_final_completion(self: AsyncStream[ChatCompletionChunk]) -> ChatCompletion:
        """Read the rest of the stream; return every chunk merged into one
        ``ChatCompletion`` (also the chunks already iterated)."""
        while await self._next_batch():
            pass
        return self._accumulator.result()

    def __repr__(self) -> str:
        state = "done" if self.stats.done else "closed" if self._finished else "open"
        return f"<AsyncStream {state} chunks={self.stats.chunks} status={self.response.status}>"

    def __del__(self) -> None:
        # A stream dropped without being read or closed must not leak its connection.
        if not getattr(self, "_finished", True):
            self.response.close()

    # ------------------------------------------------------------ internals

    def _at_end(self) -> bool:
        return self.stats.done

    async def _wind_down(self) -> None:
        await self._drain()

    def _decode_events(self, events: list[ServerSentEvent]) -> list[_T]:
        return self._chunks(events)

    def _chunks(self, events: list[ServerSentEvent]) -> list[_T]:
        """Decode events into chunks, stopping at [DONE] or at a failure."""
        now = self._loop.time()
        stats = self.stats
        if self._last_event is None:
            stats.time_to_first_chunk = now - self._started
        elif now - self._last_event > stats.max_gap:
            stats.max_gap = now - self._last_event
        self._last_event = now
        stats.elapsed = now - self._started
        decode = self._decode
        add = self._accumulator.add
        out: list[ChatCompletionChunk] = []
        append = out.append
        for event in events:
            if event.event != "message":
                if event.event == "error":
                    self._pending = self._error_event(event)
                    break
                if event.raw.strip() == b"[DONE]":  # some proxies name the last event
                    stats.done = True
                    break
                continue  # other named events (pings, ...) carry no chunk
            try:
                chunk = decode(event.raw)
            except ValueError as exc:  # msgspec.DecodeError, UnicodeDecodeError
                slow = self._decode_slowly(event, events, exc)
                if slow is None:
                    if stats.done or self._pending is not None:
                        break
                    continue
                chunk = slow
            if chunk.error is not None:
                self._pending = self._error_event(event)
                break
            add(chunk)
            append(chunk)
        stats.chunks += len(out)
        self._events_seen += len(events)
        if out:
            stats.usage = self._accumulator.usage
            if stats.time_to_first_content is None and _has_text(out):
                stats.time_to_first_content = now - self._started
        return cast("list[_T]", out)

    async def _read(self) -> bytes:
        """One network read, bounded by the deadline in force; errors mapped."""
        if self._broken is not None:
            self._disconnected(self._broken)
        deadline, error_class, seconds = self._deadline()
        try:
            if deadline is None:
                data = await self.response.content.read(_READ_BYTES)
            else:
                async with asyncio.timeout_at(deadline):
                    data = await self.response.content.read(_READ_BYTES)
        except TimeoutError as exc:
            assert error_class is not None
            name = _deadline_name(error_class)
            raise error_class(
                f"the {name} deadline of {seconds:g} s passed; "
                f"{self.stats.chunks} chunks ({self.stats.bytes} bytes) had arrived",
                deadline=name,
                seconds=seconds,
                events_received=self.stats.chunks,
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            # aiohttp raises a stored connection error before handing out bytes it
            # had already received: take those first, raise on the next read.
            data = _received_before_error(self.response.content)
            if not data:
                self._disconnected(exc)
            self._broken = exc
        if self.stats.bytes == 0 and data:
            self.stats.time_to_first_byte = self._loop.time() - self._started
        self.stats.bytes += len(data)
        return data

    def _disconnected(self, exc: BaseException) -> NoReturn:
        raise StreamDisconnectedError(
            f"the connection broke after {self.stats.chunks} chunks "
            f"({self.stats.bytes} bytes): {type(exc).__name__}: {exc}",
            events_received=self.stats.chunks,
        ) from exc

    def _deadline(self) -> tuple[float | None, type[APITimeoutError] | None, float]:
        t = self._timeout
        deadline: float | None = None
        error_class: type[APITimeoutError] | None = None
        seconds = 0.0
        if self._last_event is None:
            if t.first_event is not None:
                deadline, error_class, seconds = (
                    self._started + t.first_event,
                    FirstEventTimeoutError,
                    t.first_event,
                )
        elif t.idle is not None:
            deadline, error_class, seconds = self._last_event + t.idle, IdleTimeoutError, t.idle
        if t.total is not None and (deadline is None or self._started + t.total < deadline):
            deadline, error_class, seconds = self._started + t.total, TotalTimeoutError, t.total
        return deadline, error_class, seconds

    def _end_of_body(self) -> None:
        last = None if self.stats.done else self._decoder.unterminated()
        if last is not None and last.raw.strip() == b"[DONE]":
            # Sloppy servers end with "data: [DONE]" and no blank line. The standard
            # drops that last block; the answer is complete all the same.
            self.stats.done = True
        self._decoder.close()
        if not self.stats.done:
            cut = " inside an event" if self._decoder.discarded else ""
            self._pending = IncompleteStreamError(
                f"the stream ended{cut} without [DONE] after {self.stats.chunks} chunks: "
                "the answer may be cut short",
                events_received=self.stats.chunks,
            )
        else:
            self._close()

    async def _drain(self) -> None:
        """After [DONE]: read the (short) rest so the connection can be reused."""
        content = self.response.content
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
        self._finished = True
        if budget > 0 and content.at_eof():
            self.response.release()
        else:
            self.response.close()

    def _close(self) -> None:
        self._finished = True
        if not self.response.closed:
            self.response.close()

    async def _retry(self, error: BaseException) -> bool:
        """Open the request again if that cannot duplicate output."""
        if (
            self._handed_out
            or self._retries_left <= 0
            or self._reopen is None
            or not isinstance(
                error,
                FirstEventTimeoutError
                | StreamDisconnectedError
                | OverloadedError
                | StreamRateLimitError,
            )
        ):
            return False
        attempt = self.stats.retries
        delay = retry_delay(attempt, _headers_of(error))
        if delay is None:
            return False
        log.debug("retrying a stream before its first chunk in %.2f s: %s", delay, error)
        self.response.close()
        await asyncio.sleep(delay)
        self._retries_left -= 1
        self.stats.retries += 1
        self.response = await self._reopen(self._retries_left)
        self._started = self._loop.time()
        self._last_event = None
        self._broken = None
        self._decoder = SSEDecoder(max_event_bytes=self._max_event_bytes)
        self._accumulator = ChatCompletionAccumulator()
        self.stats = StreamStats(retries=self.stats.retries)
        return True

    def _decode_slowly(
        self, event: ServerSentEvent, events: list[ServerSentEvent], exc: ValueError
    ) -> ChatCompletionChunk | None:
        """What a payload the fast decoder refused is: [DONE], a keep-alive, a chunk
        with nulls where defaults belong, or malformed (``_pending`` is set)."""
        payload = event.raw.strip()
        if payload == b"[DONE]":
            self.stats.done = True
        elif payload:  # an empty data line is a keep-alive, not a chunk
            if isinstance(exc, msgspec.ValidationError):
                try:
                    return decode_lenient(payload, ChatCompletionChunk)
                except ValueError:
                    pass
            self._pending = self._malformed(event, events, exc)
        return None

    def _error_event(self, event: ServerSentEvent) -> APIError:
        try:
            body: object = msgspec.json.decode(event.raw)
        except ValueError:
            body = {"error": {"message": event.data[:200]}}
        return stream_error(body, self.response)

    def _malformed(
        self, event: ServerSentEvent, events: list[ServerSentEvent], exc: ValueError
    ) -> MalformedEventError:
        position = self._events_seen + next(i for i, e in enumerate(events) if e is event)
        return malformed_event(
            event.raw,
            exc,
            position=position,
            subject=f"event #{position} of the stream",
            expected="a valid chunk",
        )


class BatchSource(Protocol[_T]):
    """What :class:`BatchIterator` drives: a stream that reads in batches."""

    _finished: bool

    async def _next_batch(self) -> list[_T]: ...

    def _close(self) -> None: ...


class BatchIterator(Generic[_T]):
    """What ``async for`` drives: hands out one batch of items at a time, and
    releases the connection the moment the loop drops it (``__del__``), without
    waiting for the event loop to finalize an async generator."""

    __slots__ = ("_batch", "_index", "_stream")

    def __init__(self, stream: BatchSource[_T]) -> None:
        self._stream = stream
        self._batch: list[_T] = []
        self._index = 0

    def __aiter__(self) -> BatchIterator[_T]:
        return self

    async def __anext__(self) -> _T:
        index = self._index
        if index < len(self._batch):
            self._index = index + 1
            return self._batch[index]
        try:
            batch = await self._stream._next_batch()
        except BaseException:
            self._stream._close()
            raise
        if not batch:
            raise StopAsyncIteration
        self._batch = batch
        self._index = 1
        return batch[0]

    def __del__(self) -> None:
        stream = self._stream
        if not stream._finished:
            stream._close()


async def _text_deltas(stream: AsyncStream[ChatCompletionChunk]) -> AsyncIterator[str]:
    try:
        async for chunk in stream:
            for choice in chunk.choices:
                if choice.index == 0 and choice.delta.content:
                    yield choice.delta.content
    finally:
        stream._close()


def _has_text(chunks: list[ChatCompletionChunk]) -> bool:
    for chunk in chunks:
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content or delta.reasoning_content or delta.refusal:
                return True
    return False


def _received_before_error(content: aiohttp.StreamReader) -> bytes:
    """Bytes aiohttp received but holds back behind a stored exception (private API,
    read defensively: on any surprise we only lose what aiohttp would have lost)."""
    try:
        if content._buffer:
            return content._read_nowait(-1)
    except Exception:
        pass
    return b""


def _deadline_name(error_class: type[APITimeoutError]) -> str:
    return {
        FirstEventTimeoutError: "first_event",
        IdleTimeoutError: "idle",
        TotalTimeoutError: "total",
    }.get(error_class, "request")


def _headers_of(error: BaseException) -> dict[str, str] | None:
    response = getattr(error, "response", None)
    if isinstance(response, aiohttp.ClientResponse):
        return {k.lower(): v for k, v in response.headers.items()}
    return None
