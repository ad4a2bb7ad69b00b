"""A hand-written HTTP/1.1 server on 127.0.0.1 for hostile-peer tests.

aiohttp's own server is too well behaved to misbehave on purpose: this one is
plain asyncio streams. Each accepted connection runs ``handler(conn)``, where
``conn`` reads requests and writes whatever bytes the test scripts, valid HTTP
or not. It records every request it read, with the connection it came on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Seen:
    """One request as the server read it."""

    connection: int
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Conn:
    """One accepted connection: read requests, write raw bytes."""

    number: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    server: RawServer

    async def request(self) -> Seen | None:
        """Read one request (``None`` when the client closed the connection)."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0") or 0))
        seen = Seen(self.number, method, path, headers, body)
        self.server.seen.append(seen)
        return seen

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


Handler = Callable[[Conn], Awaitable[None]]


@dataclass
class RawServer:
    """``async with RawServer(handler) as server:`` ... ``server.base_url``."""

    handler: Handler
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self._server.wait_closed()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = Conn(self.connections, reader, writer, self)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self.handler(conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # the server is shutting down; a cancelled callback task would be logged
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()


def response(
    body: bytes,
    *,
    status: str = "200 OK",
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A complete response with a Content-Length."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked_head(*, content_type: str = "text/event-stream", extra: str = "") -> bytes:
    """The head of a chunked response; send ``chunk(...)`` pieces after it."""
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
        f"Transfer-Encoding: chunked\r\n{extra}\r\n"
    ).encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def sse_chunk(n: int, text: str = "x", *, model: str = "m") -> bytes:
    """One ``chat.completion.chunk`` event, numbered by ``id``."""
    return (
        b'data: {"id":"c%d","object":"chat.completion.chunk","model":"%s",'
        b'"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n'
        % (n, model.encode(), text.encode())
    )


COMPLETION = (
    b'{"id":"cmpl-1","object":"chat.completion","created":1,"model":"m",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"right answer"},'
    b'"finish_reason":"stop"}]}'
)
