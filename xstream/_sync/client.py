"""Client: the same API, blocking, for scripts and notebooks.

There is no second implementation of the protocol: each ``Client`` runs one
``AsyncClient`` on a private event loop in a background thread (an anyio
blocking portal, :mod:`xstream._sync.portal`), started on first use. A stream
crosses threads once per network read, handing over the bytes that read
brought; they are decoded on the calling thread, so no item waits for another
and the per-item cost stays that of the async path. Because the loop is our own, the sync API also works
where the calling thread already runs a loop (Jupyter, sync code called from
``async def``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Self, TypeVar, Unpack

from .._client import AsyncClient, ClientOptions, DerivedClientOptions, detach, pipeline
from .._config.timeouts import Timeout
from .api import SyncAPI
from .chat import Chat
from .portal import LoopThread
from .responses import Responses
from .sse import SSE

__all__ = ["Client"]

_T = TypeVar("_T")
_R = TypeVar("_R")


class Client:
    """A blocking client with the same API as :class:`AsyncClient`.

    >>> client = Client()                                     # doctest: +SKIP
    >>> for chunk in client.chat.completions.create(model="grok-2-latest",
    ...         messages=[{"role": "user", "content": "Hi"}], stream=True):
    ...     print(chunk.choices[0].delta.content or "", end="")

    Close it (``with Client() as client:`` or ``client.close()``) to stop its
    loop thread; a client that is never closed is cleaned up when collected
    or at exit, with a ``ResourceWarning``. Safe to use from several threads.
    :meth:`with_options` makes a client with other defaults over the same loop
    thread and connection pool.
    """

    _parent: Client | None = None  # the client whose loop and pool a derived one uses
    _finalizer: weakref.finalize[Any, Any]

    def __init__(self, api_key: str | None = None, **options: Unpack[ClientOptions]) -> None:
        self._async = AsyncClient(api_key, **options)
        self._loop = LoopThread()
        self._finalizer = weakref.finalize(self, _stop_unclosed, self._loop, self._async)
        self._resources()

    def _resources(self) -> None:
        api = SyncAPI(self._loop, pipeline(self._async))
        self.chat = Chat(api)
        self.responses = Responses(api)
        self.sse = SSE(api)

    def with_options(self, **options: Unpack[DerivedClientOptions]) -> Self:
        """A client with other defaults over this one's loop thread and pool; see
        :meth:`AsyncClient.with_options`. Its ``close()`` leaves both running; this
        client's ``close()`` stops them for both.

        >>> patient = client.with_options(timeout=xstream.Timeout(first_event=1200))  # doctest: +SKIP
        """
        derived = type(self).__new__(type(self))
        derived._async = self._async.with_options(**options)
        derived._loop = self._loop
        derived._parent = self  # keeps the loop's owner (and its finalizer) alive
        derived._finalizer = weakref.finalize(derived, _no_op)
        derived._resources()
        return derived

    @property
    def base_url(self) -> str:
        return self._async.base_url

    @property
    def timeout(self) -> Timeout:
        return self._async.timeout

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop the loop thread (idempotent). A client made
        by :meth:`with_options` only stops taking requests."""
        if self._finalizer.detach() is None:
            return
        if self._parent is not None:
            detach(self._async)
        else:
            self._loop.stop(self._async.aclose)

    def __repr__(self) -> str:
        return f"<xstream.Client base_url={self.base_url!r}>"

    def _run(self, fn: Callable[..., Coroutine[Any, Any, _R]], *args: Any) -> _R:
        """Run ``fn(*args)`` on the loop thread (for helpers built on the client)."""
        return self._loop.run(fn, *args)


def _no_op() -> None:
    """The finalizer of a derived client: its parent cleans up."""


def _stop_unclosed(loop: LoopThread, aclient: AsyncClient) -> None:
    """Finalizer of a client dropped (or alive at exit) without ``close()``: its
    pool is closed and its thread stopped, quietly, as the OpenAI SDK's client
    allows (no warning: under ``-W error`` one would stop nothing and hang)."""
    if loop.running:
        loop.stop(aclient.aclose)
