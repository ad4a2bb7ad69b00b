"""``Client.chat.completions.run_tools``, blocking: the async runner driven from
this thread (its tools run where the async runner runs them: plain functions in
worker threads, ``async`` ones on the client's loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from .._models.chat import ParsedChatCompletion, message_list
from .._protocol.chat_events import ChatCompletionStreamEvent
from .._resources.tool_runner import AsyncToolRunner, ToolResultEvent
from .api import SyncAPI

__all__ = ["ToolRunner"]

_T = TypeVar("_T")


class ToolRunner:
    """:class:`AsyncToolRunner`, blocking: ``for event in runner``;
    ``runner.get_final_completion()``; ``runner.messages``."""

    def __init__(
        self,
        api: SyncAPI,
        *,
        tools: Iterable[Callable[..., Any]],
        max_rounds: int,
        params: Mapping[str, Any],
        response_format: Any = None,
    ) -> None:
        self._loop = api.loop
        # lists, so that no iterator is consumed on the loop thread
        params = {**params, "messages": message_list(params["messages"])}
        self._runner = AsyncToolRunner(
            api.async_api,
            tools=list(tools),
            max_rounds=max_rounds,
            params=params,
            response_format=response_format,
        )
        self._events = aiter(self._runner)

    @property
    def messages(self) -> list[Any]:
        return self._runner.messages

    @property
    def rounds(self) -> int:
        return self._runner.rounds

    def __iter__(self) -> Iterator[ChatCompletionStreamEvent[Any] | ToolResultEvent]:
        events = self._events
        try:
            while True:
                try:
                    yield self._loop.run(_next, events)
                except StopAsyncIteration:
                    return
        finally:
            self.close()

    def __enter__(self) -> ToolRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop: the current stream is closed, running tools are cancelled."""
        self._loop.run(self._runner.aclose)

    def get_final_completion(self) -> ParsedChatCompletion[Any]:
        """Run to the end; the completion of the last round."""
        return self._loop.run(self._runner.get_final_completion)


async def _next(events: AsyncIterator[_T]) -> _T:
    return await anext(events)
