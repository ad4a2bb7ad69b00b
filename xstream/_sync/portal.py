"""The sync facade's private event loop: one thread, one anyio blocking portal.

Each blocking call crosses into the loop thread with :meth:`LoopThread.run`;
Ctrl-C while waiting cancels the call there, so nothing keeps running behind
the caller's back.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from .._exceptions import APIConnectionError

__all__ = ["LoopThread"]

_R = TypeVar("_R")


class LoopThread:
    """The private event loop thread, started on first use; stopped by ``stop()``
    (never by the client itself, so that a finalizer can hold it without holding
    the client), for good: a stopped loop is not started again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cm: AbstractContextManager[BlockingPortal] | None = None
        self.portal: BlockingPortal | None = None
        self._stopped = False

    @property
    def running(self) -> bool:
        return self.portal is not None

    def get(self) -> BlockingPortal:
        with self._lock:
            if self._stopped:
                raise APIConnectionError("this client is closed")
            if self.portal is None:
                self._cm = start_blocking_portal(name="xstream-loop")
                self.portal = self._cm.__enter__()
            return self.portal

    def run(self, fn: Callable[..., Coroutine[Any, Any, _R]], *args: Any) -> _R:
        """Run ``fn(*args)`` on the loop thread; Ctrl-C while waiting cancels it there."""
        future = self.get().start_task_soon(fn, *args)
        try:
            result: _R = future.result()
        except BaseException:
            future.cancel()
            raise
        return result

    def stop(self, last: Callable[[], Awaitable[Any]]) -> None:
        """Run ``last()`` on the loop (closing what lives there), then stop it."""
        with self._lock:
            cm, portal = self._cm, self.portal
            self._cm = self.portal = None
            self._stopped = True
        if cm is None or portal is None:
            return
        try:
            portal.call(last)
        finally:
            cm.__exit__(None, None, None)
