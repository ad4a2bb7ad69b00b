"""What a ``stream(...)`` helper returns: the request is sent on entering, the
stream closed on leaving, however the block ends.

One pair of classes for every stream helper (chat events, Responses), async and
sync; each helper's manager only names what it opens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["AsyncStreamManager", "StreamManager"]


class _AsyncClosable(Protocol):
    async def aclose(self) -> None: ...


class _Closable(Protocol):
    def close(self) -> None: ...


_A = TypeVar("_A", bound=_AsyncClosable)
_S = TypeVar("_S", bound=_Closable)


class AsyncStreamManager(Generic[_A]):
    """``async with manager as stream`` (or ``stream = await manager``): ``open()``
    sends the request; leaving the block closes the stream, read or not."""

    def __init__(self, open: Callable[[], Awaitable[_A]]) -> None:
        self._opener = open
        self._stream: _A | None = None

    async def _open(self) -> _A:
        self._stream = await self._opener()
        return self._stream

    def __await__(self) -> Generator[Any, None, _A]:
        return self._open().__await__()

    async def __aenter__(self) -> _A:
        return await self._open()

    async def __aexit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            await self._stream.aclose()


class StreamManager(Generic[_S]):
    """``with manager as stream``: ``open()`` sends the request; leaving the block
    closes the stream, read or not."""

    def __init__(self, open: Callable[[], _S]) -> None:
        self._opener = open
        self._stream: _S | None = None

    def __enter__(self) -> _S:
        self._stream = self._opener()
        return self._stream

    def __exit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            self._stream.close()
