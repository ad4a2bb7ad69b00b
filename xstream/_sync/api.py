"""The request pipeline, blocking: :class:`SyncAPI` runs
:class:`~xstream._resources.api.AsyncAPI`'s methods on the client's loop thread and
hands back the blocking twin of what they made (a stream for a stream).

The generated resources (``_sync/chat.py``, ``responses.py``, ``sse.py``) call it
exactly as their async sources call ``AsyncAPI``: this is what makes them blocking.
"""

from __future__ import annotations

import functools
from typing import Any

from .._resources.api import AsyncAPI
from .._resources.calls import Call
from .._streams.chat import AsyncStream
from .._streams.events import EventStream
from .._streams.responses import ResponseStream
from .._transport.raw import RawResponse
from .portal import LoopThread
from .streams import BlockingStream, Stream, SyncEventStream, SyncResponseStream
from .ws_session import SyncResponsesSession

__all__ = ["SyncAPI"]

# What an async call makes -> its blocking twin (the most derived class first).
_TWINS: tuple[tuple[type[Any], type[BlockingStream[Any]]], ...] = (
    (AsyncStream, Stream),
    (ResponseStream, SyncResponseStream),
    (EventStream, SyncEventStream),
)


class SyncAPI:
    """``AsyncAPI``, blocking: one loop-thread hop per call."""

    __slots__ = ("async_api", "loop")

    def __init__(self, loop: LoopThread, api: AsyncAPI) -> None:
        self.loop = loop
        self.async_api = api

    @property
    def conversation_id(self) -> str | None:
        return self.async_api.conversation_id

    def call(self, call: Call) -> Any:
        """:meth:`AsyncAPI.call` on the loop thread; a stream comes back as its twin."""
        result = self.loop.run(self.async_api.call, call)
        if call.stream:
            for made, twin in _TWINS:
                if isinstance(result, made):
                    return twin(self.loop, result)
        return result

    def responses_session(self, *, max_event_bytes: int | None = None) -> SyncResponsesSession:
        """:meth:`AsyncAPI.responses_session`, blocking."""
        session = self.async_api.responses_session(max_event_bytes=max_event_bytes)
        return SyncResponsesSession(self.loop, session)

    def call_raw(self, call: Call) -> RawResponse[Any]:
        """:meth:`AsyncAPI.call_raw` on the loop thread."""
        return self.loop.run(self.async_api.call_raw, call)

    def poll(self, call: Call, *, interval: float, timeout: float | None, what: str) -> Any:
        """:meth:`AsyncAPI.poll` on the loop thread (Ctrl-C cancels it there)."""
        poll = functools.partial(
            self.async_api.poll, call, interval=interval, timeout=timeout, what=what
        )
        return self.loop.run(poll)
