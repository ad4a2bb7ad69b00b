"""A simulated network for the benchmarks: a TCP proxy on 127.0.0.1 that adds latency.

Every byte is held for ``one_way`` seconds in each direction, so a request and its
first answer byte cost one round trip (``2 * one_way``), however many bytes and
messages are in flight: a pipe with latency, not a bandwidth limit. Each chunk read
is stamped with the time it may leave and released then, in order, by one writer per
direction. A new connection also pays ``setup`` seconds before its first byte
reaches the server (the TCP and TLS handshakes a real client does before it can
send: about 2 round trips for TCP + TLS 1.3, 3 for TLS 1.2); bytes the client sent
meanwhile wait, as if it had sent them when the handshake ended.

The proxy counts the connections it accepted, so a benchmark can check that a client
reused its connection (the setup is paid once) instead of trusting it, and how late
its timers released the bytes (``late``: the event loop wakes up a little after the
time asked, which adds to every client's round trips alike)::

    proxy = await LatencyProxy.start("127.0.0.1", server_port, one_way=0.015, setup=0.06)
    ...  # clients connect to 127.0.0.1:proxy.port
    await proxy.close()
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass

__all__ = ["LatencyProxy"]

_READ = 256 * 1024


@dataclass
class Lateness:
    """How late the releases that had to wait were, in total (seconds), and how many."""

    total: float = 0.0
    count: int = 0


class _Delayed:
    """One direction of one connection: what ``reader`` gives, written to ``writer``
    ``delay`` seconds later (and never before ``not_before``, loop time), in order."""

    def __init__(
        self, writer: asyncio.StreamWriter, delay: float, not_before: float, late: Lateness
    ) -> None:
        self.writer = writer
        self.late = late
        self.delay = delay
        self.not_before = not_before
        self.queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.ready = asyncio.Event()

    async def read(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        try:
            while data := await reader.read(_READ):
                self._stamp(loop, data)
        except OSError:
            pass
        finally:
            self._stamp(loop, None)  # the end travels as late as the bytes before it

    def _stamp(self, loop: asyncio.AbstractEventLoop, data: bytes | None) -> None:
        self.queue.append((max(loop.time() + self.delay, self.not_before), data))
        self.ready.set()

    async def write(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                while not self.queue:
                    self.ready.clear()
                    await self.ready.wait()
                due, data = self.queue[0]
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    self.late.total += loop.time() - due
                    self.late.count += 1
                self.queue.popleft()
                if data is None:
                    if self.writer.can_write_eof():
                        self.writer.write_eof()
                    return
                self.writer.write(data)
                await self.writer.drain()
        except OSError:
            return


class LatencyProxy:
    """A listening proxy to ``host:port``; see the module's docstring."""

    def __init__(self, host: str, port: int, *, one_way: float, setup: float) -> None:
        self.target = (host, port)
        self.one_way = one_way
        self.setup = setup
        self.connections = 0
        self.late = Lateness()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, host: str, port: int, *, one_way: float, setup: float) -> LatencyProxy:
        proxy = cls(host, port, one_way=one_way, setup=setup)
        proxy._server = await asyncio.start_server(proxy._accept, "127.0.0.1", 0)
        proxy.port = proxy._server.sockets[0].getsockname()[1]
        return proxy

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        loop = asyncio.get_running_loop()
        ready = loop.time() + self.setup  # when the handshakes would have ended
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        # the request leaves when the handshake ends and arrives one way later
        out = _Delayed(up_writer, self.one_way, ready + self.one_way, self.late)
        back = _Delayed(writer, self.one_way, 0.0, self.late)
        try:
            await asyncio.gather(out.read(reader), out.write(), back.read(up_reader), back.write())
        except asyncio.CancelledError:
            pass  # close(): end quietly (start_server logs a handler's cancellation as an error)
        finally:
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(OSError, asyncio.CancelledError):
                    await w.wait_closed()
            self._tasks.discard(task)
