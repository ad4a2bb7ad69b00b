"""What a ``stream(...)`` helper returns: the request is sent on entering, the
stream closed on leaving, however the block ends.

One class for every stream helper (chat events, Responses); each helper's manager
only names what it opens. This file is the source of its blocking twin,
``xstream/_sync/managers.py``, which ``scripts/unasync.py`` generates from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["AsyncStreamManager"]


class _AsyncClosable(Protocol):
    async def aclose(self) -> None: ...


_A = TypeVar("_A", bound=_AsyncClosable)


class AsyncStreamManager(Generic[_A]):
    """``async with manager as stream``: ``open()`` sends the request; leaving the
    block closes the stream, read or not."""

    def __init__(self, open: Callable[[], Awaitable[_A]]) -> None:
        self._opener = open
        self._stream: _A | None = None

    async def _open(self) -> _A:
        self._stream = await self._opener()
        return self._stream

    # unasync: async only
    def __await__(self) -> Generator[Any, None, _A]:
        """``stream = await manager``: the stream, without a block (close it yourself)."""
        return self._open().__await__()

    async def __aenter__(self) -> _A:
        return await self._open()

    async def __aexit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            await self._stream.aclose()
