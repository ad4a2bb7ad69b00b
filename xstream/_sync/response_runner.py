"""GENERATED from ``xstream/_resources/response_runner.py`` by ``scripts/unasync.py``: do not edit.

The blocking twin of ``_resources/response_runner.py``: the same methods, parameters and docstrings,
without async and await; what needs the event loop crosses to the client's loop
thread in :class:`~xstream._sync.api.SyncAPI` and the streams of ``_sync/streams.py``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
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
from .._resources.calls import response_call
from .api import SyncAPI
from .runner import RunnerBase
from .streams import SyncResponseStream
from .tools import ToolTask, outcome, settle, start_tool
from .ws_session import SyncResponsesSession

__all__ = ["ResponsesToolRunner"]


class ResponsesToolRunner(RunnerBase[ResponseStreamEvent | ToolResultEvent, Response]):
    """The events of every turn (and a :class:`ToolResultEvent` per tool run):
    ``for event in runner``; ``runner.get_final_response()`` for the
    answer; ``runner.input`` for the whole conversation."""

    def __init__(
        self,
        api: SyncAPI,
        *,
        max_rounds: int,
        params: Mapping[str, Any],
        session: SyncResponsesSession | None = None,
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

    def get_final_response(self) -> Response:
        """Run to the end; the response of the last turn (the answer)."""
        return self._answer()

    def _run(self) -> Generator[ResponseStreamEvent | ToolResultEvent, None, None]:
        new = list(self.input)  # what this turn sends (over a session: what is new)
        while True:
            if self.rounds >= self._max_rounds:
                raise ToolRoundsExceededError(self._max_rounds, self.input)
            self.rounds += 1
            started: dict[str, ToolTask] = {}  # by call id
            calls: dict[str, tuple[str, str]] = {}  # item id -> (name, call id)
            try:
                with self._open(new) as stream:
                    for event in stream:
                        self._see(event, calls, started)
                        yield event
                    response = stream.get_final_response()
                self.input.extend(response.output)
                new = []
                for item in response.output:
                    if item.type != "function_call" or not item.call_id:
                        continue
                    name, call_id = item.name or "", item.call_id
                    task = started.get(call_id)
                    if task is None:  # no event said it was complete: it is now
                        task = started[call_id] = self._start(name, call_id, item.arguments)
                    result, error = outcome(task)
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
                    settle(task)

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

    def _open(self, new: list[Any]) -> SyncResponseStream:
        """This turn's stream: over the session (the new items; it chains them), else
        over HTTP (the whole conversation)."""
        if self._session is not None:
            stream = self._session.create(**{**self._params, "input": new})
            self._params.pop("previous_response_id", None)  # the session chains from now on
            return stream
        params = {**self._params, "input": self.input}
        stream_: SyncResponseStream = self._api.call(
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
