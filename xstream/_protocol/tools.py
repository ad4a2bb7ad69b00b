"""Tools for ``run_tools``, sans-IO: a function declared as a tool (its strict schema
from its signature and docstring), a call to run (:class:`ToolInvocation`), and what
a tool's outcome tells the model (a chat ``tool`` message, a Responses
``function_call_output`` item)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import msgspec

from .._models.chat import Function, ToolCall
from .accumulate import parse_tool_arguments
from .chat_events import FunctionToolCallArgumentsDoneEvent
from .schema import FunctionTool, function_tool, response_tools_param

__all__ = [
    "ResponseTools",
    "ToolInvocation",
    "ToolResultEvent",
    "function_call_output",
    "tool_from_function",
    "tool_message",
]

_UNPARSED: Final[Any] = object()

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


class ToolInvocation:
    """One call to run: the tool's ``name``, the call's ``id``, its ``arguments`` (the
    JSON text). :meth:`kwargs` parses them inside the tool's task, so arguments
    that do not fit go back to the model as the tool's error."""

    __slots__ = ("_parsed", "arguments", "arguments_type", "id", "name")

    def __init__(
        self,
        name: str,
        id: str,
        arguments: str,
        arguments_type: Any = None,
        parsed: Any = _UNPARSED,
    ) -> None:
        self.name = name
        self.id = id
        self.arguments = arguments
        self.arguments_type = arguments_type
        self._parsed = parsed

    @classmethod
    def of(cls, event: FunctionToolCallArgumentsDoneEvent) -> ToolInvocation:
        """A chat call whose arguments the stream parsed already."""
        return cls(event.name, event.id, event.arguments, parsed=event.parsed_arguments)

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments; raises :class:`~xstream.ToolArgumentsError` when the
        arguments are not JSON, or do not fit the tool's parameters."""
        parsed = self._parsed
        if parsed is _UNPARSED:
            call = ToolCall(id=self.id, function=Function(name=self.name, arguments=self.arguments))
            parsed = parse_tool_arguments(call, self.arguments_type or dict[str, Any])
        if parsed is None:
            return {}
        if isinstance(parsed, dict):
            return parsed
        return msgspec.structs.asdict(parsed)


class ResponseTools:
    """The ``tools`` of a Responses runner: functions declared as flat Responses
    function tools (``{"type": "function", "name": ..., "parameters": ...}``), the
    other entries (server-side tools: ``web_search``, ``x_search``, ...) sent as given."""

    __slots__ = ("declared", "functions", "types")

    def __init__(self, tools: Iterable[Callable[..., Any] | Mapping[str, Any]]) -> None:
        self.functions: dict[str, Callable[..., Any]] = {}
        self.types: dict[str, Any] = {}
        entries: list[Any] = []
        for tool in tools:
            if isinstance(tool, Mapping):
                entries.append(tool)
                continue
            spec = tool_from_function(tool)
            self.functions[tool.__name__] = tool
            self.types[tool.__name__] = spec.arguments_type
            entries.append(spec)
        self.declared = response_tools_param(entries)  # flat, as the Responses API takes them

    def invocation(self, name: str, id: str, arguments: str) -> ToolInvocation:
        """The call of ``name`` (by call id) with these arguments."""
        return ToolInvocation(name, id, arguments, self.types.get(name))


def function_call_output(call_id: str, result: Any, error: BaseException | None) -> dict[str, Any]:
    """The ``function_call_output`` item that tells the model a call's outcome."""
    return {"type": "function_call_output", "call_id": call_id, "output": _text(result, error)}


def tool_message(
    event: FunctionToolCallArgumentsDoneEvent, result: Any, error: BaseException | None
) -> dict[str, Any]:
    """The ``tool`` message that tells the model a call's outcome."""
    return {"role": "tool", "tool_call_id": event.id, "content": _text(result, error)}


def _text(result: Any, error: BaseException | None) -> str:
    if error is not None:
        return f"error: {type(error).__name__}: {error}"
    if isinstance(result, str):
        return result
    return _ENCODER.encode(result).decode()
