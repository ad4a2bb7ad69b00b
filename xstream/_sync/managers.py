"""GENERATED from ``xstream/_streams/managers.py`` by ``scripts/unasync.py``: do not edit.

The blocking twin of ``_streams/managers.py``: the same methods, parameters and docstrings,
without async and await; what needs the event loop crosses to the client's loop
thread in :class:`~xstream._sync.api.SyncAPI` and the streams of ``_sync/streams.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["StreamManager"]


class _Closable(Protocol):
    def close(self) -> None: ...


_A = TypeVar("_A", bound=_Closable)


class StreamManager(Generic[_A]):
    """``with manager as stream``: ``open()`` sends the request; leaving the
    block closes the stream, read or not."""

    def __init__(self, open: Callable[[], _A]) -> None:
        self._opener = open
        self._stream: _A | None = None

    def _open(self) -> _A:
        self._stream = self._opener()
        return self._stream

    def __enter__(self) -> _A:
        return self._open()

    def __exit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            self._stream.close()
