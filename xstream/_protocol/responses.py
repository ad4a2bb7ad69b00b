"""A Responses API answer parsed: ``output_parsed`` from its output text into the
caller's type, or the structured-output error that says why not; each function
call's ``parsed_arguments`` into its tool's type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from .._models.responses import (
    ParsedResponse,
    ParsedResponseFunctionToolCall,
    Response,
    ResponseOutputItem,
)
from .schema import (
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    RefusalError,
    ToolArgumentsTypes,
    parse_output,
)

__all__ = ["parse_response"]

T = TypeVar("T")

_NO_TOOLS = ToolArgumentsTypes(None)


def parse_response(
    response: Response,
    text_format: type[T] | None,
    tools: ToolArgumentsTypes = _NO_TOOLS,
    parsed_calls: Mapping[str, tuple[str, Any]] | None = None,
) -> ParsedResponse[T]:
    """``response`` as a :class:`ParsedResponse`: ``output_parsed`` from its output
    text, every ``function_call`` item a :class:`ParsedResponseFunctionToolCall`
    whose ``parsed_arguments`` are parsed as ``tools`` says (``parsed_calls``: by
    call id, the arguments already parsed while the stream ran, and into what).

    Raises :class:`~xstream.ToolArgumentsError` for arguments that do not fit their
    tool's type, then (with a ``text_format``) :class:`RefusalError`,
    :class:`ContentFilterFinishReasonError`, :class:`LengthFinishReasonError` or
    :class:`OutputValidationError`, which keep the response.
    """
    fields = {f.name: getattr(response, f.name) for f in msgspec.structs.fields(Response)}
    if any(item.type == "function_call" for item in response.output):
        fields["output"] = tuple(
            _parsed_call(item, tools, parsed_calls or {}) if item.type == "function_call" else item
            for item in response.output
        )
    parsed = ParsedResponse[T](**fields)
    parsed.__dict__.update(response.__dict__)  # the server's JSON, as the Response kept it
    if text_format is None:
        return parsed
    for item in response.output:
        for part in item.content or ():
            if part.type == "refusal" and part.refusal is not None:
                raise RefusalError(part.refusal, completion=parsed)
    details = response.incomplete_details
    if response.status == "incomplete" and details is not None:
        if details.reason == "content_filter":
            raise ContentFilterFinishReasonError(
                "the server's content filter stopped the response",
                content=response.output_text,
                completion=parsed,
            )
        raise LengthFinishReasonError(
            f"the response is incomplete ({details.reason}) before the structured output "
            "was complete",
            content=response.output_text,
            completion=parsed,
        )
    parsed.output_parsed = parse_output(text_format, response.output_text, completion=parsed)
    return parsed


def _parsed_call(
    item: ResponseOutputItem,
    tools: ToolArgumentsTypes,
    parsed_calls: Mapping[str, tuple[str, Any]],
) -> ParsedResponseFunctionToolCall:
    """``item`` with its ``parsed_arguments``, keeping the server's JSON (``raw``)."""
    arguments = item.arguments or ""
    call_id = item.call_id or item.id or ""
    known = parsed_calls.get(call_id)
    if known is not None and known[0] == arguments:
        value = known[1]
    else:
        value = tools.parse(item.name, arguments, call_id) if item.name is not None else None
    fields = {name: getattr(item, name) for name in ResponseOutputItem.__struct_fields__}
    call = ParsedResponseFunctionToolCall(**fields, parsed_arguments=value)
    call.__dict__.update(item.__dict__)  # raw: sent back as it came
    return call
