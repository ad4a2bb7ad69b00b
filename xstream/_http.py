"""Small HTTP helpers shared by the chat client, event streams and the Responses API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping

import aiohttp
import msgspec

from ._errors import (
    APIConnectionError,
    APIStatusError,
    FirstEventTimeoutError,
    StreamError,
    XStreamError,
    error_message,
    status_error_class,
    stream_error,
)
from ._sse import SSEDecoder
from ._timeouts import Timeout

__all__ = [
    "ERROR_BODY_LIMIT",
    "ErrorMapper",
    "decode_body",
    "earliest",
    "error_payload",
    "header_secrets",
    "read_body",
    "read_prefix",
]

ERROR_BODY_LIMIT = 64 * 1024  # we read at most this much of an error or non-SSE body


def decode_body(raw: bytes) -> object:
    """An error body as JSON when it is JSON, else as (replaced) text."""
    try:
        return msgspec.json.decode(raw) if raw else None
    except ValueError:
        return raw[:ERROR_BODY_LIMIT].decode("utf-8", "replace")


def earliest(*limits: float | None) -> float | None:
    """The smallest of the limits that are set (``None`` when none is)."""
    present = [limit for limit in limits if limit is not None]
    return min(present) if present else None


async def read_body(response: aiohttp.ClientResponse, timeout: Timeout) -> bytes:
    """A whole non-streamed body, within the first_event/total deadline; the
    connection goes back to the pool (or is closed on failure)."""
    limit = earliest(timeout.first_event, timeout.total)
    try:
        async with asyncio.timeout(limit):
            return await response.read()
    except TimeoutError as exc:
        response.close()
        raise FirstEventTimeoutError(
            f"the response did not complete within {limit} s",
            deadline="first_event",
            seconds=limit,
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:
        response.close()
        raise APIConnectionError(f"the connection broke while reading the response: {exc}") from exc
    finally:
        response.release()


_PREFIX_SECONDS = 10.0  # how long we wait for the body of an answer we refuse anyway


async def read_prefix(response: aiohttp.ClientResponse) -> bytes:
    """Up to ``ERROR_BODY_LIMIT`` bytes of a body we are about to refuse, waiting at
    most a few seconds for them (a stalled error body must not hang the caller).
    The connection is closed afterwards."""
    pieces: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(_PREFIX_SECONDS):
            while size < ERROR_BODY_LIMIT:
                data = await response.content.read(ERROR_BODY_LIMIT - size)
                if not data:
                    break
                pieces.append(data)
                size += len(data)
    except (TimeoutError, aiohttp.ClientError, OSError):
        pass
    finally:
        response.close()
    return b"".join(pieces)


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


class ErrorMapper:
    """Turns refused answers into exceptions, with secrets blanked out of every message.

    One mapping for the client (its API key) and for :func:`open_sse` (the
    credentials found in the caller's own headers).
    """

    def __init__(self, secrets: Iterable[str], hints: Mapping[int, str] | None = None) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        self._hints = dict(hints or {})

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    async def status_error(self, response: aiohttp.ClientResponse) -> APIStatusError:
        """The exception for a non-2xx answer, its body read (bounded) and parsed."""
        raw = await read_prefix(response)
        body = error_payload(raw)
        detail = error_message(body) or raw[:200].decode("utf-8", "replace").strip()
        hint = self._hints.get(response.status, "")
        message = self.redact(f"HTTP {response.status}: {detail or response.reason or ''}{hint}")
        cls = status_error_class(response.status)
        return cls(message, status_code=response.status, response=response, body=body)

    async def check_event_stream(self, response: aiohttp.ClientResponse) -> None:
        """Raise if a 2xx answer to a stream request is not an event stream, saying
        what came instead (or the error the body describes)."""
        ctype = response.headers.get("Content-Type", "")
        if not ctype or "text/event-stream" in ctype.lower():
            return
        raw = await read_prefix(response)
        body = decode_body(raw)
        if error_message(body) is not None:
            raise stream_error(body, response)
        start = self.redact(raw[:200].decode("utf-8", "replace"))
        raise StreamError(
            f"asked for a stream but the server answered {ctype!r}, not text/event-stream; "
            f"the body starts with {start!r}"
        )


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """The credentials in a caller's headers (to blank out of messages)."""
    secrets: list[str] = []
    for name, value in headers.items():
        if name.lower() in ("authorization", "proxy-authorization", "x-api-key", "api-key"):
            secrets.append(value)
            token = value.partition(" ")[2]
            if token:
                secrets.append(token)
    return secrets
