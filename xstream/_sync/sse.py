"""GENERATED from ``xstream/_resources/sse.py`` by ``scripts/unasync.py``: do not edit.

The blocking twin of ``_resources/sse.py``: the same methods, parameters and docstrings,
without async and await; what needs the event loop crosses to the client's loop
thread in :class:`~xstream._sync.api.SyncAPI` and the streams of ``_sync/streams.py``.
"""

from __future__ import annotations

import builtins
from typing import Any, TypeVar, Unpack, overload

from .._models.params import SSEOptions
from .._resources.calls import sse_call
from .._sse.decoder import ServerSentEvent
from .api import SyncAPI
from .streams import SyncEventStream

__all__ = ["SSE"]

_T = TypeVar("_T")


class SSE:
    """``client.sse``: call it to open any event stream through the client."""

    def __init__(self, api: SyncAPI) -> None:
        self._api = api

    @overload
    def __call__(
        self, method: str, url: str, *, type: None = None, **options: Unpack[SSEOptions]
    ) -> SyncEventStream[ServerSentEvent]: ...

    @overload
    def __call__(
        self, method: str, url: str, *, type: builtins.type[_T], **options: Unpack[SSEOptions]
    ) -> SyncEventStream[_T]: ...

    @overload
    def __call__(
        self, method: str, url: str, *, type: Any, **options: Unpack[SSEOptions]
    ) -> SyncEventStream[Any]: ...

    def __call__(
        self, method: str, url: str, *, type: Any = None, **options: Unpack[SSEOptions]
    ) -> SyncEventStream[Any]:
        """Open any event stream: ``client.sse(method, url)``.

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
        >>> with client.sse("GET", "/rooms/1/events", type=Join | Leave) as stream:
        ...     for event in stream:
        ...         match event:
        ...             case Join(user=user): print("+", user)
        ...             case Leave(user=user): print("-", user)
        """
        stream: SyncEventStream[Any] = self._api.call(sse_call(method, url, type, options))
        return stream
