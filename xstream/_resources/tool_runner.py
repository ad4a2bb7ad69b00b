"""run_tools: stream, call the user's functions as their calls complete, go on.

Each round streams one request (as ``chat.completions.stream`` does). A tool
starts the moment its ``tool_calls.function.arguments.done`` event arrives,
while the model may still be writing the next call: a plain function runs in a
worker thread, an ``async`` one as a task. When the stream ends, the results go
back as ``tool`` messages, in the order of the calls, and the next round starts;
a round without tool calls is the answer.

This file is the source of its blocking twin, ``xstream/_sync/tool_runner.py``,
which ``scripts/unasync.py`` generates from it (a test fails when it is stale).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from typing import Any

from .._exceptions import ToolRoundsExceededError
from .._models.chat import ParsedChatCompletion, message_list
from .._protocol.chat_events import ChatCompletionStreamEvent, FunctionToolCallArgumentsDoneEvent
from .._protocol.tools import ToolInvocation, ToolResultEvent, tool_from_function, tool_message
from .._streams.chat_events import AsyncChatCompletionStream
from .api import AsyncAPI
from .calls import chat_stream_call
from .runner import AsyncRunnerBase
from .tools import ToolTask, outcome, settle, start_tool

__all__ = ["AsyncToolRunner"]


class AsyncToolRunner(
    AsyncRunnerBase[ChatCompletionStreamEvent[Any] | ToolResultEvent, ParsedChatCompletion[Any]]
):
    """The events of every round (and a :class:`ToolResultEvent` per tool run):
    ``async for event in runner``; ``await runner.get_final_completion()`` for the
    answer; ``runner.messages`` for the whole conversation."""

    def __init__(
        self,
        api: AsyncAPI,
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

    async def get_final_completion(self) -> ParsedChatCompletion[Any]:
        """Run to the end; the completion of the last round (the answer)."""
        return await self._answer()

    async def _run(self) -> AsyncGenerator[ChatCompletionStreamEvent[Any] | ToolResultEvent, None]:
        while True:
            if self.rounds >= self._max_rounds:
                raise ToolRoundsExceededError(self._max_rounds, self.messages)
            self.rounds += 1
            running: list[tuple[FunctionToolCallArgumentsDoneEvent, ToolTask]] = []
            try:
                async with await self._open() as stream:
                    async for event in stream:
                        if isinstance(event, FunctionToolCallArgumentsDoneEvent):
                            running.append((event, self._start(event)))
                        yield event
                    completion = await stream.get_final_completion()
                message = completion.choices[0].message if completion.choices else None
                if message is None or not message.tool_calls:
                    self._final = completion
                    return
                self.messages.append(message)
                for event, task in running:
                    result, error = await outcome(task)
                    yield ToolResultEvent(event.name, event.id, result, error)
                    self.messages.append(tool_message(event, result, error))
            finally:
                for _, task in running:
                    task.cancel()
                for _, task in running:
                    await settle(task)

    async def _open(self) -> AsyncChatCompletionStream[Any]:
        """This round's stream: the conversation so far, the tools declared."""
        api = self._api
        call, state = chat_stream_call(
            {**self._params, "messages": self.messages},
            self._format,
            self._declared,
            conversation_id=api.conversation_id,
            method="run_tools",
        )
        return AsyncChatCompletionStream(await api.call(call), state())

    def _start(self, event: FunctionToolCallArgumentsDoneEvent) -> ToolTask:
        return start_tool(self._api, self._functions.get(event.name), ToolInvocation.of(event))
