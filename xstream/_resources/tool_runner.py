"""run_tools: stream, call the user's functions as their calls complete, go on.

Each round streams one request with :meth:`AsyncCompletions.stream`. A tool
starts the moment its ``tool_calls.function.arguments.done`` event arrives,
while the model may still be writing the next call: a plain function runs in a
worker thread (``asyncio.to_thread``), an ``async`` one as a task. When the
stream ends, the results go back as ``tool`` messages, in the order of the
calls, and the next round starts; a round without tool calls is the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from typing import Any, Self

import msgspec

from .._exceptions import ToolRoundsExceededError
from .._models.chat import ParsedChatCompletion, message_list
from .._protocol.chat_events import ChatCompletionStreamEvent, FunctionToolCallArgumentsDoneEvent
from .._protocol.schema import FunctionTool, function_tool
from .._streams.chat_events import AsyncChatCompletionStream
from .api import AsyncAPI
from .calls import chat_stream_call

__all__ = ["AsyncToolRunner", "ToolResultEvent", "tool_from_function"]

_ENCODER = msgspec.json.Encoder()


class ToolResultEvent:
    """A tool finished: ``name``, ``id`` (the call's), ``result`` (what the
    function returned) or ``error`` (what it raised; its text went to the model)."""

    __slots__ = ("error", "id", "name", "result")
    type = "tool.result"

    def __init__(self, name: str, id: str, result: Any, error: BaseException | None) -> None:
        self.name = name
        self.id = id
        self.result = result
        self.error = error

    def __repr__(self) -> str:
        outcome = f"error={self.error!r}" if self.error is not None else f"result={self.result!r}"
        return f"ToolResultEvent(name={self.name!r}, id={self.id!r}, {outcome})"


def tool_from_function(fn: Callable[..., Any]) -> FunctionTool:
    """A strict function tool declared from ``fn``'s signature and docstring.

    Every parameter needs an annotation msgspec understands.

    >>> def get_weather(city: str, unit: str = "C") -> str:
    ...     '''The weather in a city.'''
    >>> tool_from_function(get_weather)["function"]["parameters"]["required"]
    ['city', 'unit']
    """
    hints = inspect.get_annotations(fn, eval_str=True)
    fields: list[Any] = []
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__!r}: *args and **kwargs cannot be declared")
        if name not in hints:
            raise TypeError(f"tool {fn.__name__!r}: parameter {name!r} has no type annotation")
        if param.default is param.empty:
            fields.append((name, hints[name]))
        else:
            fields.append((name, hints[name], param.default))
    arguments = msgspec.defstruct(fn.__name__, fields, kw_only=True)
    description = inspect.getdoc(fn) or ""
    return function_tool(arguments, name=fn.__name__, description=description.split("\n\n")[0])


class AsyncToolRunner:
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
        if max_rounds < 1:
            raise ValueError("max_rounds must be at least 1")
        self._api = api
        self.messages: list[Any] = message_list(params["messages"])
        self._functions = {fn.__name__: fn for fn in tools}
        self._declared = [tool_from_function(fn) for fn in self._functions.values()]
        self._max_rounds = max_rounds
        self._params = params
        self._format = response_format
        self._final: ParsedChatCompletion[Any] | None = None
        self._events = self._run()
        self.rounds = 0
        """Requests sent so far."""

    def __aiter__(self) -> AsyncGenerator[ChatCompletionStreamEvent[Any] | ToolResultEvent, None]:
        return self._events

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: the current stream is closed, running tools are cancelled."""
        await self._events.aclose()

    async def get_final_completion(self) -> ParsedChatCompletion[Any]:
        """Run to the end; the completion of the last round (the answer)."""
        async for _ in self._events:
            pass
        if self._final is None:
            raise RuntimeError("the runner was closed before the model answered")
        return self._final

    async def _run(self) -> AsyncGenerator[ChatCompletionStreamEvent[Any] | ToolResultEvent, None]:
        while True:
            if self.rounds >= self._max_rounds:
                raise ToolRoundsExceededError(self._max_rounds, self.messages)
            self.rounds += 1
            running: list[tuple[FunctionToolCallArgumentsDoneEvent, asyncio.Task[Any]]] = []
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
                    result, error = await _outcome(task)
                    yield ToolResultEvent(event.name, event.id, result, error)
                    self.messages.append(
                        {"role": "tool", "tool_call_id": event.id, "content": _text(result, error)}
                    )
            finally:
                for _, task in running:
                    task.cancel()
                for _, task in running:
                    with contextlib.suppress(BaseException):
                        await task

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

    def _start(self, event: FunctionToolCallArgumentsDoneEvent) -> asyncio.Task[Any]:
        fn = self._functions.get(event.name)
        arguments = event.parsed_arguments

        async def call() -> Any:
            if fn is None:
                raise LookupError(f"no tool named {event.name!r}")
            kwargs = msgspec.structs.asdict(arguments) if arguments is not None else {}
            if inspect.iscoroutinefunction(fn):
                return await fn(**kwargs)
            return await asyncio.to_thread(fn, **kwargs)

        return asyncio.get_running_loop().create_task(call(), name=f"xstream-tool-{event.name}")


async def _outcome(task: asyncio.Task[Any]) -> tuple[Any, BaseException | None]:
    try:
        return await task, None
    except Exception as exc:  # the model is told; the event carries it
        return None, exc


def _text(result: Any, error: BaseException | None) -> str:
    if error is not None:
        return f"error: {type(error).__name__}: {error}"
    if isinstance(result, str):
        return result
    return _ENCODER.encode(result).decode()
