"""What the two tool runners share (``run_tools`` of chat and of the Responses API):
the events of every round from one generator, ``async with`` / ``aclose()``, and
running to the end for the answer. A runner says how a round goes (``_run``) and
sets ``_final`` when the model answered.

This file is the source of its blocking twin, ``xstream/_sync/runner.py``, which
``scripts/unasync.py`` generates from it (a test fails when it is stale).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Generic, Self, TypeVar

__all__ = ["AsyncRunnerBase"]

_E = TypeVar("_E")  # what the rounds hand out
_F = TypeVar("_F")  # the answer


class AsyncRunnerBase(Generic[_E, _F]):
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

    def _run(self) -> AsyncGenerator[_E, None]:
        raise NotImplementedError

    def __aiter__(self) -> AsyncGenerator[_E, None]:
        return self._events

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: the current stream is closed, running tools are cancelled."""
        self._closed = True
        await self._events.aclose()

    async def _answer(self) -> _F:
        """Run to the end; the last round's answer."""
        if not self._closed:  # (a closed generator may still say it runs: CPython 3.11)
            async for _ in self._events:
                pass
        if self._final is None:
            raise RuntimeError("the runner was closed before the model answered")
        return self._final
