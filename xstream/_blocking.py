"""BlockingStream: a stream living on the client's loop thread, read from this one.

Shared by the sync facade's chat ``Stream`` and its event streams. Items cross
threads once per network read (a batch), never one by one; leaving the ``for``
loop, an exception or Ctrl-C closes the response on the loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Generic, Protocol, Self, TypeVar

import aiohttp

from ._stream import BatchSource

if TYPE_CHECKING:
    from ._sync import Client

__all__ = ["BlockingStream"]

_T = TypeVar("_T")


class _LoopStream(BatchSource[_T], Protocol):
    """An async stream living on the loop thread, as the blocking wrappers need it."""

    _loop: asyncio.AbstractEventLoop
    response: aiohttp.ClientResponse

    async def aclose(self) -> None: ...


class BlockingStream(Generic[_T]):
    """A stream read from this thread while it lives on the client's loop thread.

    ``with stream:`` (or ``stream.close()``) releases the connection; so does
    leaving the ``for`` loop early. Read once, like the async streams.
    """

    def __init__(self, client: Client, stream: _LoopStream[_T]) -> None:
        self._client = client
        self._stream = stream

    @property
    def response(self) -> aiohttp.ClientResponse:
        return self._stream.response

    def __iter__(self) -> Iterator[_T]:
        return _BlockingIterator(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        if not self._stream._finished:
            self._client._run(self._stream.aclose)

    def _close_soon(self) -> None:
        """Close from any thread without waiting (used by finalizers)."""
        stream = self._stream
        if not stream._finished:
            with contextlib.suppress(RuntimeError):  # the loop is already gone
                stream._loop.call_soon_threadsafe(stream._close)

    def __del__(self) -> None:
        if hasattr(self, "_stream"):
            self._close_soon()


class _BlockingIterator(Generic[_T]):
    __slots__ = ("_batch", "_index", "_stream")

    def __init__(self, stream: BlockingStream[_T]) -> None:
        self._stream = stream
        self._batch: list[_T] = []
        self._index = 0

    def __iter__(self) -> _BlockingIterator[_T]:
        return self

    def __next__(self) -> _T:
        index = self._index
        if index < len(self._batch):
            self._index = index + 1
            return self._batch[index]
        stream = self._stream
        try:
            # One thread hop per network read (at most 128 KiB of items), not per item.
            batch = stream._client._run(stream._stream._next_batch)
        except BaseException:
            stream._close_soon()
            raise
        if not batch:
            raise StopIteration
        self._batch = batch
        self._index = 1
        return batch[0]

    def __del__(self) -> None:
        self._stream._close_soon()
