"""GENERATED from ``xstream/_resources/tool_runner.py`` by ``scripts/unasync.py``: do not edit.

The blocking twin of ``_resources/tool_runner.py``: the same methods, parameters and docstrings,
without async and await; what needs the event loop crosses to the client's loop
thread in :class:`~xstream._sync.api.SyncAPI` and the streams of ``_sync/streams.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any

from .._exceptions import ToolRoundsExceededError
from .._models.chat import ParsedChatCompletion, message_list
from .._protocol.chat_events import ChatCompletionStreamEvent, FunctionToolCallArgumentsDoneEvent
from .._protocol.tools import ToolInvocation, ToolResultEvent, tool_from_function, tool_message
from .._resources.calls import chat_stream_call
from .api import SyncAPI
from .chat_events import ChatCompletionStream
from .runner import RunnerBase
from .tools import ToolTask, outcome, settle, start_tool

__all__ = ["ToolRunner"]


class ToolRunner(
    RunnerBase[ChatCompletionStreamEvent[Any] | ToolResultEvent, ParsedChatCompletion[Any]]
):
    """The events of every round (and a :class:`ToolResultEvent` per tool run):
    ``for event in runner``; ``runner.get_final_completion()`` for the
    answer; ``runner.messages`` for the whole conversation."""

    def __init__(
        self,
        api: SyncAPI,
        *,
        tools: Iterable[Callable[..., Any]],
        max_rounds: int,
        params: Mapping[str, Any],
        response_format: Any = None,
    ) -> None:
        super().__init__(max_rounds)
        self._api = api
        self.messages: list[Any] = message_list(params["messages"])
        self._functions = {fn.__name__: fn for fn in tools}
        self._declared = [tool_from_function(fn) for fn in self._functions.values()]
        self._params = params
        self._format = response_format

    def get_final_completion(self) -> ParsedChatCompletion[Any]:
        """Run to the end; the completion of the last round (the answer)."""
        return self._answer()

    def _run(self) -> Generator[ChatCompletionStreamEvent[Any] | ToolResultEvent, None, None]:
        while True:
            if self.rounds >= self._max_rounds:
                raise ToolRoundsExceededError(self._max_rounds, self.messages)
            self.rounds += 1
            running: list[tuple[FunctionToolCallArgumentsDoneEvent, ToolTask]] = []
            try:
                with self._open() as stream:
                    for event in stream:
                        if isinstance(event, FunctionToolCallArgumentsDoneEvent):
                            running.append((event, self._start(event)))
                        yield event
                    completion = stream.get_final_completion()
                message = completion.choices[0].message if completion.choices else None
                if message is None or not message.tool_calls:
                    self._final = completion
                    return
                self.messages.append(message)
                for event, task in running:
                    result, error = outcome(task)
                    yield ToolResultEvent(event.name, event.id, result, error)
                    self.messages.append(tool_message(event, result, error))
            finally:
                for _, task in running:
                    task.cancel()
                for _, task in running:
                    settle(task)

    def _open(self) -> ChatCompletionStream[Any]:
        """This round's stream: the conversation so far, the tools declared."""
        api = self._api
        call, state = chat_stream_call(
            {**self._params, "messages": self.messages},
            self._format,
            self._declared,
            conversation_id=api.conversation_id,
            method="run_tools",
        )
        return ChatCompletionStream(api.call(call), state())

    def _start(self, event: FunctionToolCallArgumentsDoneEvent) -> ToolTask:
        return start_tool(self._api, self._functions.get(event.name), ToolInvocation.of(event))
