"""``open_sse(session, ...)``: any event stream on the caller's own ``aiohttp.ClientSession``.

What ``client.sse(...)`` does (:mod:`xstream._resources.sse`), through a transport
around the caller's session: the caller's headers, their credentials blanked out
of every message; the session stays open.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, TypeVar, overload

import aiohttp
import msgspec

from .._config.timeouts import DEFAULT_TIMEOUT, Timeout, TimeoutTypes
from .._sse.decoder import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent
from .._streams.events import DEFAULT_MAX_RECONNECTS, EventStream, open_event_stream
from .._transport.transport import Transport

__all__ = ["open_sse"]

_T = TypeVar("_T")


@overload
async def open_sse(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: None = None,
    timeout: TimeoutTypes = DEFAULT_TIMEOUT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    max_retries: int = 2,
    last_event_id: str | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> EventStream[ServerSentEvent]: ...


@overload
async def open_sse(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: builtins.type[_T],
    timeout: TimeoutTypes = DEFAULT_TIMEOUT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    max_retries: int = 2,
    last_event_id: str | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> EventStream[_T]: ...


@overload
async def open_sse(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: Any,
    timeout: TimeoutTypes = DEFAULT_TIMEOUT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    max_retries: int = 2,
    last_event_id: str | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> EventStream[Any]: ...


async def open_sse(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: Any = None,
    timeout: TimeoutTypes = DEFAULT_TIMEOUT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    max_retries: int = 2,
    last_event_id: str | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> EventStream[Any]:
    """Open any event stream on your own ``aiohttp.ClientSession``.

    ``json`` is sent as the JSON body; ``headers`` are yours to set
    (``Authorization`` included: its value never appears in messages).
    ``type`` decodes each event's data (see :meth:`AsyncClient.sse`).
    ``reconnect`` defaults to ``True`` for ``GET``, ``False`` otherwise.
    Status errors raise as with :class:`AsyncClient`; the session stays open.

    >>> async with aiohttp.ClientSession() as session:        # doctest: +SKIP
    ...     stream = await open_sse(session, "GET", "https://example.com/feed")
    ...     async for event in stream:
    ...         print(event.event, event.data)
    """
    transport = Transport(
        session=session,
        user_agent=None,
        timeout=Timeout.coerce(timeout),
        max_retries=max_retries,
        max_event_bytes=max_event_bytes,
    )
    request = transport.build(
        method,
        url,
        body=None if json is None else msgspec.json.encode(json),
        stream=True,
        headers=headers,
        params=params,
    )
    return await open_event_stream(
        transport,
        request,
        type=type,
        reconnect=reconnect,
        max_reconnects=max_reconnects,
        last_event_id=last_event_id,
    )
