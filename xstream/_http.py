"""Small HTTP helpers shared by the chat client, event streams and the Responses API."""

from __future__ import annotations

import asyncio

import aiohttp
import msgspec

from ._errors import APIConnectionError, FirstEventTimeoutError
from ._timeouts import Timeout

__all__ = ["ERROR_BODY_LIMIT", "decode_body", "earliest", "read_body"]

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
