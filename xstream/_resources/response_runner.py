"""responses.run_tools: stream a Responses turn, run the function calls as they
complete, send their outputs back, go on until the model answers.

A tool starts the moment its call is complete (its
``response.function_call_arguments.done``, else its ``response.output_item.done``)
while the model may still stream: a plain function in a worker thread, an
``async`` one as a task. When the turn ends, each call's outcome goes back as a
``function_call_output`` item, in the order of the calls, and the next turn starts;
a turn without function calls is the answer.

Over HTTP every turn sends the whole conversation: the input, then every output
item exactly as it arrived (encrypted reasoning, server-side tool calls and
fields no SDK knows included), then the outputs. Over a WebSocket session
(``session=``) a turn sends only the new outputs: the session chains it to the
turn before (``previous_response_id``) and, after a reconnect, sends a
``store=False`` conversation again from the items it kept.

This file is the source of its blocking twin, ``xstream/_sync/response_runner.py``,
which ``scripts/unasync.py`` generates from it (a test fails when it is stale).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator, Mapping
from typing import Any

from .._exceptions import ToolRoundsExceededError
from .._models.responses import (
    Response,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseStreamEvent,
)
from .._protocol.tools import ResponseTools, ToolResultEvent, function_call_output
from .._streams.responses import ResponseStream
from .._streams.ws_session import ResponsesSession
from .api import AsyncAPI
from .calls import response_call
from .runner import AsyncRunnerBase
from .tools import ToolTask, outcome, settle, start_tool

__all__ = ["AsyncResponsesToolRunner"]


class AsyncResponsesToolRunner(AsyncRunnerBase[ResponseStreamEvent | ToolResultEvent, Response]):
    """The events of every turn (and a :class:`ToolResultEvent` per tool run):
    ``async for event in runner``; ``await runner.get_final_response()`` for the
    answer; ``runner.input`` for the whole conversation."""

    def __init__(
        self,
        api: AsyncAPI,
        *,
        max_rounds: int,
        params: Mapping[str, Any],
        session: ResponsesSession | None = None,
    ) -> None:
        super().__init__(max_rounds)
        self._api = api
        self._session = session
        self._tools = ResponseTools(params.get("tools") or ())
        self.input: list[Any] = _items(params["input"])
        """The conversation: the input, each turn's output items as they arrived,
        and the ``function_call_output`` items sent back."""
        self._params = {k: v for k, v in params.items() if k != "input"}
        self._params["tools"] = self._tools.declared

    async def get_final_response(self) -> Response:
        """Run to the end; the response of the last turn (the answer)."""
        return await self._answer()

    async def _run(self) -> AsyncGenerator[ResponseStreamEvent | ToolResultEvent, None]:
        new = list(self.input)  # what this turn sends (over a session: what is new)
        while True:
            if self.rounds >= self._max_rounds:
                raise ToolRoundsExceededError(self._max_rounds, self.input)
            self.rounds += 1
            started: dict[str, ToolTask] = {}  # by call id
            calls: dict[str, tuple[str, str]] = {}  # item id -> (name, call id)
            try:
                async with await self._open(new) as stream:
                    async for event in stream:
                        self._see(event, calls, started)
                        yield event
                    response = await stream.get_final_response()
                self.input.extend(response.output)
                new = []
                for item in response.output:
                    if item.type != "function_call" or not item.call_id:
                        continue
                    name, call_id = item.name or "", item.call_id
                    task = started.get(call_id)
                    if task is None:  # no event said it was complete: it is now
                        task = started[call_id] = self._start(name, call_id, item.arguments)
                    result, error = await outcome(task)
                    yield ToolResultEvent(name, call_id, result, error)
                    new.append(function_call_output(call_id, result, error))
                if not new:
                    self._final = response
                    return
                self.input.extend(new)
            finally:
                for task in started.values():
                    task.cancel()
                for task in started.values():
                    await settle(task)

    def _see(
        self,
        event: ResponseStreamEvent,
        calls: dict[str, tuple[str, str]],
        started: dict[str, ToolTask],
    ) -> None:
        """Start a function call the moment ``event`` says it is complete."""
        if isinstance(event, ResponseOutputItemAddedEvent):
            item = event.item
            if item.type == "function_call" and item.id and item.call_id:
                calls[item.id] = (item.name or "", item.call_id)
        elif isinstance(event, ResponseFunctionCallArgumentsDoneEvent):
            known = calls.get(event.item_id or "")
            if known is not None and known[1] not in started:
                name = event.name or known[0]
                started[known[1]] = self._start(name, known[1], event.arguments)
        elif isinstance(event, ResponseOutputItemDoneEvent):
            item = event.item
            if item.type == "function_call" and item.call_id and item.call_id not in started:
                started[item.call_id] = self._start(item.name or "", item.call_id, item.arguments)

    async def _open(self, new: list[Any]) -> ResponseStream:
        """This turn's stream: over the session (the new items; it chains them), else
        over HTTP (the whole conversation)."""
        if self._session is not None:
            stream = await self._session.create(**{**self._params, "input": new})
            self._params.pop("previous_response_id", None)  # the session chains from now on
            return stream
        params = {**self._params, "input": self.input}
        stream_: ResponseStream = await self._api.call(
            response_call(params, stream=True, method="run_tools")
        )
        return stream_

    def _start(self, name: str, call_id: str, arguments: str | None) -> ToolTask:
        call = self._tools.invocation(name, call_id, arguments or "")
        return start_tool(self._api, self._tools.functions.get(name), call)


def _items(given: Any) -> list[Any]:
    """``input`` as a list of items (a string is the user's message)."""
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    if isinstance(given, Iterator | list | tuple):
        return list(given)
    return [given]
