"""A Responses API answer parsed into the caller's type: ``output_parsed`` from its
output text, or the structured-output error that says why not."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from .._models.responses import ParsedResponse, Response
from .schema import (
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    RefusalError,
    parse_output,
)

__all__ = ["parse_response"]

T = TypeVar("T")


def parse_response(response: Response, text_format: type[T] | None) -> ParsedResponse[T]:
    """``response`` as a :class:`ParsedResponse`: ``output_parsed`` from its output text."""
    fields = {f.name: getattr(response, f.name) for f in msgspec.structs.fields(Response)}
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
