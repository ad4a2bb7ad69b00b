"""Client: the same API, blocking, for scripts and notebooks.

There is no second implementation of the protocol: each ``Client`` runs one
``AsyncClient`` on a private event loop in a background thread (an anyio
blocking portal), started on first use. A stream crosses threads once per
network read, handing over every chunk that read completed as one batch:
no chunk waits for another, and the per-chunk cost stays that of the async
path. Because the loop is our own, the sync API also works where the calling
thread already runs a loop (Jupyter, sync code called from ``async def``).
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Literal, TypeVar, overload

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._blocking import BlockingStream
from ._client import NOT_GIVEN, AsyncClient
from ._sse import DEFAULT_MAX_EVENT_BYTES
from ._stream import AsyncStream, StreamStats
from ._sync_events import Responses, sync_sse
from ._timeouts import Timeout, TimeoutTypes
from ._types import ChatCompletion, ChatCompletionChunk, message_list

__all__ = ["Client", "Stream"]

_T = TypeVar("_T")
_R = TypeVar("_R")


class _Loop:
    """The private event loop thread; stopped by ``stop()``, at exit, or when
    the client is garbage-collected (never by the client itself, so that a
    finalizer can hold it without holding the client)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cm: AbstractContextManager[BlockingPortal] | None = None
        self.portal: BlockingPortal | None = None

    def get(self) -> BlockingPortal:
        with self._lock:
            if self.portal is None:
                self._cm = start_blocking_portal(name="xstream-loop")
                self.portal = self._cm.__enter__()
            return self.portal

    def stop(self, aclient: AsyncClient) -> None:
        with self._lock:
            cm, portal = self._cm, self.portal
            self._cm = self.portal = None
        if cm is None or portal is None:
            return
        try:
            portal.call(aclient.aclose)
        finally:
            cm.__exit__(None, None, None)


class Client:
    """A blocking client with the same API as :class:`AsyncClient`.

    >>> client = Client()                                     # doctest: +SKIP
    >>> for chunk in client.chat.completions.create(model="grok-2-latest",
    ...         messages=[{"role": "user", "content": "Hi"}], stream=True):
    ...     print(chunk.choices[0].delta.content or "", end="")

    Close it (``with Client() as client:`` or ``client.close()``) to stop its
    loop thread; a client that is never closed is cleaned up when collected
    or at exit, with a ``ResourceWarning``. Safe to use from several threads.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        max_connections: int = 1000,
    ) -> None:
        self._async = AsyncClient(
            api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            max_event_bytes=max_event_bytes,
            max_connections=max_connections,
        )
        self._loop = _Loop()
        self._finalizer = weakref.finalize(self, _stop_unclosed, self._loop, self._async)
        self.chat = Chat(self)
        self.responses = Responses(self)

    @property
    def base_url(self) -> str:
        return self._async.base_url

    @property
    def timeout(self) -> Timeout:
        return self._async.timeout

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop the loop thread (idempotent)."""
        if self._finalizer.detach() is not None:
            self._loop.stop(self._async)

    def __repr__(self) -> str:
        return f"<xstream.Client base_url={self.base_url!r}>"

    sse = sync_sse  # any event stream, blocking: see _sync_events.py

    def _run(self, fn: Callable[..., Coroutine[Any, Any, _R]], *args: Any) -> _R:
        """Run ``fn(*args)`` on the loop thread; Ctrl-C while waiting cancels it there."""
        future = self._loop.get().start_task_soon(fn, *args)
        try:
            result: _R = future.result()
        except BaseException:
            future.cancel()
            raise
        return result


def _stop_unclosed(loop: _Loop, aclient: AsyncClient) -> None:
    """Finalizer of a client dropped (or alive at exit) without ``close()``."""
    if loop.portal is not None:
        warnings.warn(
            "an xstream.Client was not closed: use `with Client() as client:` or client.close()",
            ResourceWarning,
            stacklevel=1,
        )
        loop.stop(aclient)


class Chat:
    """``client.chat``: holds ``completions``."""

    def __init__(self, client: Client) -> None:
        self.completions = Completions(client)


class Completions:
    """``client.chat.completions``: ``create``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @overload
    def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: Literal[False] = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> ChatCompletion: ...

    @overload
    def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: Literal[True],
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> Stream[ChatCompletionChunk]: ...

    @overload
    def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: bool,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> ChatCompletion | Stream[ChatCompletionChunk]: ...

    def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> ChatCompletion | Stream[ChatCompletionChunk]:
        """Like :meth:`AsyncCompletions.create`, blocking; ``stream=True`` gives a :class:`Stream`."""
        client = self._client
        # Checked here, before anything else, as the async client checks it; a list
        # also keeps an iterator from being consumed on another thread.
        messages = message_list(messages)

        async def create() -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
            return await client._async.chat.completions.create(
                model=model,
                messages=messages,
                stream=stream,
                extra_headers=extra_headers,
                extra_body=extra_body,
                timeout=timeout,
                **params,
            )

        result = client._run(create)
        if isinstance(result, AsyncStream):
            return Stream(client, result)
        return result


class Stream(BlockingStream[_T]):
    """The chunks of a streamed response: iterate with ``for``.

    ``with stream:`` (or ``stream.close()``) releases the connection; so does
    leaving the ``for`` loop early. Read once, like :class:`AsyncStream`.
    """

    _stream: AsyncStream[_T]

    def __init__(self, client: Client, stream: AsyncStream[_T]) -> None:
        super().__init__(client, stream)

    @property
    def stats(self) -> StreamStats:
        return self._stream.stats

    @property
    def done(self) -> bool:
        return self._stream.done

    @property
    def text_stream(self: Stream[ChatCompletionChunk]) -> Iterator[str]:
        """The content deltas of the first choice, as ``str``."""
        return _text_deltas(self)

    def get_final_completion(self: Stream[ChatCompletionChunk]) -> ChatCompletion:
        """Read the rest; return every chunk merged into one ``ChatCompletion``."""
        return self._client._run(self._stream.get_final_completion)

    def __repr__(self) -> str:
        return repr(self._stream).replace("AsyncStream", "Stream", 1)


def _text_deltas(stream: Stream[ChatCompletionChunk]) -> Iterator[str]:
    try:
        for chunk in stream:
            for choice in chunk.choices:
                if choice.index == 0 and choice.delta.content:
                    yield choice.delta.content
    finally:
        stream._close_soon()
