"""Relaying a stream on: its items re-encoded as ``text/event-stream`` bytes.

A service that streams from the API and on to a browser hands the browser an
event stream of its own. The encoding is small and has no I/O (bytes out, like
the decoder has bytes in); what matters is the other direction: when the
browser leaves, the web framework closes (or cancels) the generator, and the
upstream stream is closed in its ``finally`` at once, so the model stops
generating for nobody.

* ``event_block`` is one event: ``event:``/``id:``/``retry:`` fields, then one
  ``data:`` line per line of data, then the blank line that dispatches it.
* An xstream error met mid-stream becomes one ``event: error`` whose data is an
  OpenAI-style ``{"error": {"message", "type", "code"}}`` object (xstream's own
  message, which never holds the API key), and the relay ends; another
  xstream client reading the relay raises it as ``ServerStreamError``.
* ``aiohttp_response`` writes a relay to an ``aiohttp.web`` response and also
  notices a client that left while the upstream is quiet (a reasoning model
  thinking): aiohttp tells a handler only when its next write fails, unless
  the app runs with ``handler_cancellation=True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from .._exceptions import XStreamError

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "DONE_EVENT",
    "SSE_HEADERS",
    "aiohttp_response",
    "error_block",
    "event_block",
    "json_of",
    "relay",
    "relay_sync",
]

_T = TypeVar("_T")

DONE_EVENT = b"data: [DONE]\n\n"
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: pass each event on as it comes, not in buffers
}
_LINES = re.compile(rb"\r\n|\r|\n")
_FIELD_BREAKS = str.maketrans("", "", "\r\n")
_POLL_SECONDS = 0.05  # how often a quiet relay checks whether its client left
_encode = msgspec.json.Encoder().encode


def event_block(
    data: bytes, *, event: str | None = None, id: str | None = None, retry: int | None = None
) -> bytes:
    """One event: its fields, a ``data:`` line per line of ``data``, a blank line.

    >>> event_block(b'{"a": 1}', event="tick")
    b'event: tick\\ndata: {"a": 1}\\n\\n'
    """
    head = b""
    if event is not None and event != "message":
        head += b"event: " + event.translate(_FIELD_BREAKS).encode() + b"\n"
    if id is not None:
        head += b"id: " + id.translate(_FIELD_BREAKS).encode() + b"\n"
    if retry is not None:
        head += b"retry: %d\n" % retry
    if b"\n" in data or b"\r" in data:
        return head + b"".join(b"data: " + line + b"\n" for line in _LINES.split(data)) + b"\n"
    return head + b"data: " + data + b"\n\n"


def error_block(exc: XStreamError) -> bytes:
    """``exc`` as an ``event: error`` with an OpenAI-style error object."""
    error: dict[str, Any] = {
        "message": str(exc),
        "type": getattr(exc, "type", None) or type(exc).__name__,
    }
    code = getattr(exc, "code", None)
    if code is not None:
        error["code"] = code
    return event_block(_encode({"error": error}), event="error")


def json_of(item: Any) -> bytes:
    """An item's JSON (msgspec Structs, dicts, lists...)."""
    return _encode(item)


async def relay(
    items: AsyncIterable[_T], encode: Callable[[_T], bytes], close: Callable[[], None], end: bytes
) -> AsyncGenerator[bytes, None]:
    """Each item encoded, then ``end``; an xstream error as an error event.
    ``close()`` (the upstream stream's) runs however this ends: done, failed,
    closed or cancelled by the framework when the client leaves."""
    try:
        async for item in items:
            yield encode(item)
        if end:
            yield end
    except XStreamError as exc:
        yield error_block(exc)
    finally:
        close()


def relay_sync(
    items: Iterable[_T], encode: Callable[[_T], bytes], close: Callable[[], None], end: bytes
) -> Generator[bytes, None, None]:
    """:func:`relay` for the blocking streams (WSGI servers close the iterator)."""
    try:
        for item in items:
            yield encode(item)
        if end:
            yield end
    except XStreamError as exc:
        yield error_block(exc)
    finally:
        close()


async def aiohttp_response(
    request: web.BaseRequest,
    body: AsyncGenerator[bytes, None],
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Stream ``body`` to ``request``'s client; the moment the client leaves,
    ``body`` is closed (and with it the upstream stream)."""
    from aiohttp import web

    response = web.StreamResponse(headers={**SSE_HEADERS, **(headers or {})})
    try:
        await response.prepare(request)
    except BaseException:
        await body.aclose()
        raise
    pump = asyncio.ensure_future(_pump(response, body))
    gone = asyncio.ensure_future(_client_left(request))
    try:
        await asyncio.wait((pump, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        pump.cancel()  # nothing when it is done; else the body's finally runs now
        await asyncio.wait((pump,))
    if not pump.cancelled():
        error = pump.exception()
        if error is not None and not isinstance(error, ConnectionResetError):
            raise error
    return response


async def _pump(response: web.StreamResponse, body: AsyncGenerator[bytes, None]) -> None:
    async with contextlib.aclosing(body):
        async for piece in body:
            await response.write(piece)
    await response.write_eof()


async def _client_left(request: web.BaseRequest) -> None:
    """Return once the client's connection is gone."""
    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(_POLL_SECONDS)
