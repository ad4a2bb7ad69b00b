"""Where a loop over a stream is, and the iterators a loop holds: shared by the
async engine's iterator and the sync facade's, with no Python frame per item."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Iterator
from operator import attrgetter, length_hint
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import msgspec

from .state import FINISHED

__all__ = ["NEXT_STEP", "Place", "PlacedIterator", "close_now"]

_T = TypeVar("_T")

_SEEN: list[Any] = []  # a batch seen whole (never changed)
_SEEN_ITEMS: Iterator[Any] = iter(_SEEN)


class Place(msgspec.Struct, Generic[_T], gc=False):
    """Where a loop over a stream is: the batch it reads and the iterator over that
    batch. Shared by an iterator and the generator behind it, so that neither
    refers to the other (a cycle would keep both alive past the loop's end); the
    stream keeps it too, to know where its loop stopped.

    Untracked by the garbage collector (it refers only to a batch and that batch's
    iterator, never back): an object less for every full collection to visit, per
    stream."""

    batch: list[_T] = msgspec.field(default_factory=lambda: _SEEN)
    items: Iterator[_T] = msgspec.field(default_factory=lambda: _SEEN_ITEMS)

    @property
    def index(self) -> int:
        """How many items of ``batch`` were handed out."""
        return len(self.batch) - length_hint(self.items)


def close_now(generator: AsyncGenerator[Any, None]) -> None:
    """Close a suspended async generator at once, without the event loop.

    Its ``finally`` blocks and ``except`` clauses must not await (ours have none):
    then ``aclose()`` completes in one step. A generator closed this way is not
    handed to the loop's finalizer hook when it is collected.
    """
    closing = generator.aclose()
    try:
        closing.send(None)
    except (StopIteration, RuntimeError):  # closed; or running (never, from a finalizer)
        return
    closing.close()


class PlacedIterator(Generic[_T]):
    """Base of the iterators a loop holds over a stream: where the loop is
    (``_batch``, ``_index``, from the :class:`Place` it shares with its generator)
    and that generator's own next step (``_next``), which a subclass makes its
    ``__anext__`` or ``__next__`` with :data:`NEXT_STEP`."""

    __slots__ = ("_next", "_place")
    _place: Place[_T]

    @property
    def _batch(self) -> list[_T]:
        return self._place.batch

    @property
    def _index(self) -> int:
        return self._place.index


# ``__anext__`` / ``__next__`` as a property whose getter is C code: looking the method
# up returns the generator's own bound step, so no Python frame runs per item.
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


async def _items(stream: _Batches[_T], place: Place[_T]) -> AsyncGenerator[_T, None]:
    while True:
        try:  # stream.next_batch(), inline: a coroutine less per read (and waiting stream)
            stream._seen_all()
            batch: list[_T] | None = _SEEN
            while not batch:
                batch = stream._taken(await stream._next_data())
                if batch is None:
                    return
        except BaseException as exc:
            if stream._op is not None:  # cancelled, or an error the loop did not raise
                stream._end_op(exc)
            stream._close()
            raise
        place.batch = batch
        place.items = items = iter(batch)
        for item in items:
            yield item
        # The loop saw all of it: hold none of it while the next read is awaited (with
        # thousands of streams waiting, what each holds between reads is the memory).
        place.batch, place.items = _SEEN, _SEEN_ITEMS
        del batch, items


class BatchIterator(PlacedIterator[_T]):
    """What ``async for`` drives: the items of one batch after another.

    The items come from an async generator, and ``__anext__`` is that
    generator's own (the class attribute is a property whose getter is C code),
    so no Python frame runs per item except the generator's. Unlike a bare async
    generator, which the event loop finalizes some time after the loop drops it,
    this iterator releases the connection the moment it is dropped (``__del__``).
    """

    __slots__ = ("_generator", "_stream")

    def __init__(self, stream: _Batches[_T]) -> None:
        self._stream = stream
        self._place = Place()
        self._generator = _items(stream, self._place)
        self._next = self._generator.__anext__

    def __aiter__(self) -> BatchIterator[_T]:
        return self

    if TYPE_CHECKING:

        def __anext__(self) -> Awaitable[_T]: ...

    else:
        __anext__ = NEXT_STEP

    def __del__(self) -> None:
        stream = self._stream
        if stream.state not in FINISHED:
            stream._close()
        close_now(self._generator)
