"""``client.sse``: open any event stream through the client.

This file is the source of its blocking twin, ``xstream/_sync/sse.py``, which
``scripts/unasync.py`` generates from it (a test fails when it is stale).
"""

from __future__ import annotations

import builtins
from typing import Any, TypeVar, Unpack, overload

from .._models.params import SSEOptions
from .._sse.decoder import ServerSentEvent
from .._streams.events import EventStream
from .api import AsyncAPI
from .calls import sse_call

__all__ = ["AsyncSSE"]

_T = TypeVar("_T")


class AsyncSSE:
    """``client.sse``: call it to open any event stream through the client."""

    def __init__(self, api: AsyncAPI) -> None:
        self._api = api

    @overload
    async def __call__(
        self, method: str, url: str, *, type: None = None, **options: Unpack[SSEOptions]
    ) -> EventStream[ServerSentEvent]: ...

    @overload
    async def __call__(
        self, method: str, url: str, *, type: builtins.type[_T], **options: Unpack[SSEOptions]
    ) -> EventStream[_T]: ...

    @overload
    async def __call__(
        self, method: str, url: str, *, type: Any, **options: Unpack[SSEOptions]
    ) -> EventStream[Any]: ...

    async def __call__(
        self, method: str, url: str, *, type: Any = None, **options: Unpack[SSEOptions]
    ) -> EventStream[Any]:
        """Open any event stream: ``await client.sse(method, url)``.

        ``url`` is a path under ``base_url`` (``"events"``, ``"/responses"``) or an
        absolute URL; the API key is sent only to ``base_url``'s origin. ``json``
        becomes the JSON body. With ``type``, events are decoded into it instead of
        handed out as :class:`ServerSentEvent`: a union of tagged Structs is
        dispatched by event name (see :func:`event_decoder`).

        GET streams reconnect (``reconnect=True`` by default): after a drop, or
        when the body ends, the stream is opened again after the server's
        ``retry:`` (else 1 s, doubling on consecutive failures) with
        ``Last-Event-ID``; HTTP 204 ends it for good; ``max_reconnects`` attempts
        in a row without a new event raise :class:`StreamDisconnectedError`.
        Other methods reconnect only with ``reconnect=True``. ``last_event_id``
        resumes from a known ID on the first request. Deadlines, retries and errors
        are those of chat streams (``timeout=``: a :class:`Timeout` or seconds;
        ``max_retries``: default the client's).

        >>> class Join(msgspec.Struct, tag="join"):                 # doctest: +SKIP
        ...     user: str
        >>> class Leave(msgspec.Struct, tag="leave"):
        ...     user: str
        >>> async with await client.sse("GET", "/rooms/1/events", type=Join | Leave) as stream:
        ...     async for event in stream:
        ...         match event:
        ...             case Join(user=user): print("+", user)
        ...             case Leave(user=user): print("-", user)
        """
        stream: EventStream[Any] = await self._api.call(sse_call(method, url, type, options))
        return stream
