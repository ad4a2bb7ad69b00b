"""GENERATED from ``xstream/_streams/chat_events.py`` by ``scripts/unasync.py``: do not edit.

The blocking twin of ``_streams/chat_events.py``: the same methods, parameters and docstrings,
without async and await; what needs the event loop crosses to the client's loop
thread in :class:`~xstream._sync.api.SyncAPI` and the streams of ``_sync/streams.py``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Generic, Self, TypeVar

import aiohttp

from .._models.chat import ChatCompletionChunk, ParsedChatCompletion
from .._protocol.chat_events import ChatCompletionStreamEvent, ChunkEvent, ContentDeltaEvent
from .._protocol.chat_state import ChatCompletionStreamState
from .._streams.chat import StreamStats
from .._streams.relay import relay_sync
from .managers import StreamManager
from .streams import Stream

__all__ = ["ChatCompletionStream", "ChatCompletionStreamManager"]

T = TypeVar("T")


class ChatCompletionStream(Generic[T]):
    """The typed events of a streamed chat completion: ``for event in stream``.

    ``event.type`` names each event (see the module docstring). The stream is read
    once; leaving the ``with`` block releases the connection, read or not.
    ``stream.get_final_completion()`` reads the rest and returns the
    :class:`~xstream.ParsedChatCompletion`; ``current_completion_snapshot`` is the
    completion so far; ``stats`` and ``response`` are the chunk stream's.
    """

    def __init__(
        self, raw: Stream[ChatCompletionChunk], state: ChatCompletionStreamState[T]
    ) -> None:
        self._raw = raw
        self._state = state
        self._iterator = self._events()

    def __iter__(self) -> Generator[ChatCompletionStreamEvent[T], None, None]:
        return self._iterator

    def __next__(self) -> ChatCompletionStreamEvent[T]:
        return next(self._iterator)

    def _events(self) -> Generator[ChatCompletionStreamEvent[T], None, None]:
        """Events made from one chunk at a time, the chunks taken a network read at a
        time: the state never runs ahead of what was handed out. (A generator:
        a ``yield`` costs half of a hand-written ``__next__``; the connection is still
        released on every way out, by the ``finally`` or by ``__del__``.)"""
        raw = self._raw
        state = self._state
        states, accumulator, chunk_events = state.fast_path()
        next_batch = raw.next_batch
        try:
            while True:
                batch = next_batch()
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
                        yield from chunk_events(chunk)
                accumulator.compact()  # once per read: the texts kept at about their size
                del batch, chunk  # nothing of this read is held while the next is awaited
            # The stream is complete: close what is still open.
            yield from state.end_events()
        finally:
            if not raw.finished:
                raw.discard()

    def to_sse(self) -> Generator[bytes, None, None]:
        """The chunks under the events, re-encoded as ``text/event-stream`` bytes, to
        relay on (see :meth:`Stream.to_sse`): the events are read as the bytes go."""
        raw = self._raw
        raw.keep_wire()
        return relay_sync(self._chunks(), raw.sse_item, raw.discard, raw.sse_end)

    def _chunks(self) -> Iterator[ChatCompletionChunk]:
        for event in self._iterator:
            if isinstance(event, ChunkEvent):
                yield event.chunk

    def __del__(self) -> None:
        raw = getattr(self, "_raw", None)
        if raw is not None:
            raw.discard()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        self._raw.close()

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

    def until_done(self) -> Self:
        """Read the rest of the stream (its events are dropped)."""
        for _ in self._iterator:
            pass
        return self

    def get_final_completion(self) -> ParsedChatCompletion[T]:
        """Read the rest; return the whole completion, ``parsed`` set (see
        :meth:`ChatCompletionStreamState.get_final_completion` for what it raises)."""
        self.until_done()
        return self._state.get_final_completion()

    def __repr__(self) -> str:
        return f"<ChatCompletionStream of {self._raw!r}>"


class ChatCompletionStreamManager(StreamManager["ChatCompletionStream[T]"], Generic[T]):
    """What ``client.chat.completions.stream(...)`` returns: ``with`` it to
    send the request and get the :class:`ChatCompletionStream`; leaving the
    block releases the connection."""
