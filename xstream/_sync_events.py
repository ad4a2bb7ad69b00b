"""The blocking side of event streams: ``Client.sse`` and ``Client.responses``.

Like :class:`Stream`, a :class:`SyncEventStream` crosses to the client's loop
thread once per network read and hands over every item that read completed.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from ._blocking import BlockingStream
from ._events import CLIENT_DEFAULT, DEFAULT_MAX_RECONNECTS, EventStream, EventStreamStats
from ._responses import Response, ResponseOutputTextDeltaEvent, ResponseStream, ResponseStreamEvent
from ._sse import ServerSentEvent
from ._timeouts import TimeoutTypes

if TYPE_CHECKING:
    from ._sync import Client

__all__ = ["Responses", "SyncEventStream", "SyncResponseStream", "sync_sse"]

_T = TypeVar("_T")


class SyncEventStream(BlockingStream[_T]):
    """The events of a stream: iterate with ``for``.

    ``with stream:`` (or ``stream.close()``) releases the connection; so does
    leaving the loop early. Read once, like :class:`EventStream`.

    >>> with client.sse("GET", "/events") as stream:        # doctest: +SKIP
    ...     for event in stream:
    ...         print(event.event, event.data)
    """

    _stream: EventStream[_T]

    def __init__(self, client: Client, stream: EventStream[_T]) -> None:
        super().__init__(client, stream)

    @property
    def stats(self) -> EventStreamStats:
        return self._stream.stats

    def __repr__(self) -> str:
        return repr(self._stream).replace("<", "<Sync", 1)


class SyncResponseStream(SyncEventStream[ResponseStreamEvent]):
    """The events of a streamed response, blocking; see :class:`ResponseStream`."""

    _stream: ResponseStream

    def __init__(self, client: Client, stream: ResponseStream) -> None:
        super().__init__(client, stream)

    def get_final_response(self) -> Response:
        """Read the rest; return the response of the terminal event."""
        return self._client._run(self._stream.get_final_response)

    @property
    def text_stream(self) -> Iterator[str]:
        """The output text deltas, as ``str``."""
        return _text_deltas(self)


def _text_deltas(stream: SyncResponseStream) -> Iterator[str]:
    try:
        for event in stream:
            if isinstance(event, ResponseOutputTextDeltaEvent) and event.delta:
                yield event.delta
    finally:
        stream._close_soon()


@overload
def sync_sse(
    self: Client,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: None = None,
    timeout: TimeoutTypes = CLIENT_DEFAULT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    last_event_id: str | None = None,
) -> SyncEventStream[ServerSentEvent]: ...


@overload
def sync_sse(
    self: Client,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: builtins.type[_T],
    timeout: TimeoutTypes = CLIENT_DEFAULT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    last_event_id: str | None = None,
) -> SyncEventStream[_T]: ...


@overload
def sync_sse(
    self: Client,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: Any,
    timeout: TimeoutTypes = CLIENT_DEFAULT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    last_event_id: str | None = None,
) -> SyncEventStream[Any]: ...


def sync_sse(
    self: Client,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    type: Any = None,
    timeout: TimeoutTypes = CLIENT_DEFAULT,
    reconnect: bool | None = None,
    max_reconnects: int = DEFAULT_MAX_RECONNECTS,
    last_event_id: str | None = None,
) -> SyncEventStream[Any]:
    """Open any event stream, blocking: ``Client.sse``; see :meth:`AsyncClient.sse`.

    >>> for event in client.sse("GET", "/events"):          # doctest: +SKIP
    ...     print(event.id, event.data)
    """
    aclient = self._async

    async def open_stream() -> EventStream[Any]:
        stream: EventStream[Any] = await aclient.sse(
            method,
            url,
            json=json,
            params=params,
            headers=headers,
            type=type,
            timeout=timeout,
            reconnect=reconnect,
            max_reconnects=max_reconnects,
            last_event_id=last_event_id,
        )
        return stream

    return SyncEventStream(self, self._run(open_stream))


class Responses:
    """``client.responses``: ``create``, blocking; see :class:`AsyncResponses`."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @overload
    def create(
        self,
        *,
        model: str,
        input: Any,
        stream: Literal[False] = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = CLIENT_DEFAULT,
        **params: Any,
    ) -> Response: ...

    @overload
    def create(
        self,
        *,
        model: str,
        input: Any,
        stream: Literal[True],
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = CLIENT_DEFAULT,
        **params: Any,
    ) -> SyncResponseStream: ...

    @overload
    def create(
        self,
        *,
        model: str,
        input: Any,
        stream: bool,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = CLIENT_DEFAULT,
        **params: Any,
    ) -> Response | SyncResponseStream: ...

    def create(
        self,
        *,
        model: str,
        input: Any,
        stream: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = CLIENT_DEFAULT,
        **params: Any,
    ) -> Response | SyncResponseStream:
        """Create a model response; with ``stream=True``, a :class:`SyncResponseStream`.

        >>> client.responses.create(model="grok-4", input="Hi").output_text  # doctest: +SKIP
        'Hello!'
        """
        client = self._client
        if isinstance(input, Iterator):
            input = list(input)  # an iterator must not be consumed on another thread

        async def create() -> Response | ResponseStream:
            return await client._async.responses.create(
                model=model,
                input=input,
                stream=stream,
                extra_headers=extra_headers,
                extra_body=extra_body,
                timeout=timeout,
                **params,
            )

        result = client._run(create)
        if isinstance(result, ResponseStream):
            return SyncResponseStream(client, result)
        return result
