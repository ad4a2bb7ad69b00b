"""The connection pool's hygiene: what aiohttp's connector does not check.

* An idle pooled connection is handed out only when it is clean (open, its last
  response read to the end, nothing unread buffered, no error, not closing):
  a response that arrives on an idle connection, which nobody asked for, must
  never be read as the next request's answer.
* A request tells whether it went out on a reused connection (a trace), so the
  transport can resend one that failed on a kept-alive connection the server
  had already closed.
* A body read fails at once when its connection is lost mid-body (aiohttp's C
  parser would leave it waiting).

aiohttp's connector internals differ across the supported range (3.10 to 3.14);
both ends are tested.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError

__all__ = ["connector_class", "reuse_trace", "stale", "watch"]

log = logging.getLogger("xstream")


def watch(response: aiohttp.ClientResponse) -> None:
    """Make a body read fail at once when its connection is lost mid-body.

    aiohttp's C parser, on a framing error in the middle of a body (an invalid
    chunk size, ...), closes the connection but never wakes the body's reader,
    which would then wait for a deadline. When the connection goes, this hands the
    reader the error instead (one hook per connection, not per read).
    """
    connection = response.connection
    protocol = connection.protocol if connection is not None else None
    if protocol is None:
        return
    protocol._xstream_body = response.content  # type: ignore[attr-defined]
    if getattr(protocol, "_xstream_watched", False):
        return
    protocol._xstream_watched = True  # type: ignore[attr-defined]
    lost = protocol.connection_lost

    def connection_lost(exc: BaseException | None) -> None:
        cause = protocol.exception()  # what the parser stored when it gave up
        lost(exc)
        body: aiohttp.StreamReader | None = getattr(protocol, "_xstream_body", None)
        if body is not None and not body.is_eof() and body.exception() is None:
            if isinstance(cause, HttpProcessingError):
                error = aiohttp.ClientPayloadError(f"the body is not valid HTTP: {cause}")
                body.set_exception(error, cause)
            else:
                body.set_exception(aiohttp.ClientPayloadError("Response payload is not completed"))

    protocol.connection_lost = connection_lost  # type: ignore[method-assign]


def _reusable(protocol: Any) -> bool:
    """An idle pooled connection may carry the next request only when it is clean:
    still open, its last response read to the end, nothing unread buffered (a
    response nobody asked for), no error, not closing."""
    return bool(protocol is not None and protocol.is_connected() and not protocol.should_close)


class _CleanConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` that hands out only clean idle connections.

    aiohttp reuses an idle connection whenever its socket is open, so bytes that
    arrived on it while idle would be read as the answer to the next request.
    Here such a connection is closed instead. (``_get`` is private and changed
    shape in aiohttp 3.11: both are handled; the range is tested at both ends.)
    """

    # (aiohttp < 3.11 types _get as synchronous: the other class below is for it)
    async def _get(self, key: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override, unused-ignore]
        get: Any = super()._get  # Any: its type differs across the supported aiohttp range
        while True:
            connection = await get(key, *args, **kwargs)
            if connection is None or _reusable(connection.protocol):
                return connection
            log.debug("closing a pooled connection that is not clean")
            connection.close()


class _CleanConnectorBefore311(aiohttp.TCPConnector):
    """:class:`_CleanConnector` for aiohttp < 3.11, whose ``_get`` is synchronous and
    returns a protocol that the caller acquires."""

    def _get(self, key: Any, *args: Any, **kwargs: Any) -> Any:
        get: Any = super()._get
        while True:
            protocol = get(key, *args, **kwargs)
            if protocol is None or _reusable(protocol):
                return protocol
            log.debug("closing a pooled connection that is not clean")
            protocol.close()


def connector_class() -> type[aiohttp.TCPConnector]:
    if inspect.iscoroutinefunction(aiohttp.TCPConnector._get):
        return _CleanConnector
    return _CleanConnectorBefore311  # pragma: no cover - aiohttp < 3.11


async def _on_reuse(session: Any, context: Any, params: Any) -> None:
    if isinstance(context.trace_request_ctx, dict):
        context.trace_request_ctx["reused"] = True


def reuse_trace() -> aiohttp.TraceConfig:
    """Tells a request whether it went out on a pooled (reused) connection."""
    trace = aiohttp.TraceConfig()
    trace.on_connection_reuseconn.append(_on_reuse)  # type: ignore[arg-type, unused-ignore]
    return trace


def stale(exc: BaseException) -> bool:
    """A failure that a connection the server already closed gives (not a timeout)."""
    return isinstance(exc, aiohttp.ClientConnectionError | ConnectionError) and not isinstance(
        exc, aiohttp.ServerTimeoutError
    )
