"""The typed events of a streamed chat completion, async: :class:`AsyncChatCompletionStream`
drives the sans-IO :class:`~xstream._protocol.chat_state.ChatCompletionStreamState`
over an :class:`~xstream._streams.chat.AsyncStream` of chunks.

This file is the source of its blocking twin, ``xstream/_sync/chat_events.py``,
which ``scripts/unasync.py`` generates from it (a test fails when it is stale).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Generic, Self, TypeVar

import aiohttp

from .._models.chat import ChatCompletionChunk, ParsedChatCompletion
from .._protocol.chat_events import ChatCompletionStreamEvent, ChunkEvent, ContentDeltaEvent
from .._protocol.chat_state import ChatCompletionStreamState
from .chat import AsyncStream, StreamStats
from .managers import AsyncStreamManager
from .relay import aiohttp_response, relay

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["AsyncChatCompletionStream", "AsyncChatCompletionStreamManager"]

T = TypeVar("T")


class AsyncChatCompletionStream(Generic[T]):
    """The typed events of a streamed chat completion: ``async for event in stream``.

    ``event.type`` names each event (see the module docstring). The stream is read
    once; leaving the ``async with`` block releases the connection, read or not.
    ``await stream.get_final_completion()`` reads the rest and returns the
    :class:`~xstream.ParsedChatCompletion`; ``current_completion_snapshot`` is the
    completion so far; ``stats`` and ``response`` are the chunk stream's.
    """

    def __init__(
        self, raw: AsyncStream[ChatCompletionChunk], state: ChatCompletionStreamState[T]
    ) -> None:
        self._raw = raw
        self._state = state
        self._iterator = self._events()

    def __aiter__(self) -> AsyncGenerator[ChatCompletionStreamEvent[T], None]:
        return self._iterator

    async def __anext__(self) -> ChatCompletionStreamEvent[T]:
        return await anext(self._iterator)

    async def _events(self) -> AsyncGenerator[ChatCompletionStreamEvent[T], None]:
        """Events made from one chunk at a time, the chunks taken a network read at a
        time: the state never runs ahead of what was handed out. (A generator:
        a ``yield`` costs half of a hand-written ``__anext__``; the connection is still
        released on every way out, by the ``finally`` or by ``__del__``.)"""
        raw = self._raw
        state = self._state
        states, accumulator, chunk_events = state.fast_path()
        next_batch = raw.next_batch
        try:
            while True:
                batch = await next_batch()
                if not batch:
                    break
                for chunk in batch:
                    # ChatCompletionStreamState.handle_chunk, its fast path copied here
                    # rather than called (a call and a list per chunk would cost a
                    # sixth of an event's price). The condition is plain_choice's,
                    # held to it by tests/protocol/test_one_chunk_path.py; the events
                    # to handle_chunk's by the recorded-events tests.
                    choices = chunk.choices
                    if len(choices) == 1:
                        choice = choices[0]
                        choice_state = states.get(choice.index)
                        delta = choice.delta
                        if (
                            choice_state is not None
                            and choice_state.fast
                            and choice.finish_reason is None
                            and delta.tool_calls is None
                            and delta.refusal is None
                            and delta.reasoning_content is None
                            and delta.reasoning is None
                            and choice.logprobs is None
                            and delta.reasoning_details is None
                            and chunk.citations is None
                            and delta.annotations is None
                            and not chunk._kept
                            and chunk.object
                        ):
                            usage = chunk.usage
                            if usage is not None:
                                accumulator.last_usage = usage
                            fingerprint = chunk.system_fingerprint
                            if fingerprint is not None:
                                accumulator.system_fingerprint = fingerprint
                            tier = chunk.service_tier
                            if tier is not None:
                                accumulator.service_tier = tier
                            content = delta.content
                            if content is None:
                                yield ChunkEvent(chunk, state)
                                continue
                            if content:
                                choice_state.content.append(content)
                            choice_state.content_length += len(content)
                            delta_event = ContentDeltaEvent(
                                content,
                                choice_state.content_text,
                                choice_state.content_length,
                                None if choice_state.parser is None else choice_state.feed(content),
                            )
                            yield ChunkEvent(chunk, state)
                            yield delta_event
                            continue
                    if chunk.object:
                        for event in chunk_events(chunk):
                            yield event
                accumulator.compact()  # once per read: the texts kept at about their size
                del batch, chunk  # nothing of this read is held while the next is awaited
            # The stream is complete: close what is still open.
            for event in state.end_events():
                yield event
        finally:
            if not raw.finished:
                raw.discard()

    def to_sse(self) -> AsyncGenerator[bytes, None]:
        """The chunks under the events, re-encoded as ``text/event-stream`` bytes, to
        relay on (see :meth:`AsyncStream.to_sse`): the events are read as the bytes go."""
        raw = self._raw
        raw.keep_wire()
        return relay(self._chunks(), raw.sse_item, raw.discard, raw.sse_end)

    # unasync: async only
    async def to_aiohttp_response(self, request: web.BaseRequest) -> web.StreamResponse:
        """Relay the chunks to an ``aiohttp.web`` client (see :meth:`AsyncStream.to_aiohttp_response`)."""
        return await aiohttp_response(request, self.to_sse())

    async def _chunks(self) -> AsyncIterator[ChatCompletionChunk]:
        async for event in self._iterator:
            if isinstance(event, ChunkEvent):
                yield event.chunk

    def __del__(self) -> None:
        raw = getattr(self, "_raw", None)
        if raw is not None:
            raw.discard()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        await self._raw.aclose()

    close = aclose  # the OpenAI SDK's name

    @property
    def response(self) -> aiohttp.ClientResponse:
        """The HTTP response (status, headers)."""
        return self._raw.response

    @property
    def stats(self) -> StreamStats:
        """Latency and throughput of the chunk stream (see :class:`StreamStats`)."""
        return self._raw.stats

    @property
    def current_completion_snapshot(self) -> ParsedChatCompletion[T]:
        """The completion as far as the events handed out so far."""
        return self._state.current_completion_snapshot

    async def until_done(self) -> Self:
        """Read the rest of the stream (its events are dropped)."""
        async for _ in self._iterator:
            pass
        return self

    async def get_final_completion(self) -> ParsedChatCompletion[T]:
        """Read the rest; return the whole completion, ``parsed`` set (see
        :meth:`ChatCompletionStreamState.get_final_completion` for what it raises)."""
        await self.until_done()
        return self._state.get_final_completion()

    def __repr__(self) -> str:
        return f"<AsyncChatCompletionStream of {self._raw!r}>"


class AsyncChatCompletionStreamManager(
    AsyncStreamManager["AsyncChatCompletionStream[T]"], Generic[T]
):
    """What ``client.chat.completions.stream(...)`` returns: ``async with`` it to
    send the request and get the :class:`AsyncChatCompletionStream`; leaving the
    block releases the connection."""
