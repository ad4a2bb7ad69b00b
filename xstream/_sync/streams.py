"""The blocking streams: a stream living on the client's loop thread, read from this one.

A network read's bytes cross threads once (up to 1 MiB a hop) and are decoded
on the calling thread; nothing crosses per item;
leaving the ``for`` loop, an exception or Ctrl-C closes the response on the
loop thread. :class:`Stream` (chat chunks), :class:`SyncEventStream` (any
event stream) and :class:`SyncResponseStream` (the Responses API) add only the
helpers of the async stream they wrap.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import aiohttp

from .._models.chat import ChatCompletion, ChatCompletionChunk
from .._models.responses import (
    Response,
    ResponseOutputTextDeltaEvent,
    ResponseStreamEvent,
)
from .._streams.chat import AsyncStream, StreamStats
from .._streams.engine import StreamEngine
from .._streams.events import EventStream, EventStreamStats
from .._streams.iterators import NEXT_STEP, Place, PlacedIterator
from .._streams.relay import relay_sync
from .._streams.responses import ResponseStream
from .._transport.pool import full_reads
from .portal import LoopThread

__all__ = [
    "BlockingStream",
    "Stream",
    "SyncEventStream",
    "SyncResponseStream",
]

_T = TypeVar("_T")
_SYNC_READ_BYTES = 1024 * 1024
_SLICE_BYTES = 128 * 1024  # what one async read takes at most (_streams/engine.py: _READ_BYTES)


class BlockingStream(Generic[_T]):
    """A stream read from this thread while it lives on the client's loop thread.

    ``with stream:`` (or ``stream.close()``) releases the connection; so does
    leaving the ``for`` loop early. Read once, like the async streams.
    """

    def __init__(self, loop: LoopThread, stream: StreamEngine[_T]) -> None:
        self._loop = loop
        self._stream = stream
        # What is already received crosses in one hop, up to this much (a read
        # waits only when nothing has arrived, so this adds no latency).
        stream.read_bytes = _SYNC_READ_BYTES
        full_reads(stream.response)  # and the socket's reads as large as they come
        self._batches: Generator[list[_T], None, None] | None = None  # for next_batch()

    @property
    def response(self) -> aiohttp.ClientResponse:
        return self._stream.response

    def __iter__(self) -> Iterator[_T]:
        return _BlockingIterator(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        if not self._stream.finished:
            self._loop.run(self._stream.aclose)

    def __repr__(self) -> str:
        text = repr(self._stream)
        return text.replace("Async", "", 1) if text.startswith("<Async") else "<Sync" + text[1:]

    def _close_soon(self) -> None:
        """Close from any thread without waiting (used by finalizers)."""
        self._stream.close_soon()

    discard = _close_soon  # the engine's name: stop without waiting

    @property
    def finished(self) -> bool:
        """No more items: the stream is done, closed or failed."""
        return self._stream.finished

    def sse_item(self, item: Any) -> bytes:
        """An item as the relay encodes it (see ``to_sse``)."""
        return self._stream.sse_item(item)

    def keep_wire(self) -> None:
        """Keep each item's bytes until :meth:`sse_item` relays it (see ``to_sse``)."""
        self._stream.keep_wire()

    @property
    def sse_end(self) -> bytes:
        """What the relay sends after the last item."""
        return self._stream.sse_end

    def next_batch(self) -> list[_T]:
        """The items of the next network read(s); ``[]`` at the end (one thread hop
        per read, as the async stream's ``next_batch`` awaits one read)."""
        if self._batches is None:
            self._batches = _batches(self)
        return next(self._batches, [])

    def __del__(self) -> None:
        if hasattr(self, "_stream"):
            self._close_soon()


def _batches(stream: BlockingStream[_T]) -> Generator[list[_T], None, None]:
    """The batches of items, read on the loop thread and decoded on this one.

    One thread hop per network read brings its bytes (reads, retries and the end
    of the body need the loop); the decoding is done here, by the thread that
    uses the items, so that they are made, read and freed on one CPU.
    """
    run = stream._loop.run
    engine = stream._stream
    receive = engine.receive
    decode = engine.decode
    while True:
        try:
            data = run(receive)
        except BaseException:
            engine.close_soon()
            raise
        if data is None:
            return
        # A hop brings up to a MiB; it is decoded a slice at a time, so that a
        # batch of items stays small (and in the CPU's cache) as in the async loop.
        for start in range(0, len(data), _SLICE_BYTES):
            try:
                batch = decode(
                    data[start : start + _SLICE_BYTES] if len(data) > _SLICE_BYTES else data
                )
            except BaseException:
                engine.close_soon()
                raise
            if batch:
                yield batch
            if engine.stopped:
                break  # what follows is past the end, or past a failure


def _blocking_items(stream: BlockingStream[_T], place: Place[_T]) -> Generator[_T, None, None]:
    """The items of one batch after another, where the loop is kept in ``place``."""
    for batch in _batches(stream):
        place.batch = batch
        place.items = items = iter(batch)
        yield from items


class _BlockingIterator(PlacedIterator[_T]):
    """What ``for`` drives: the items of one batch after another, from a generator
    whose own ``__next__`` is this iterator's (a property whose getter is C code),
    so no Python frame runs per item except the generator's. Dropping the
    iterator (leaving the loop) closes the stream at once."""

    __slots__ = ("_generator", "_next", "_stream")

    def __init__(self, stream: BlockingStream[_T]) -> None:
        self._stream = stream
        self._place = Place()
        self._generator = _blocking_items(stream, self._place)
        self._next = self._generator.__next__

    def __iter__(self) -> _BlockingIterator[_T]:
        return self

    if TYPE_CHECKING:

        def __next__(self) -> _T: ...

    else:
        __next__ = NEXT_STEP

    def __del__(self) -> None:
        self._stream._close_soon()
        self._generator.close()


class Stream(BlockingStream[_T]):
    """The chunks of a streamed response: iterate with ``for``.

    ``with stream:`` (or ``stream.close()``) releases the connection; so does
    leaving the ``for`` loop early. Read once, like :class:`AsyncStream`.
    """

    _stream: AsyncStream[_T]

    def __init__(self, loop: LoopThread, stream: AsyncStream[_T]) -> None:
        super().__init__(loop, stream)

    def __iter__(self) -> Iterator[_T]:
        reader = _ChunkIterator(self)
        self._stream.watch(reader)
        return reader

    @property
    def stats(self) -> StreamStats:
        return self._stream.stats

    @property
    def done(self) -> bool:
        return self._stream.done

    @property
    def left_early(self) -> bool:
        """Whether the loop was left before the end (see :attr:`AsyncStream.left_early`)."""
        return self._stream.left_early

    @property
    def text_stream(self: Stream[ChatCompletionChunk]) -> Iterator[str]:
        """The content deltas of the first choice, as ``str``."""
        try:
            for chunk in self:
                for choice in chunk.choices:
                    if choice.index == 0 and choice.delta.content:
                        yield choice.delta.content
        finally:
            self._close_soon()

    def stop_accumulating(self) -> None:
        """Keep no more chunks for :meth:`get_final_completion` (see
        :meth:`AsyncStream.stop_accumulating`)."""
        self._stream.stop_accumulating()

    def get_final_completion(self: Stream[ChatCompletionChunk]) -> ChatCompletion:
        """Read the rest; return every chunk merged into one ``ChatCompletion``;
        after the loop was left early, exactly the chunks it saw (see
        :attr:`AsyncStream.left_early`)."""
        return self._loop.run(self._stream.get_final_completion)

    def to_sse(self) -> Iterator[bytes]:
        """The stream as ``text/event-stream`` bytes, like ``AsyncStream.to_sse``;
        closing the iterator (WSGI servers do when the client leaves) closes the stream."""
        inner = self._stream
        inner.stop_accumulating()  # a relay keeps nothing
        inner.keep_wire()  # ... but each chunk's bytes, until relayed
        return relay_sync(self, inner.sse_item, self._close_soon, inner.sse_end)


class _ChunkIterator(_BlockingIterator[_T]):
    """Tells the async stream where the loop stopped when it is dropped (the stream
    is only read from this thread while the loop runs, so nothing races)."""

    __slots__ = ()
    _stream: Stream[_T]

    def __del__(self) -> None:
        self._stream._stream.reader_left(self._batch, self._index)
        super().__del__()


class SyncEventStream(BlockingStream[_T]):
    """The events of a stream: iterate with ``for``.

    ``with stream:`` (or ``stream.close()``) releases the connection; so does
    leaving the loop early. Read once, like :class:`EventStream`.

    >>> with client.sse("GET", "/events") as stream:        # doctest: +SKIP
    ...     for event in stream:
    ...         print(event.event, event.data)
    """

    _stream: EventStream[_T]

    def __init__(self, loop: LoopThread, stream: EventStream[_T]) -> None:
        super().__init__(loop, stream)

    @property
    def stats(self) -> EventStreamStats:
        return self._stream.stats

    def to_sse(self) -> Iterator[bytes]:
        """The stream as ``text/event-stream`` bytes, like ``EventStream.to_sse``;
        closing the iterator (WSGI servers do when the client leaves) closes the stream."""
        self._stream.keep_wire()
        return relay_sync(self, self._stream.sse_item, self._close_soon, b"")


class SyncResponseStream(SyncEventStream[ResponseStreamEvent]):
    """The events of a streamed response, blocking; see :class:`ResponseStream`."""

    _stream: ResponseStream

    def __init__(self, loop: LoopThread, stream: ResponseStream) -> None:
        super().__init__(loop, stream)

    def get_final_response(self) -> Response:
        """Read the rest; return the response of the terminal event."""
        return self._loop.run(self._stream.get_final_response)

    @property
    def text_stream(self) -> Iterator[str]:
        """The output text deltas, as ``str``."""
        try:
            for event in self:
                if isinstance(event, ResponseOutputTextDeltaEvent) and event.delta:
                    yield event.delta
        finally:
            self._close_soon()
