"""Tools for ``run_tools``, sans-IO: a function declared as a tool (its strict schema
from its signature and docstring), and what a tool's outcome tells the model."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import msgspec

from .chat_events import FunctionToolCallArgumentsDoneEvent
from .schema import FunctionTool, function_tool

__all__ = ["ToolResultEvent", "tool_arguments", "tool_from_function", "tool_message"]

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


def tool_arguments(event: FunctionToolCallArgumentsDoneEvent) -> dict[str, Any]:
    """The keyword arguments of a call, from its parsed arguments."""
    arguments = event.parsed_arguments
    return msgspec.structs.asdict(arguments) if arguments is not None else {}


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
