"""AsyncStream: the chunks of a streamed chat completion.

A stream kind on the engine (:mod:`xstream._streams.engine`): each ``data:`` event is
one :class:`ChatCompletionChunk`, decoded by msgspec straight from the event's
bytes; ``data: [DONE]`` ends the stream (also under an event name, or as the
body's last line without its blank line); a body that ends before it raises
:class:`IncompleteStreamError`. Every chunk also feeds an accumulator, one batch behind the loop, so
``get_final_completion()`` costs nothing extra at the end and, when the loop
was left early, holds exactly the chunks it saw.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import msgspec

from .._exceptions import IncompleteStreamError, NotAccumulatedError
from .._models.chat import (
    CHUNK_DECODER,
    COMPLETION_DECODER,
    ChatCompletion,
    ChatCompletionChunk,
    Usage,
    decode_lenient,
)
from .._protocol.accumulate import ChatCompletionAccumulator
from .._sse.decoder import ServerSentEvent, SSEDecoder
from .._transport.errors import error_event
from .._transport.request import Opened
from .._transport.transport import Transport
from .engine import StreamEngine
from .iterators import BatchIterator, Place
from .relay import DONE_EVENT, aiohttp_response, event_block, relay
from .state import ENDED
from .stats import BaseStats

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["AsyncStream", "StreamStats", "completion_or_none"]

_T = TypeVar("_T")
_DONE = b"[DONE]"
_ERROR = attrgetter("error")
_NO_RAWS: list[bytes] = []  # while not relayed: no list per read (never appended to)
_NO_EVENTS: list[ServerSentEvent] = []  # every event decoded at once (never appended to)
_NO_CHUNKS: list[Any] = []  # nothing unmerged: no list per stream or read (never added to)
_DECODE = CHUNK_DECODER.decode


class StreamStats(BaseStats, kw_only=True):
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

    time_to_first_chunk: float | None = None
    time_to_first_content: float | None = None
    chunks: int = 0
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


class AsyncStream(StreamEngine[_T]):
    """The chunks of a streamed response: iterate with ``async for``.

    Use it as ``async with stream:`` (or call ``await stream.aclose()``) to be
    sure the connection is released even if you never iterate. A stream is
    read once: after the loop ends (also by ``break``), a new ``async for``
    yields nothing. To read it in parts, hold one iterator:
    ``it = aiter(stream)`` and ``await anext(it)``.
    """

    __slots__ = (
        "_accumulate", "_accumulator", "_left_early", "_place", "_seen", "_unmerged",
        "_wire", "_wire_bytes",
    )  # fmt: skip
    stats: StreamStats
    _noun = "chunks"
    _expected = "a valid chunk"

    def __init__(self, transport: Transport, opened: Opened, *, accumulate: bool = True) -> None:
        super().__init__(transport, opened, stats=StreamStats())
        # Off when the typed events merge the chunks themselves, as the user reaches them.
        self._accumulate = accumulate
        self._accumulator = ChatCompletionAccumulator()
        # While the call is traced, its span's end values (id, model, finish reasons,
        # usage) come from every chunk that arrived, read ahead of the loop or not.
        self._wire = ChatCompletionAccumulator() if self._op is not None else None
        # The last batch handed out is merged once the loop asks for the next one,
        # so a loop left inside it merges only what it saw (``_seen`` of it).
        self._unmerged: list[ChatCompletionChunk] = _NO_CHUNKS  # (never added to)
        self._seen: int | None = None
        self._left_early = False
        self._place: Place[Any] | None = None  # where its loop is (see watch())
        # While relayed: each chunk with the bytes it was decoded from, until relayed.
        self._wire_bytes: deque[tuple[ChatCompletionChunk, bytes]] | None = None

    def __aiter__(self) -> AsyncIterator[_T]:
        reader = _ChunkIterator(self)
        self.watch(reader)
        return reader

    def watch(self, reader: _Reader) -> None:
        """Follow ``reader``, the loop over this stream (the sync facade's too): where
        it stopped tells what :meth:`get_final_completion` merges after it is left.

        The stream keeps the loop's :class:`Place`, not the loop: the loop is dropped
        as usual, and telling where it stopped again is harmless (``reader_left``)."""
        self._place = reader._place

    async def aclose(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        place = self._place
        if place is not None:
            self.reader_left(place.batch, place.index)
        elif not self.finished:
            self._left_early = True
        self._close()

    close = aclose  # the OpenAI SDK's name

    # ------------------------------------------------------------ public API

    @property
    def done(self) -> bool:
        """Whether ``data: [DONE]`` arrived."""
        return self.stats.done

    @property
    def text_stream(self: AsyncStream[ChatCompletionChunk]) -> AsyncIterator[str]:
        """The content deltas of the first choice, as ``str``; empty and
        usage-only chunks are skipped."""
        return _TextDeltas(self)

    @property
    def left_early(self) -> bool:
        """Whether the loop was left (``break``, ``aclose()``) before the stream's end.

        Then :meth:`get_final_completion` cannot read the rest: it holds exactly
        the chunks the loop saw (a choice whose finish chunk it did not see has
        ``finish_reason`` ``None``), not what was read ahead.
        """
        return self._left_early

    async def get_final_completion(self: AsyncStream[ChatCompletionChunk]) -> ChatCompletion:
        """Read the rest of the stream; return every chunk merged into one
        ``ChatCompletion`` (also the chunks already iterated).

        After the loop was left early (``break``, ``aclose()``: see
        :attr:`left_early`), there is no rest to read: the result is exactly the
        chunks the loop saw. A loop that only pauses (``it = aiter(stream)``,
        ``await anext(it)``) is not left: the rest is read.

        >>> async for chunk in stream:  # doctest: +SKIP
        ...     break
        >>> (await stream.get_final_completion()).choices[0].finish_reason  # doctest: +SKIP
        >>> stream.left_early  # doctest: +SKIP
        True
        """
        if not self._accumulate:
            raise NotAccumulatedError(
                "this stream keeps nothing to merge (made with accumulate=False, or relayed "
                "with to_sse()): keep the chunks, or use chat.completions.stream(...), whose "
                "get_final_completion() keeps what it needs"
            )
        while await self.next_batch():
            pass
        unmerged, self._unmerged = self._unmerged, _NO_CHUNKS
        if unmerged:
            seen = self._seen
            self._accumulator.add_all(unmerged if seen is None else unmerged[:seen])
        return self._accumulator.result()

    def reader_left(self, batch: list[Any], index: int) -> None:
        """A loop stopped reading at ``batch[index]`` (it is dropped, or the stream closed)."""
        if batch is self._unmerged and index < len(batch):
            self._seen = index
            self._left_early = True
        elif not self.finished:
            self._left_early = True

    def to_sse(self) -> AsyncIterator[bytes]:
        """The stream re-encoded as ``text/event-stream`` bytes, to relay it on.

        Each chunk is one ``data: {json}`` event, and ``data: [DONE]`` ends it; an
        error mid-stream is sent as one ``event: error`` (OpenAI-style JSON, no
        secrets) and ends it. Closing the iterator (the web framework does when the
        client leaves) closes this stream at once. For Starlette and FastAPI::

            return StreamingResponse(stream.to_sse(), media_type="text/event-stream")
        """
        return self._relay()

    async def to_aiohttp_response(self, request: web.BaseRequest) -> web.StreamResponse:
        """Relay the stream to an ``aiohttp.web`` client (see :meth:`to_sse`): the
        response to return from the handler. The moment the client leaves, also
        while the server is quiet, this stream is closed."""
        return await aiohttp_response(request, self._relay())

    def _relay(self) -> AsyncGenerator[bytes, None]:
        self.stop_accumulating()  # a relay keeps nothing: the chunks go on as they came
        self.keep_wire()
        return relay(self, self.sse_item, self._close, self.sse_end)

    def keep_wire(self) -> None:
        """Keep each chunk's bytes from now on until :meth:`sse_item` relays it: what
        :meth:`to_sse` does, so the relay passes on the server's data unchanged."""
        if self._wire_bytes is None:
            self._wire_bytes = deque()

    def stop_accumulating(self) -> None:
        """Keep no more chunks for :meth:`get_final_completion` (which then raises
        :class:`~xstream.NotAccumulatedError`): what a relay does."""
        self._accumulate = False
        self._unmerged = _NO_CHUNKS

    # ------------------------------------------------------------ the kind

    sse_end = DONE_EVENT

    def sse_item(self, chunk: Any) -> bytes:
        """The chunk's event: the data the server sent (after :meth:`keep_wire`: no key
        added, none lost), else the chunk's JSON (:meth:`~ChatCompletionChunk.to_json`)."""
        kept = self._wire_bytes
        while kept:
            item, raw = kept.popleft()
            if item is chunk:
                return event_block(raw)
        return event_block(chunk.to_json())

    @property
    def _delivered(self) -> int:
        return self.stats.chunks

    def _restart(self) -> None:
        self._accumulator = ChatCompletionAccumulator()
        self._unmerged = _NO_CHUNKS
        if self._wire is not None:
            self._wire = ChatCompletionAccumulator()

    @staticmethod
    def salvage(raw: bytes) -> ChatCompletion | None:
        return completion_or_none(raw)

    def _telemetry(self) -> tuple[object, float | None]:
        wire = self._wire
        return (wire.result() if wire is not None else None), self.stats.time_to_first_chunk

    def _seen_all(self) -> None:
        # Merged now, not after the next read: a stream waiting for its next chunk
        # holds no decoded chunks (10,000 waiting streams, 10,000 batches).
        if self._unmerged and self._seen is None:  # (a loop left inside it: kept as seen)
            self._accumulator.add_all(self._unmerged)
            self._unmerged = _NO_CHUNKS

    def _feed(self, data: bytes) -> list[bytes] | list[ServerSentEvent]:
        return self._decoder.feed_payloads(data)

    def _decode_events(self, events: list[bytes] | list[ServerSentEvent], now: float) -> list[_T]:
        """Decode events into chunks, stopping at [DONE] or at a failure.

        ``events`` is what ``SSEDecoder.feed_payloads`` returned: for the common
        read, the data of plain events, decoded in one C loop (``map``); an event
        that does not decode as a chunk ([DONE], a keep-alive, a malformed chunk)
        stops it. ``out`` keeps the chunks before it, and the loop over events
        takes over from there. A chunk carrying an error does the same.
        """
        stats = self.stats
        if stats.time_to_first_chunk is None:
            stats.time_to_first_chunk = now - self._sent
        decode = _DECODE
        if self._unmerged:  # the loop asks for more: it saw all of the last batch
            self._accumulator.add_all(self._unmerged)
        out: list[ChatCompletionChunk] = []
        wire = self._wire_bytes
        raws = _NO_RAWS  # the data of each chunk in out, while relayed (then a list of its own)
        if events and type(events[0]) is bytes:
            try:  # noqa: SIM105 - once per read; suppress() would cost a context manager
                out.extend(map(decode, events))
            except ValueError:
                pass
            if wire is not None:
                raws = events[: len(out)]
            if (
                out[0].error is not None
                if len(out) == 1
                else list(map(_ERROR, out)).count(None) != len(out)
            ):
                del out[next(i for i, chunk in enumerate(out) if chunk.error is not None) :]
            if len(out) == len(events):  # the common read: no event left for the loop
                whole = rest = _NO_EVENTS
            else:
                whole = self._decoder._as_events(events)
                rest = whole[len(out) :]
        else:
            whole = rest = cast("list[ServerSentEvent]", events)
        for event in rest:
            if event.event != "message":
                if event.event == "error":
                    self._pending = error_event(event, self.response)
                    break
                if event.raw.strip() == _DONE:  # some proxies name the last event
                    self._end()
                    break
                continue  # other named events (pings, ...) carry no chunk
            try:
                chunk = decode(event.raw)
            except ValueError as exc:  # msgspec errors (and UnicodeDecodeError before 0.23)
                slow = self._decode_slowly(event, whole, exc)
                if slow is None:
                    if self.state is ENDED or self._pending is not None:
                        break
                    continue
                chunk = slow
            if chunk.error is not None:
                self._pending = error_event(event, self.response)
                break
            out.append(chunk)
            if wire is not None:
                if raws is _NO_RAWS:
                    raws = []
                raws.append(event.raw)
        stats.chunks += len(out)
        if wire is not None:
            wire.extend(zip(out, raws, strict=False))  # out may end before raws
        # Off when the typed events merge the chunks themselves: nothing kept to merge.
        self._unmerged = out if self._accumulate else _NO_CHUNKS
        if self._wire is not None:
            self._wire.add_all(out)
        if out:
            # The wire's last usage: xAI sends it in every chunk, OpenAI in the last.
            usage = out[-1].usage
            if usage is None and self.state is ENDED:
                usage = _usage(out, None)
            if usage is not None:
                stats.usage = usage
            if stats.time_to_first_content is None and _has_text(out):
                stats.time_to_first_content = now - self._sent
        return out  # type: ignore[return-value]  # (cast() would be a call per read)

    def _body_ended(self, decoder: SSEDecoder) -> BaseException | None:
        last = decoder.unterminated()
        # Sloppy servers end with "data: [DONE]" and no blank line. The standard
        # drops that last block; the answer is complete all the same.
        complete = last is not None and last.raw.strip() == _DONE
        decoder.close()
        if complete:
            return None
        cut = " inside an event" if decoder.discarded else ""
        return IncompleteStreamError(
            f"the stream ended{cut} without [DONE] after {self.stats.chunks} chunks: "
            "the answer may be cut short",
            events_received=self.stats.chunks,
        )

    def _decode_slowly(
        self, event: ServerSentEvent, events: list[ServerSentEvent], exc: ValueError
    ) -> ChatCompletionChunk | None:
        """What a payload the fast decoder refused is: [DONE], a keep-alive, a chunk
        with nulls where defaults belong, or malformed (``_pending`` is set)."""
        payload = event.raw.strip()
        if payload == _DONE:
            self._end()
        elif payload:  # an empty data line is a keep-alive, not a chunk
            if isinstance(exc, msgspec.ValidationError):
                try:
                    return decode_lenient(payload, ChatCompletionChunk)
                except ValueError:
                    pass
            self._pending = self._malformed(event, events, exc)
        return None


class _Reader(Protocol):
    """What a loop over the stream holds: where it is (the batch, its place in it)."""

    _place: Place[Any]


class _ChunkIterator(BatchIterator[_T]):
    """The engine's iterator, telling the stream where the loop stopped when dropped."""

    __slots__ = ()

    def __del__(self) -> None:
        cast("AsyncStream[_T]", self._stream).reader_left(self._batch, self._index)
        super().__del__()


def _usage(chunks: list[ChatCompletionChunk], usage: Usage | None) -> Usage | None:
    for chunk in reversed(chunks):
        if chunk.usage is not None:
            return chunk.usage
    return usage


def completion_or_none(raw: bytes) -> ChatCompletion | None:
    """``raw`` as a ChatCompletion (nulls tolerated), or None when it is not one."""
    try:
        completion = COMPLETION_DECODER.decode(raw)
    except msgspec.ValidationError:
        try:
            completion = decode_lenient(raw, ChatCompletion)
        except ValueError:
            return None
    except ValueError:
        return None
    return completion if completion.choices else None


class _TextDeltas:
    """``text_stream``: an iterator, not an async generator, so that leaving its loop
    closes the stream at once (an async generator is finalized later, by the loop)."""

    __slots__ = ("_chunks",)

    def __init__(self, stream: AsyncStream[ChatCompletionChunk]) -> None:
        self._chunks = aiter(stream)

    def __aiter__(self) -> _TextDeltas:
        return self

    async def __anext__(self) -> str:
        while True:
            chunk = await anext(self._chunks)
            for choice in chunk.choices:
                if choice.index == 0 and choice.delta.content:
                    return choice.delta.content


def _has_text(chunks: list[ChatCompletionChunk]) -> bool:
    for chunk in chunks:
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content or delta.reasoning_content or delta.reasoning or delta.refusal:
                return True
    return False
