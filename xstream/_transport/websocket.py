"""A WebSocket through the one transport: the same headers (the key for the base URL's
origin only), proxy route, deadlines and mapped, redacted errors as an HTTP request."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp
from yarl import URL

from .._exceptions import status_error_class
from .errors import send_error
from .request import Request, window

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ["open_websocket"]

# Two seconds for the closing handshake: aiohttp >= 3.11 says so with ClientWSTimeout,
# 3.10 (the lower bound) with a number.
_WS_TIMEOUT = getattr(aiohttp, "ClientWSTimeout", None)
_CLOSE_TIMEOUT: dict[str, Any] = {
    "timeout": _WS_TIMEOUT(ws_close=2.0) if _WS_TIMEOUT is not None else 2.0
}


async def open_websocket(
    transport: Transport, request: Request, *, max_message_bytes: int
) -> aiohttp.ClientWebSocketResponse:
    """Open a WebSocket to ``request.url`` (``ws``/``wss`` for ``http``/``https``)
    with the request's headers (the API key only for ``base_url``'s origin),
    proxy and deadlines (``connect``, then ``first_event`` for the upgrade's
    answer); every failure mapped as :meth:`attempt` maps it, redacted."""
    url = URL(request.url)
    url = url.with_scheme({"http": "ws", "https": "wss"}.get(url.scheme, url.scheme))
    headers = {
        k: v
        for k, v in request.headers.items()
        if k not in ("Content-Type", "Accept", "Cache-Control")
    }
    t = request.timeout
    now = asyncio.get_running_loop().time()
    limit, name, seconds = window(t, now, now, "first_event")
    proxy = transport._pool.proxies.route(request.url)
    try:
        async with asyncio.timeout(limit):
            socket: aiohttp.ClientWebSocketResponse = await transport.session.ws_connect(
                url,
                headers=headers,
                proxy=None if proxy is None else proxy.target,
                max_msg_size=max_message_bytes,
                autoping=True,
                **_CLOSE_TIMEOUT,
            )
            return socket
    except aiohttp.WSServerHandshakeError as exc:
        status = exc.status if exc.status >= 400 else 502  # not a 101 answer
        message = request.redact(
            f"HTTP {exc.status}: {request.where} refused the WebSocket upgrade: {exc.message}"
        )
        raise status_error_class(status)(message, status_code=status, body=None) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise send_error(exc, request, transport._pool.proxies, name, seconds) from exc
