"""What the engine does with a connection once a stream's last item is out: read
the (short, bounded) rest of the body so the connection can go back to the pool,
at once or in a task of its own; and the bytes aiohttp holds behind an error."""

from __future__ import annotations

import asyncio

import aiohttp

from .._transport.errors import READ_ERRORS

__all__ = ["give_back", "received_before_error"]

_DRAIN_BYTES = 64 * 1024  # what we read past the end to give the connection back to the pool
_DRAIN_SECONDS = 1.0


def give_back(
    response: aiohttp.ClientResponse, loop: asyncio.AbstractEventLoop
) -> asyncio.Task[None] | None:
    """Read the rest of ``response``'s body so that its connection can be reused:
    at once when it is already here (None), else by a task of its own (returned),
    so the caller gets the last items now rather than after a slow server ends the
    body. The transport's next request waits a moment for such a task (see
    ``Transport.draining``), so that it reuses the connection instead of opening one."""
    if _drained(response.content, _DRAIN_BYTES) is not None:
        _release(response)
        return None
    task = loop.create_task(_drain(response))
    _DRAINING.add(task)  # a strong reference until it ends
    task.add_done_callback(_DRAINING.discard)
    return task


_DRAINING: set[asyncio.Task[None]] = set()


def _drained(content: aiohttp.StreamReader, budget: int) -> int | None:
    """Read what is buffered of the rest of a body without waiting: the budget
    left when the body is at its end, else ``None``."""
    try:
        while budget > 0 and not content.at_eof():
            data = content.read_nowait(budget)
            if not data:
                break
            budget -= len(data)
    except READ_ERRORS:
        return 0
    return budget if content.at_eof() else None


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read the (short, bounded) rest of a body in the background, then release or
    close its connection."""
    content = response.content
    budget = _DRAIN_BYTES
    try:
        async with asyncio.timeout(_DRAIN_SECONDS):
            while budget > 0 and not content.at_eof():
                data = await content.readany()
                if not data:
                    break
                budget -= len(data)
    except asyncio.CancelledError:  # the loop is closing
        response.close()
        raise
    except Exception:  # best effort, in the background: a timeout, a broken or closed connection
        budget = 0
    if budget > 0 and content.at_eof():
        _release(response)
    else:
        response.close()


def _release(response: aiohttp.ClientResponse) -> None:
    """Back to the pool when the body was read to its end and nothing is left over."""
    if response.content.at_eof():
        response.release()
    else:
        response.close()


def received_before_error(content: aiohttp.StreamReader) -> bytes:
    """Bytes aiohttp received but holds back behind a stored exception (private API,
    read defensively: on any surprise we only lose what aiohttp would have lost)."""
    try:
        if content._buffer:
            return content._read_nowait(-1)
    except Exception:
        pass
    return b""
