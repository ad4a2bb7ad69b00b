"""AsyncStream: the chunks of a streamed chat completion.

A stream kind on the engine (:mod:`xstream._engine`): each ``data:`` event is
one :class:`ChatCompletionChunk`, decoded by msgspec straight from the event's
bytes; ``data: [DONE]`` ends the stream (also under an event name, or as the
body's last line without its blank line); a body that ends before it raises
:class:`IncompleteStreamError`. Every chunk also feeds an accumulator, so
``get_final_completion()`` costs nothing extra at the end.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, TypeVar, cast

import msgspec

from ._accumulate import ChatCompletionAccumulator
from ._engine import BaseStats, StreamEngine, error_event
from ._errors import IncompleteStreamError
from ._relay import DONE_EVENT, aiohttp_response, json_of, relay
from ._sse import ServerSentEvent, SSEDecoder
from ._transport import Opened, Transport
from ._types import (
    CHUNK_DECODER,
    COMPLETION_DECODER,
    ChatCompletion,
    ChatCompletionChunk,
    Usage,
    decode_lenient,
)

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["AsyncStream", "StreamStats", "completion_or_none"]

_T = TypeVar("_T")
_DONE = b"[DONE]"


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

    stats: StreamStats
    _noun = "chunks"
    _expected = "a valid chunk"

    def __init__(self, transport: Transport, opened: Opened, *, accumulate: bool = True) -> None:
        super().__init__(transport, opened, stats=StreamStats())
        self._decode = CHUNK_DECODER.decode
        # Off when the typed events merge the chunks themselves, as the user reaches them;
        # on while the call is traced: its span's end values (id, model, finish reasons)
        # come from the merged chunks.
        accumulate = accumulate or self._op is not None
        self._accumulate = accumulate
        self._accumulator = ChatCompletionAccumulator()
        self._add = self._accumulator.add if accumulate else _LAST.append

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
        return relay(self, self._sse_item, self._close, self._sse_end)

    # ------------------------------------------------------------ the kind

    _sse_end = DONE_EVENT

    @staticmethod
    def _sse_item(chunk: object) -> bytes:
        return b"data: " + json_of(chunk) + b"\n\n"

    @property
    def _delivered(self) -> int:
        return self.stats.chunks

    def _restart(self) -> None:
        self._accumulator = ChatCompletionAccumulator()
        self._add = self._accumulator.add if self._accumulate else _LAST.append

    def _as_result(self, raw: bytes) -> ChatCompletion | None:
        return completion_or_none(raw)

    def _telemetry(self) -> tuple[object, float | None]:
        return self._accumulator.result(), self.stats.time_to_first_chunk

    def _decode_events(self, events: list[ServerSentEvent], now: float) -> list[_T]:
        """Decode events into chunks, stopping at [DONE] or at a failure."""
        stats = self.stats
        if stats.time_to_first_chunk is None:
            stats.time_to_first_chunk = now - self._started
        decode = self._decode
        add = self._add
        out: list[ChatCompletionChunk] = []
        append = out.append
        for event in events:
            if event.event != "message":
                if event.event == "error":
                    self._pending = error_event(event, self.response)
                    break
                if event.raw.strip() == _DONE:  # some proxies name the last event
                    self._ended = True
                    break
                continue  # other named events (pings, ...) carry no chunk
            try:
                chunk = decode(event.raw)
            except ValueError as exc:  # msgspec errors (and UnicodeDecodeError before 0.23)
                slow = self._decode_slowly(event, events, exc)
                if slow is None:
                    if self._ended or self._pending is not None:
                        break
                    continue
                chunk = slow
            if chunk.error is not None:
                self._pending = error_event(event, self.response)
                break
            add(chunk)
            append(chunk)
        stats.chunks += len(out)
        if out:
            stats.usage = self._accumulator.usage if self._accumulate else _usage(out, stats.usage)
            if stats.time_to_first_content is None and _has_text(out):
                stats.time_to_first_content = now - self._started
        return cast("list[_T]", out)

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
            self._ended = True
        elif payload:  # an empty data line is a keep-alive, not a chunk
            if isinstance(exc, msgspec.ValidationError):
                try:
                    return decode_lenient(payload, ChatCompletionChunk)
                except ValueError:
                    pass
            self._pending = self._malformed(event, events, exc)
        return None


# What ``add`` is when another layer merges the chunks: a C call that keeps nothing
# (a deque of length 0 drops what it is given).
_LAST: deque[ChatCompletionChunk] = deque(maxlen=0)


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
            if delta.content or delta.reasoning_content or delta.reasoning or delta.refusal:
                return True
    return False
