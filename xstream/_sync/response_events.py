"""GENERATED from ``xstream/_streams/response_events.py`` by ``scripts/unasync.py``: do not edit.

The blocking twin of ``_streams/response_events.py``: the same methods, parameters and docstrings,
without async and await; what needs the event loop crosses to the client's loop
thread in :class:`~xstream._sync.api.SyncAPI` and the streams of ``_sync/streams.py``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Generic, Self, TypeVar

import aiohttp

from .._models.responses import ParsedResponse
from .._protocol.response_events import ParsedResponseStreamEvent
from .._protocol.response_state import ResponseStreamState
from .._streams.events import EventStreamStats
from .managers import StreamManager
from .streams import SyncResponseStream

__all__ = ["SyncParsedResponseStream", "SyncResponseStreamManager"]

T = TypeVar("T")


class SyncResponseStreamManager(StreamManager["SyncParsedResponseStream[T]"], Generic[T]):
    """What ``client.responses.stream(...)`` returns: ``with`` it for the
    :class:`SyncParsedResponseStream`; leaving the block releases the connection."""


class SyncParsedResponseStream(Generic[T]):
    """A response's events, with what they mean so far: the :class:`SyncResponseStream`'s,
    the text and function-call ones extended (``snapshot``, ``parsed``,
    ``parsed_arguments``: see :class:`~xstream.ResponseStreamState`); and its final
    response parsed: ``stream.get_final_response()`` is a :class:`ParsedResponse`."""

    def __init__(self, events: SyncResponseStream, state: ResponseStreamState[T]) -> None:
        self.events = events
        """The :class:`SyncResponseStream` underneath (``stats``, ``response``, ...)."""
        self._state = state
        self._iterator = self._events()

    def __iter__(self) -> Generator[ParsedResponseStreamEvent[T], None, None]:
        return self._iterator

    def __next__(self) -> ParsedResponseStreamEvent[T]:
        return next(self._iterator)

    def _events(self) -> Generator[ParsedResponseStreamEvent[T], None, None]:
        """The events, each through the state as it is handed out."""
        handle = self._state.handle_event
        for event in self.events:
            yield handle(event)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        self.events.close()

    @property
    def text_stream(self) -> Iterator[str]:
        """The output text deltas, as ``str``."""
        return self.events.text_stream

    def to_sse(self) -> Iterator[bytes]:
        """The events re-encoded as ``text/event-stream`` bytes, to relay on (see
        :meth:`SyncResponseStream.to_sse`)."""
        return self.events.to_sse()

    @property
    def response(self) -> aiohttp.ClientResponse:
        return self.events.response

    @property
    def stats(self) -> EventStreamStats:
        return self.events.stats

    def until_done(self) -> Self:
        """Read the rest of the stream (its events are dropped)."""
        for _ in self._iterator:
            pass
        return self

    def get_final_response(self) -> ParsedResponse[T]:
        """Read the rest; the final response with ``output_parsed`` and each function
        call's ``parsed_arguments`` (see :meth:`Responses.parse` for what it
        raises; ``stream.events.get_final_response()`` is the response unparsed)."""
        self.until_done()
        return self._state.parse_final(self.events.get_final_response())
