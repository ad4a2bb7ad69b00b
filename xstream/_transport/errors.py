"""The one mapping of what goes wrong while reading an answer: aiohttp's and the
OS's errors met in a body become xstream's (``ProtocolError`` when the peer broke
HTTP, else ``StreamDisconnectedError``); error bodies and refused answers decoded."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import msgspec
from aiohttp.http_exceptions import ContentLengthError, HttpProcessingError

from .._exceptions import (
    APIConnectionError,
    APIError,
    ConnectTimeoutError,
    NotStreamedError,
    ProtocolError,
    StreamDisconnectedError,
    XStreamError,
    deadline_error,
    stream_error,
)
from .._sse.decoder import ServerSentEvent, SSEDecoder
from .proxy import Proxies
from .request import Request, earliest

__all__ = [
    "ERROR_BODY_LIMIT",
    "READ_ERRORS",
    "body_error",
    "decode_body",
    "error_event",
    "error_payload",
    "headers_of",
    "not_streamed",
    "read_prefix",
    "send_error",
]

ERROR_BODY_LIMIT = 64 * 1024  # we read at most this much of an error or non-SSE body
_PREFIX_SECONDS = 10.0  # how long we wait for the body of an answer we refuse anyway

# What reading a body can raise: aiohttp's pure-Python parser lets its own
# HttpProcessingError (TransferEncodingError, ...) escape from reads.
READ_ERRORS = (aiohttp.ClientError, OSError, HttpProcessingError)


def decode_body(raw: bytes) -> object:
    """A body as JSON when it is JSON, else as (replaced) text."""
    try:
        return msgspec.json.decode(raw) if raw else None
    except ValueError:
        return raw[:ERROR_BODY_LIMIT].decode("utf-8", "replace")


def _is_protocol_fault(exc: BaseException) -> bool:
    """Whether an error met while reading says the peer broke HTTP (rather than
    just closing the connection early)."""
    for err in (exc, exc.__cause__):
        if isinstance(err, aiohttp.ClientPayloadError):
            # aiohttp words every early end this way; anything else is a broken body
            return "not completed" not in str(err)
        if isinstance(err, HttpProcessingError):
            return not isinstance(err, ContentLengthError) and "Not enough data" not in str(err)
    return False


def body_error(
    exc: BaseException, request: Request, *, delivered: int, noun: str, received: int
) -> APIConnectionError:
    """The one mapping of an error met while reading a body: ``ProtocolError`` when
    the peer broke HTTP, else ``StreamDisconnectedError``."""
    detail = request.redact(f"{type(exc).__name__}: {exc}")
    if _is_protocol_fault(exc):
        return ProtocolError(
            f"{request.where} broke the HTTP framing of its answer after {delivered} {noun} "
            f"({received} bytes): {detail}",
            events_received=delivered,
        )
    return StreamDisconnectedError(
        f"the connection to {request.where} broke after {delivered} {noun} "
        f"({received} bytes): {detail}",
        events_received=delivered,
    )


def headers_of(error: BaseException) -> dict[str, str] | None:
    """The (lower-cased) response headers an error carries, if any."""
    response = getattr(error, "response", None)
    if isinstance(response, aiohttp.ClientResponse):
        return {k.lower(): v for k, v in response.headers.items()}
    return None


def not_streamed(request: Request, raw: bytes, body: object, ctype: str) -> NotStreamedError:
    """The error for a stream request answered with one whole JSON document."""
    return NotStreamedError(
        f"asked for a stream, {request.where} answered with one whole JSON document "
        f"({ctype or 'no content type'}); it is kept on this error's .completion and .body",
        body=body,
        raw=raw,
    )


def error_payload(raw: bytes) -> object:
    """An error body decoded: JSON, else for an event-stream body the JSON of its
    first event (some servers stream their errors), else the text."""
    body = decode_body(raw)
    if isinstance(body, str) and raw.lstrip()[:5] == b"data:":
        with contextlib.suppress(XStreamError):
            events = SSEDecoder(max_event_bytes=ERROR_BODY_LIMIT + 1).feed(raw + b"\n\n")
            if events:
                first = decode_body(events[0].raw)
                if not isinstance(first, str):
                    return first
    return body


def send_error(
    exc: BaseException, request: Request, proxies: Proxies, name: str, seconds: float | None
) -> APIError:
    """The one mapping of aiohttp/OS errors met while sending."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError) or (
        isinstance(exc, aiohttp.ServerTimeoutError) and "connect" in str(exc).lower()
    ):
        seconds = request.timeout.connect
        return ConnectTimeoutError(
            f"could not connect to {request.where} within {seconds} s",
            deadline="connect",
            seconds=seconds,
        )
    if isinstance(exc, TimeoutError):
        return deadline_error(
            name,
            f"no response from {request.where} within the {name} deadline of {seconds} s",
            seconds=seconds,
        )
    proxy = proxies.route(request.url)
    if proxy is not None and isinstance(exc, aiohttp.ClientHttpProxyError):
        return APIConnectionError(
            request.redact(
                f"the proxy {proxy.url} refused to open a tunnel to {request.where}: "
                f"HTTP {exc.status} {exc.message}"
            )
        )
    if proxy is not None and isinstance(exc, aiohttp.ClientProxyConnectionError):
        detail = request.redact(str(exc))
        return APIConnectionError(
            f"could not reach the proxy {proxy.url} (for {request.where}): "
            f"{type(exc).__name__}: {detail}"
        )
    if isinstance(exc, aiohttp.ClientResponseError) and not isinstance(
        exc, aiohttp.TooManyRedirects
    ):
        # aiohttp reports a response it cannot parse as a "400" of its own making
        detail = request.redact(exc.message)
        return ProtocolError(f"{request.where} answered with invalid HTTP: {detail}")
    detail = request.redact(str(exc))
    return APIConnectionError(f"could not reach {request.where}: {type(exc).__name__}: {detail}")


async def read_prefix(
    response: aiohttp.ClientResponse, until: float | None = None, *, size: int = ERROR_BODY_LIMIT
) -> tuple[bytes, bool]:
    """Up to ``ERROR_BODY_LIMIT`` bytes of a body we are about to refuse, waiting at
    most a few seconds for them (a stalled error body must not hang the caller),
    and never past ``until`` (loop time). Also says whether ``until`` cut the wait.
    The connection is closed afterwards."""
    pieces: list[bytes] = []
    received = 0
    now = asyncio.get_running_loop().time()
    cap = earliest(now + _PREFIX_SECONDS, until)
    cut = False
    try:
        async with asyncio.timeout_at(cap):
            while received < size:
                data = await response.content.read(size - received)
                if not data:
                    break
                pieces.append(data)
                received += len(data)
    except TimeoutError:
        cut = until is not None and cap == until
    except READ_ERRORS:
        pass
    finally:
        response.close()
    return b"".join(pieces), cut


def error_event(event: ServerSentEvent, response: aiohttp.ClientResponse | None) -> APIError:
    """The exception for an error sent inside the stream (``event: error``, or a
    payload with an ``error`` member)."""
    try:
        body: Any = msgspec.json.decode(event.raw)
    except ValueError:
        body = {"error": {"message": event.data[:200]}}
    return stream_error(body, response)
