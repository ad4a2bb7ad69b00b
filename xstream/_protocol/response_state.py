"""The sans-IO state of ``responses.stream()``: the API's events in, the same events
with what they mean so far out (see :mod:`.response_events`), and the final
response parsed. The async stream and its blocking twin drive the same one.

One :class:`~xstream._protocol.partial.PartialJSON` per output-text part (keyed by
``output_index`` and ``content_index``) with ``text_format=T``, and one per
function call of a tool whose arguments are typed (keyed by ``output_index``):
each character is read once, so a stream's ``parsed`` costs time linear in its
length. Nothing here raises while the stream runs: what does not parse is
``None`` on its event (with ``arguments_error`` for a call), and the final
response raises why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar, cast

from .._models.responses import (
    ParsedResponse,
    Response,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputTextDeltaEvent,
    ResponseOutputTextDoneEvent,
    ResponseStreamEvent,
)
from .accumulate import ToolArgumentsError
from .chat_events import _Text
from .partial import PartialJSON
from .response_events import (
    ParsedResponseFunctionCallArgumentsDeltaEvent,
    ParsedResponseFunctionCallArgumentsDoneEvent,
    ParsedResponseOutputTextDeltaEvent,
    ParsedResponseOutputTextDoneEvent,
    ParsedResponseStreamEvent,
    with_snapshot,
)
from .responses import parse_response
from .schema import StructuredOutputError, ToolArgumentsTypes, parse_output

__all__ = ["ResponseStreamState"]

T = TypeVar("T")


class _Part:
    """A text that streams in pieces (an output-text part, a call's arguments): its
    pieces, their length, and its parser when it is typed."""

    __slots__ = ("call_id", "length", "name", "parser", "text")

    def __init__(self, parser: PartialJSON | None, name: str | None, call_id: str | None) -> None:
        self.text = _Text([])
        self.length = 0
        self.parser = parser
        self.name = name
        self.call_id = call_id

    def feed(self, delta: str) -> Any:
        """Add a piece; the value so far (``None`` untyped, or before any value)."""
        if delta:
            self.text.pieces.append(delta)
            self.length += len(delta)
        parser = self.parser
        if parser is None:
            return None
        if delta and parser.error is None:
            with contextlib.suppress(ValueError):  # not JSON: the done event says so
                parser.feed(delta)
        return parser.value


class ResponseStreamState(Generic[T]):
    """Turn a Responses stream's events into the events ``responses.stream()``
    hands out, and parse its final response.

    Sans-IO, and useful on its own with the events of ``create(stream=True)``::

        state = ResponseStreamState(text_format=Trip, tools=[GetWeather])
        async for event in await client.responses.create(..., stream=True):
            event = state.handle_event(event)
            if isinstance(event, xstream.ParsedResponseOutputTextDeltaEvent):
                print(event.parsed)
        trip = state.parse_final(await stream.get_final_response()).output_parsed

    ``text_format``: a type (for ``parsed``), or ``None``; ``tools``: the tools
    sent (types, or dicts in either shape), to parse their calls' arguments.
    """

    def __init__(
        self, *, text_format: type[T] | None = None, tools: Iterable[Any] | None = None
    ) -> None:
        self._type = text_format
        self._tools = ToolArgumentsTypes(tools)
        self._texts: dict[tuple[int, int], _Part] = {}
        self._calls: dict[int, _Part] = {}  # by output_index
        self._parsed_calls: dict[str, tuple[str, Any]] = {}  # call_id -> (arguments, parsed)

    def handle_event(self, event: ResponseStreamEvent) -> ParsedResponseStreamEvent[T]:
        """One event as ``responses.stream()`` hands it out: the event itself, or
        (for the four of :mod:`.response_events`) its parsed twin. Events must come
        in the stream's order, each once."""
        handle = _HANDLERS.get(type(event))
        result = event if handle is None else handle(self, event)
        return cast("ParsedResponseStreamEvent[T]", result)

    def parse_final(self, response: Response) -> ParsedResponse[T]:
        """The final response, ``output_parsed`` a ``T`` and every function call a
        :class:`~xstream.ParsedResponseFunctionToolCall` (see
        :func:`~xstream._protocol.responses.parse_response` for what it raises)."""
        return parse_response(response, self._type, self._tools, self._parsed_calls)

    # ------------------------------------------------------------ text

    def _text_delta(self, event: ResponseOutputTextDeltaEvent) -> Any:
        key = (event.output_index, event.content_index)
        part = self._texts.get(key)
        if part is None:
            parser = PartialJSON(self._type) if self._type is not None else None
            part = self._texts[key] = _Part(parser, None, None)
        parsed = part.feed(event.delta)
        out = ParsedResponseOutputTextDeltaEvent(
            sequence_number=event.sequence_number,
            item_id=event.item_id,
            output_index=event.output_index,
            content_index=event.content_index,
            delta=event.delta,
            logprobs=event.logprobs,
            parsed=parsed,
        )
        return with_snapshot(out, part.text, part.length)

    def _text_done(self, event: ResponseOutputTextDoneEvent) -> Any:
        part = self._texts.get((event.output_index, event.content_index))
        if part is not None:
            part.parser = None  # done: the whole text is parsed once, below
        parsed = None
        if self._type is not None:
            with contextlib.suppress(StructuredOutputError):
                parsed = parse_output(self._type, event.text)
        return ParsedResponseOutputTextDoneEvent[T](
            sequence_number=event.sequence_number,
            item_id=event.item_id,
            output_index=event.output_index,
            content_index=event.content_index,
            text=event.text,
            logprobs=event.logprobs,
            parsed=parsed,
        )

    # ------------------------------------------------------------ function calls

    def _item_added(self, event: ResponseOutputItemAddedEvent) -> Any:
        item = event.item
        if item.type == "function_call":
            name = item.name
            parser = None
            if name is not None and self._tools.knows(name):
                parser = PartialJSON(self._tools.partial_type(name))
            self._calls[event.output_index] = _Part(parser, name, item.call_id)
        return event

    def _arguments_delta(self, event: ResponseFunctionCallArgumentsDeltaEvent) -> Any:
        part = self._calls.get(event.output_index)
        if part is None:  # no output_item.added first: the call's name is not known
            part = self._calls[event.output_index] = _Part(None, None, None)
        out = ParsedResponseFunctionCallArgumentsDeltaEvent(
            sequence_number=event.sequence_number,
            item_id=event.item_id,
            output_index=event.output_index,
            delta=event.delta,
            parsed_arguments=part.feed(event.delta),
        )
        return with_snapshot(out, part.text, part.length)

    def _arguments_done(self, event: ResponseFunctionCallArgumentsDoneEvent) -> Any:
        part = self._calls.get(event.output_index)
        name = event.name or (part.name if part is not None else None)
        call_id = (part.call_id if part is not None else None) or event.item_id or ""
        if part is not None:
            part.parser = None
        parsed = error = None
        if name is not None:
            try:
                parsed = self._tools.parse(name, event.arguments, call_id)
            except ToolArgumentsError as exc:
                error = exc
            else:
                self._parsed_calls[call_id] = (event.arguments, parsed)
        out = ParsedResponseFunctionCallArgumentsDoneEvent(
            sequence_number=event.sequence_number,
            item_id=event.item_id,
            output_index=event.output_index,
            name=name,
            arguments=event.arguments,
            parsed_arguments=parsed,
        )
        if error is not None:
            out.__dict__["_error"] = error
        return out


_HANDLERS: dict[type, Callable[[ResponseStreamState[Any], Any], Any]] = {
    ResponseOutputTextDeltaEvent: ResponseStreamState._text_delta,
    ResponseOutputTextDoneEvent: ResponseStreamState._text_done,
    ResponseOutputItemAddedEvent: ResponseStreamState._item_added,
    ResponseFunctionCallArgumentsDeltaEvent: ResponseStreamState._arguments_delta,
    ResponseFunctionCallArgumentsDoneEvent: ResponseStreamState._arguments_done,
}
