"""Structured output from a type: the strict JSON Schema sent, the answer parsed back.

A msgspec ``Struct``, a dataclass, a ``TypedDict`` or anything else msgspec can
decode into gives its schema through msgspec; a pydantic model gives its own
(``model_json_schema``). pydantic is never imported here: a class is treated as
a pydantic model only when it has pydantic's methods, which it can only have if
the user imported pydantic.

The schema is made *strict* the way OpenAI-compatible servers require it for
``"strict": true``: the root is the object itself (not a ``$ref``), every object
lists all its properties as required and allows no others, and ``default``
(which strict mode refuses) is dropped. A field with a default must then be sent
by the model; give it an ``Optional`` type when it may be missing.

>>> class Weather(msgspec.Struct):
...     city: str
...     celsius: float
>>> response_format(Weather)["json_schema"]["schema"]["required"]
['city', 'celsius']
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import msgspec

from .._exceptions import XStreamError
from .._models.chat import Function, ToolCall
from .accumulate import _arguments_error, parse_tool_arguments

__all__ = [
    "ContentFilterFinishReasonError",
    "FunctionTool",
    "LengthFinishReasonError",
    "OutputValidationError",
    "RefusalError",
    "StructuredOutputError",
    "ToolArgumentsTypes",
    "function_tool",
    "is_type",
    "json_schema",
    "parse_output",
    "response_format",
    "response_tools_param",
    "schema_name",
    "tools_param",
]

T = TypeVar("T")
_SHOWN = 200  # characters of the content shown in an error message


# -- errors ---------------------------------------------------------------------------------


class StructuredOutputError(XStreamError, ValueError):
    """An answer asked for as a type did not come back as one.

    ``content`` is the raw text the model produced (``""`` when none);
    ``completion`` the whole result, when there is one (a ``ParsedChatCompletion``
    or a ``Response``), so nothing the server sent is lost.
    """

    def __init__(self, message: str, *, content: str = "", completion: Any = None) -> None:
        super().__init__(message)
        self.content = content
        self.completion = completion


class RefusalError(StructuredOutputError):
    """The model refused to answer (``message.refusal``); ``refusal`` is its text."""

    def __init__(self, refusal: str, *, completion: Any = None) -> None:
        shown = refusal if len(refusal) <= _SHOWN else refusal[:_SHOWN] + "..."
        super().__init__(f"the model refused: {shown!r}", completion=completion)
        self.refusal = refusal


class OutputValidationError(StructuredOutputError):
    """The content is not JSON, or not JSON that fits the type asked for."""


class LengthFinishReasonError(StructuredOutputError):
    """The answer stopped at the token limit (``finish_reason == "length"``) before
    the structured output was complete. Raise ``max_tokens`` or ask for less."""


class ContentFilterFinishReasonError(StructuredOutputError):
    """The server's content filter stopped the answer (``finish_reason == "content_filter"``)."""


# -- types ----------------------------------------------------------------------------------


def _is_pydantic(tp: object) -> bool:
    return isinstance(tp, type) and all(
        hasattr(tp, name) for name in ("model_json_schema", "model_validate_json", "model_fields")
    )


def is_type(value: object) -> bool:
    """Whether ``value`` is a type an answer can be parsed into (not a JSON-schema dict)."""
    if isinstance(value, Mapping) or value is None:
        return False
    if _is_pydantic(value):
        return True
    try:
        msgspec.inspect.type_info(value)
    except (TypeError, ValueError):
        return False
    return True


def schema_name(tp: Any) -> str:
    """The type's name as servers accept it: ``[a-zA-Z0-9_-]``, at most 64 characters."""
    name = getattr(tp, "__name__", None) or "output"
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64]


def json_schema(tp: Any) -> dict[str, Any]:
    """The strict JSON Schema of ``tp`` (see the module docstring)."""
    raw = tp.model_json_schema() if _is_pydantic(tp) else msgspec.json.schema(tp)
    strict: dict[str, Any] = _strict(_inline_root(raw))
    return strict


def _inline_root(schema: dict[str, Any]) -> dict[str, Any]:
    """``{"$ref": "#/$defs/X", "$defs": {...}}`` as X itself, with the other defs."""
    ref = schema.get("$ref")
    defs = dict(schema.get("$defs") or {})
    if not isinstance(ref, str) or not ref.startswith("#/$defs/") or len(schema) > 2:
        return schema
    name = ref.removeprefix("#/$defs/")
    root = dict(defs.get(name) or {})
    if not root:
        return schema
    if not _refers_to(defs, ref, skip=name) and not _refers_to(root, ref):
        defs.pop(name)
    if defs:
        root["$defs"] = defs
    return root


def _refers_to(node: Any, ref: str, skip: str | None = None) -> bool:
    if isinstance(node, dict):
        if node.get("$ref") == ref:
            return True
        return any(_refers_to(v, ref) for k, v in node.items() if k != skip)
    if isinstance(node, list):
        return any(_refers_to(v, ref) for v in node)
    return False


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if k != "default"}
    if out.get("type") == "object" and "properties" in out:
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


def response_format(tp: Any) -> dict[str, Any]:
    """The chat ``response_format`` parameter for ``tp``: a strict ``json_schema``."""
    return {
        "type": "json_schema",
        "json_schema": {"name": schema_name(tp), "schema": json_schema(tp), "strict": True},
    }


@functools.lru_cache(maxsize=256)
def _parser(tp: Any) -> Callable[[str], Any]:
    if _is_pydantic(tp):
        return tp.model_validate_json  # type: ignore[no-any-return]
    return msgspec.json.Decoder(tp).decode


def parse_output(tp: type[T], content: str, *, completion: Any = None) -> T:
    """``content`` decoded into ``tp``; :class:`OutputValidationError` (keeping the
    text) when it is not JSON or does not fit."""
    try:
        parsed: T = _parser(tp)(content)  # type: ignore[arg-type]
        return parsed
    except (ValueError, TypeError) as exc:  # msgspec errors; pydantic's ValidationError
        shown = content if len(content) <= _SHOWN else content[:_SHOWN] + "..."
        what = "is not JSON" if isinstance(exc, msgspec.DecodeError) else "does not fit"
        raise OutputValidationError(
            f"the answer {what} {schema_name(tp)}: {exc}; content: {shown!r}",
            content=content,
            completion=completion,
        ) from exc


# -- tools ----------------------------------------------------------------------------------


class FunctionTool(dict[str, Any]):
    """A ``tools`` entry made from a type (:func:`function_tool`); a plain ``dict``
    on the wire, and it remembers the type, so the call's arguments are parsed
    into it (``parsed_arguments``)."""

    __slots__ = ("arguments_type",)
    arguments_type: Any


def function_tool(
    tp: Any, *, name: str | None = None, description: str | None = None
) -> FunctionTool:
    """A strict function tool whose parameters are the fields of ``tp``.

    >>> class GetWeather(msgspec.Struct):
    ...     '''The weather in a city.'''
    ...     city: str
    >>> function_tool(GetWeather)["function"]["name"]
    'GetWeather'
    """
    function: dict[str, Any] = {"name": name or schema_name(tp)}
    doc = description if description is not None else _summary(tp)
    if doc:
        function["description"] = doc
    function["parameters"] = json_schema(tp)
    function["strict"] = True
    tool = FunctionTool(type="function", function=function)
    tool.arguments_type = tp
    return tool


def _summary(tp: Any) -> str:
    doc = getattr(tp, "__doc__", None) or ""
    if _is_pydantic(tp) and doc.startswith("A base class for creating Pydantic models"):
        return ""
    if dataclasses.is_dataclass(tp) and doc.startswith(f"{getattr(tp, '__name__', '')}("):
        return ""  # the signature dataclasses put there, not a description
    return " ".join(doc.strip().split("\n\n")[0].split())


def tools_param(tools: Iterable[Any]) -> list[Any]:
    """``tools`` as sent: types become :func:`function_tool`\\ s; dicts pass as given."""
    return [t if isinstance(t, Mapping) else function_tool(t) for t in tools]


def response_tools_param(tools: Iterable[Any]) -> list[Any]:
    """``tools`` as the Responses API takes them: flat function tools
    (``{"type": "function", "name": ..., "parameters": ..., "strict": true}``, no
    ``function`` object). Types become flat :class:`FunctionTool`\\ s, and so do
    the chat-shaped ones :func:`function_tool` made; other dicts pass as given.

    >>> class GetWeather(msgspec.Struct):
    ...     city: str
    >>> sorted(response_tools_param([GetWeather])[0])
    ['name', 'parameters', 'strict', 'type']
    """
    return [
        _flat(t) if isinstance(t, FunctionTool) or not isinstance(t, Mapping) else t for t in tools
    ]


def _flat(tool: Any) -> FunctionTool:
    chat = tool if isinstance(tool, FunctionTool) else function_tool(tool)
    function = chat.get("function")
    if not isinstance(function, Mapping):
        return chat  # flat already
    flat = FunctionTool(type="function", **function)
    flat.arguments_type = chat.arguments_type
    return flat


class ToolArgumentsTypes:
    """What the arguments of each declared tool parse into, as the OpenAI SDK
    decides it: the type of a tool declared from a type; JSON for a dict tool
    marked ``"strict": true``; nothing (``None``) for other tools. Tools in the
    chat shape (``{"type": "function", "function": {...}}``) and in the Responses
    API's flat one (``{"type": "function", "name": ..., ...}``) are both read."""

    __slots__ = ("_types",)

    def __init__(self, tools: Iterable[Any] | None) -> None:
        self._types: dict[str, Any] = {}
        for tool in tools or ():
            if not isinstance(tool, Mapping):
                tool = function_tool(tool)
            function = tool.get("function", tool)  # flat: the tool is the function
            if tool.get("type") != "function" or not isinstance(function, Mapping):
                continue
            name = function.get("name")
            if not isinstance(name, str):
                continue
            if isinstance(tool, FunctionTool):
                self._types[name] = tool.arguments_type
            elif function.get("strict"):
                self._types[name] = None  # JSON, untyped

    def knows(self, name: str) -> bool:
        """Whether calls of ``name`` get ``parsed_arguments``."""
        return name in self._types

    def partial_type(self, name: str) -> Any:
        """The type that types the arguments while they stream (``None``: untyped)."""
        return self._types.get(name)

    def parse(self, name: str, arguments: str, call_id: str) -> Any:
        """The complete arguments parsed (``None`` for a tool not known as typed or strict).
        Raises :class:`~xstream.ToolArgumentsError`."""
        if name not in self._types:
            return None
        call = ToolCall(id=call_id, function=Function(name=name, arguments=arguments))
        tp = self._types[name]
        if tp is None:
            return parse_tool_arguments(call)
        if _is_pydantic(tp):
            try:
                return tp.model_validate_json(arguments or "{}")
            except ValueError as exc:
                raise _arguments_error(call, f"do not match {schema_name(tp)}: {exc}") from exc
        return parse_tool_arguments(call, tp)


# The errors show (and pickle) by their public names, like those of _errors.
for _error in (
    StructuredOutputError,
    RefusalError,
    OutputValidationError,
    LengthFinishReasonError,
    ContentFilterFinishReasonError,
):
    _error.__module__ = "xstream"
del _error
