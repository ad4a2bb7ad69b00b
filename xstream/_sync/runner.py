"""GENERATED from ``xstream/_resources/runner.py`` by ``scripts/unasync.py``: do not edit.

The blocking twin of ``_resources/runner.py``: the same methods, parameters and docstrings,
without async and await; what needs the event loop crosses to the client's loop
thread in :class:`~xstream._sync.api.SyncAPI` and the streams of ``_sync/streams.py``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Generic, Self, TypeVar

__all__ = ["RunnerBase"]

_E = TypeVar("_E")  # what the rounds hand out
_F = TypeVar("_F")  # the answer


class RunnerBase(Generic[_E, _F]):
    """The lifecycle of a tool runner (see the module's docstring)."""

    def __init__(self, max_rounds: int) -> None:
        if max_rounds < 1:
            raise ValueError("max_rounds must be at least 1")
        self._max_rounds = max_rounds
        self._final: _F | None = None
        self._events = self._run()
        self._closed = False
        self.rounds = 0
        """Requests sent so far."""

    def _run(self) -> Generator[_E, None, None]:
        raise NotImplementedError

    def __iter__(self) -> Generator[_E, None, None]:
        return self._events

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop: the current stream is closed, running tools are cancelled."""
        self._closed = True
        self._events.close()

    def _answer(self) -> _F:
        """Run to the end; the last round's answer."""
        if not self._closed:  # (a closed generator may still say it runs: CPython 3.11)
            for _ in self._events:
                pass
        if self._final is None:
            raise RuntimeError("the runner was closed before the model answered")
        return self._final
