"""A small forwarding HTTP proxy on 127.0.0.1, for tests of ``proxy=`` and ``HTTP_PROXY``.

Plain asyncio streams. An absolute-form request (``GET http://host:port/path``)
is forwarded to its target as an origin-form one, with ``Connection: close``,
and the answer piped back as it arrives (streams stream). ``CONNECT host:port``
opens a tunnel, or is refused with ``refuse_connect``'s status. With ``login``,
a request without that ``Proxy-Authorization`` is answered 407. Every request
head it read is recorded in ``seen``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import urllib.parse
from dataclasses import dataclass


@dataclass
class ProxySeen:
    method: str
    target: str  # the absolute URL, or host:port for CONNECT
    headers: dict[str, str]  # lower-cased names


class ForwardingProxy:
    def __init__(
        self, *, refuse_connect: int | None = None, login: tuple[str, str] | None = None
    ) -> None:
        self.refuse_connect = refuse_connect
        self.expected_auth = None
        if login is not None:
            token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
            self.expected_auth = f"Basic {token}"
        self.seen: list[ProxySeen] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> ForwardingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port: int = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._one(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        method, target, version = request_line.split(" ")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.seen.append(ProxySeen(method, target, headers))
        if self.expected_auth and headers.get("proxy-authorization") != self.expected_auth:
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            await writer.drain()
            return
        if method == "CONNECT":
            if self.refuse_connect is not None:
                writer.write(
                    f"HTTP/1.1 {self.refuse_connect} Forbidden\r\n"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
                )
                await writer.drain()
                return
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await self._pipe(reader, writer, up_reader, up_writer)
            return
        url = urllib.parse.urlsplit(target)
        assert url.hostname and url.port, f"not an absolute-form request: {target}"
        up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port)
        path = url.path + (f"?{url.query}" if url.query else "")
        skip = {"proxy-authorization", "proxy-connection", "connection", "keep-alive"}
        kept = [line for line in lines if line.partition(":")[0].strip().lower() not in skip]
        forwarded = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close"])
        up_writer.write(forwarded.encode("latin-1") + b"\r\n\r\n")
        await self._pipe(reader, writer, up_reader, up_writer)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        """Bytes both ways until the target closes (the answer is then complete)."""

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()

        upstream = asyncio.ensure_future(copy(reader, up_writer))
        try:
            await copy(up_reader, writer)
        finally:
            upstream.cancel()
            with contextlib.suppress(BaseException):
                await upstream
            up_writer.close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (a proxy that is down)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
