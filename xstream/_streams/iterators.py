"""Where a loop over a stream is, and the iterators a loop holds: shared by the
async engine's iterator and the sync facade's, with no Python frame per item."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from operator import attrgetter, length_hint
from typing import Any, Generic, TypeVar

__all__ = ["NEXT_STEP", "Place", "PlacedIterator", "close_now"]

_T = TypeVar("_T")


class Place(Generic[_T]):
    """Where a loop over a stream is: the batch it reads and the iterator over that
    batch. Shared by an iterator and the generator behind it, so that neither
    refers to the other (a cycle would keep both alive past the loop's end)."""

    __slots__ = ("batch", "items")

    def __init__(self) -> None:
        self.batch: list[_T] = []
        self.items: Iterator[_T] = iter(self.batch)

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
