"""A response's typed events and its final response parsed (``responses.stream()``):
:class:`AsyncResponseStream` over a :class:`~xstream._streams.responses.ResponseStream`.

This file is the source of its blocking twin, ``xstream/_sync/response_events.py``,
which ``scripts/unasync.py`` generates from it (a test fails when it is stale).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Generic, Self, TypeVar

import aiohttp

from .._models.responses import ParsedResponse
from .._protocol.response_events import ParsedResponseStreamEvent
from .._protocol.response_state import ResponseStreamState
from .events import EventStreamStats
from .managers import AsyncStreamManager
from .responses import ResponseStream

__all__ = ["AsyncResponseStream", "AsyncResponseStreamManager"]

T = TypeVar("T")


class AsyncResponseStreamManager(AsyncStreamManager["AsyncResponseStream[T]"], Generic[T]):
    """What ``client.responses.stream(...)`` returns: ``async with`` it for the
    :class:`AsyncResponseStream`; leaving the block releases the connection."""


class AsyncResponseStream(Generic[T]):
    """A response's events, with what they mean so far: the :class:`ResponseStream`'s,
    the text and function-call ones extended (``snapshot``, ``parsed``,
    ``parsed_arguments``: see :class:`~xstream.ResponseStreamState`); and its final
    response parsed: ``await stream.get_final_response()`` is a :class:`ParsedResponse`."""

    def __init__(self, events: ResponseStream, state: ResponseStreamState[T]) -> None:
        self.events = events
        """The :class:`ResponseStream` underneath (``stats``, ``response``, ...)."""
        self._state = state
        self._iterator = self._events()

    def __aiter__(self) -> AsyncGenerator[ParsedResponseStreamEvent[T], None]:
        return self._iterator

    async def __anext__(self) -> ParsedResponseStreamEvent[T]:
        return await anext(self._iterator)

    async def _events(self) -> AsyncGenerator[ParsedResponseStreamEvent[T], None]:
        """The events, each through the state as it is handed out."""
        handle = self._state.handle_event
        async for event in self.events:
            yield handle(event)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        await self.events.aclose()

    close = aclose

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The output text deltas, as ``str``."""
        return self.events.text_stream

    def to_sse(self) -> AsyncIterator[bytes]:
        """The events re-encoded as ``text/event-stream`` bytes, to relay on (see
        :meth:`ResponseStream.to_sse`)."""
        return self.events.to_sse()

    @property
    def response(self) -> aiohttp.ClientResponse:
        return self.events.response

    @property
    def stats(self) -> EventStreamStats:
        return self.events.stats

    async def until_done(self) -> Self:
        """Read the rest of the stream (its events are dropped)."""
        async for _ in self._iterator:
            pass
        return self

    async def get_final_response(self) -> ParsedResponse[T]:
        """Read the rest; the final response with ``output_parsed`` and each function
        call's ``parsed_arguments`` (see :meth:`AsyncResponses.parse` for what it
        raises; ``stream.events.get_final_response()`` is the response unparsed)."""
        await self.until_done()
        return self._state.parse_final(await self.events.get_final_response())
