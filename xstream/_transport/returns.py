"""Connections on their way back to the pool: a stream whose last event came before
the end of its body ends at once, and its connection is given back when the rest
(the chunked terminator, usually) arrives (``_streams/connection.py``). Until then
a new request waits a moment for it, so that a loop of turns (an agent's) keeps
one connection instead of opening another (a TCP and TLS handshake: 2-3 round
trips)."""

from __future__ import annotations

import asyncio

__all__ = ["DRAIN_WAIT", "Returns"]

DRAIN_WAIT = 0.01  # seconds a request waits for a connection on its way back


class Returns:
    """The connections of one pool that are on their way back. Requests wait for
    the next one on one future, at most :data:`DRAIN_WAIT`; never while the server
    keeps its bodies open after their last event (the last one took longer)."""

    __slots__ = ("_next", "_pending", "_slow")

    def __init__(self) -> None:
        self._pending = 0
        self._next: asyncio.Future[None] | None = None  # set when the next one is back
        self._slow = False

    def track(self, task: asyncio.Task[None]) -> None:
        """The connection comes back when ``task`` (its drain) ends."""
        self._pending += 1
        loop = task.get_loop()
        started = loop.time()

        def back(_: object) -> None:
            self._pending -= 1
            self._slow = loop.time() - started > DRAIN_WAIT
            waiting, self._next = self._next, None
            if waiting is not None and not waiting.done():
                waiting.set_result(None)

        task.add_done_callback(back)

    async def wait(self) -> None:
        """Wait (a moment at most) for the next connection to come back, if one is on
        its way; at once otherwise."""
        if not self._pending or self._slow:
            return
        waiting = self._next
        if waiting is None:
            waiting = self._next = asyncio.get_running_loop().create_future()
        await asyncio.wait((waiting,), timeout=DRAIN_WAIT)
