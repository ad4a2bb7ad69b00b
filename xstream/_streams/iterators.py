"""Where a loop over a stream is, and the iterator ``async for`` holds. The sync
facade's iterator shares :class:`Place` and :class:`PlacedIterator`."""

from __future__ import annotations

from collections.abc import Iterator
from operator import attrgetter, length_hint
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from .state import FINISHED

__all__ = ["NEXT_STEP", "Place", "PlacedIterator"]

_T = TypeVar("_T")

_SEEN: list[Any] = []  # a batch seen whole (never changed)
_SEEN_ITEMS: Iterator[Any] = iter(_SEEN)


class Place(msgspec.Struct, Generic[_T], gc=False):
    """Where a loop over a stream is: the batch it reads and the iterator over that
    batch. Kept by the loop's iterator (and by the sync facade's generator behind
    its iterator, so that neither refers to the other: a cycle would keep both alive
    past the loop's end); the stream keeps it too, to know where its loop stopped.

    Untracked by the garbage collector (it refers only to a batch and that batch's
    iterator, never back): an object less for every full collection to visit, per
    stream."""

    batch: list[_T] = msgspec.field(default_factory=lambda: _SEEN)
    items: Iterator[_T] = msgspec.field(default_factory=lambda: _SEEN_ITEMS)

    @property
    def index(self) -> int:
        """How many items of ``batch`` were handed out."""
        return len(self.batch) - length_hint(self.items)


class PlacedIterator(Generic[_T]):
    """Base of the iterators a loop holds over a stream: where the loop is
    (``_batch``, ``_index``, from its :class:`Place`)."""

    __slots__ = ("_place",)
    _place: Place[_T]

    @property
    def _batch(self) -> list[_T]:
        return self._place.batch

    @property
    def _index(self) -> int:
        return self._place.index


# ``__next__`` as a property whose getter is C code: looking the method up returns a
# generator's own bound step (``_next``), so no Python frame runs per item but the
# generator's (the sync facade's iterator).
NEXT_STEP = property(attrgetter("_next"))


class _Batches(Protocol[_T]):
    """What :class:`BatchIterator` drives: a stream engine."""

    state: Any
    _op: Any

    def _seen_all(self) -> None: ...
    async def _next_data(self) -> bytes | None: ...
    def _taken(self, data: bytes | None) -> list[_T] | None: ...
    def _end_op(self, error: BaseException | None = None) -> None: ...
    def _close(self) -> None: ...


class _Reading:
    """``Place.items`` while the loop's next read is awaited: an item asked for
    then is a second reader's, at the same time (the one stream has one loop)."""

    def __iter__(self) -> _Reading:
        return self

    def __next__(self) -> Any:
        raise RuntimeError(
            "anext(): this stream is already being read (by another task): a stream "
            "has one loop at a time"
        )

    def __length_hint__(self) -> int:
        return 0  # nothing of the batch (there is none) was handed out


_READING: Iterator[Any] = _Reading()


class BatchIterator(PlacedIterator[_T]):
    """What ``async for`` drives: the items of one batch after another.

    ``__anext__`` is one coroutine: it hands out the next item of the batch at
    hand, or awaits the next read itself. A stream waiting for its next chunk then
    holds one coroutine for its loop, not an async generator, its ``asend``, its
    bound step and the weak reference asyncio keeps of each generator: thousands
    of waiting streams are that many objects fewer for every full collection.
    (An item costs what a generator's ``yield`` does.) Unlike an async generator,
    which the event loop finalizes some time after the loop drops it, this
    iterator releases the connection the moment it is dropped (``__del__``).
    """

    __slots__ = ("_stream",)

    def __init__(self, stream: _Batches[_T]) -> None:
        self._stream = stream
        self._place = Place()

    def __aiter__(self) -> BatchIterator[_T]:
        return self

    async def __anext__(self) -> _T:
        place = self._place
        for item in place.items:
            return item
        # The loop saw all of the batch: hold none of it while the next read is awaited
        # (with thousands of streams waiting, what each holds between reads is the memory).
        place.batch, place.items = _SEEN, _READING
        stream = self._stream
        try:
            stream._seen_all()
            while True:
                batch = stream._taken(await stream._next_data())
                if batch is None or batch:  # (a read may complete no item)
                    break
        except BaseException as exc:
            place.items = _SEEN_ITEMS
            if stream._op is not None:  # cancelled, or an error the loop did not raise
                stream._end_op(exc)
            stream._close()
            raise
        if batch is None:
            place.items = _SEEN_ITEMS
            raise StopAsyncIteration
        place.batch = batch
        place.items = items = iter(batch)
        return next(items)  # (a batch is never empty)

    def __del__(self) -> None:
        stream = self._stream
        if stream.state not in FINISHED:
            stream._close()
