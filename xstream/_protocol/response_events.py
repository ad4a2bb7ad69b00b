"""The events ``responses.stream()`` hands out where they carry more than the wire.

Four of the API's events come with what they mean so far, as the OpenAI SDK's
``responses.stream()`` gives them (and what it lacks, added):

* ``response.output_text.delta``: ``snapshot`` (the part's text so far) and
  ``parsed``, the object so far with ``text_format=T`` (from
  :class:`~xstream._protocol.partial.PartialJSON`: each character read once);
* ``response.output_text.done``: ``parsed``, the ``T`` (``None`` when the text
  does not parse: the stream goes on; ``get_final_response()`` says why);
* ``response.function_call_arguments.delta``: ``snapshot`` (the arguments so
  far) and ``parsed_arguments``, the object so far, for a tool declared from a
  type or as strict;
* ``response.function_call_arguments.done``: ``parsed_arguments`` (the tool's
  type, JSON for a strict dict tool, else ``None``) and ``arguments_error``
  (the :class:`~xstream.ToolArgumentsError` when the arguments do not fit).

Each is a subclass of the event it extends, so ``isinstance(event,
ResponseOutputTextDeltaEvent)`` and ``event.type`` hold as for the plain event,
and its ``msgspec`` encoding is the event's fields plus the parsed ones.
Snapshots are built when read, from the text the stream's state keeps.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, Union

from .._models.responses import (
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseCustomToolCallInputDeltaEvent,
    ResponseCustomToolCallInputDoneEvent,
    ResponseDoneEvent,
    ResponseFailedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputTextAnnotationAddedEvent,
    ResponseOutputTextDeltaEvent,
    ResponseOutputTextDoneEvent,
    ResponseQueuedEvent,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryPartDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseReasoningTextDeltaEvent,
    ResponseReasoningTextDoneEvent,
    ResponseRefusalDeltaEvent,
    ResponseRefusalDoneEvent,
    ResponseToolCallEvent,
    UnknownResponseEvent,
)
from .accumulate import ToolArgumentsError
from .chat_events import _Text

__all__ = [
    "REPLACED",
    "ParsedResponseFunctionCallArgumentsDeltaEvent",
    "ParsedResponseFunctionCallArgumentsDoneEvent",
    "ParsedResponseOutputTextDeltaEvent",
    "ParsedResponseOutputTextDoneEvent",
    "ParsedResponseStreamEvent",
    "with_snapshot",
]

T = TypeVar("T")


def with_snapshot(event: Any, text: _Text, length: int) -> Any:
    """``event``, its ``snapshot`` to be read from the first ``length`` characters of ``text``."""
    event.__dict__["_snapshot"] = (text, length)
    return event


def _snapshot(event: Any, delta: str) -> str:
    source: tuple[_Text, int] | None = event.__dict__.get("_snapshot")
    return delta if source is None else source[0].upto(source[1])


# gc and dict: the snapshot's source is kept beside the fields (in __dict__), so it is
# neither encoded nor compared, and msgspec needs gc for a __dict__.


class ParsedResponseOutputTextDeltaEvent(ResponseOutputTextDeltaEvent, gc=True, dict=True):
    """A piece of output text, with ``snapshot`` (the part's text so far) and
    ``parsed``: with ``text_format=T``, the object so far (closed values
    complete, an open string as far as it arrived; closed objects typed where the
    type says), else ``None``."""

    parsed: Any = None

    @property
    def snapshot(self) -> str:
        """The text of this content part so far, this delta included."""
        return _snapshot(self, self.delta)


class ParsedResponseOutputTextDoneEvent(ResponseOutputTextDoneEvent, Generic[T]):
    """The whole text of a content part, with ``parsed``: the ``T`` (with
    ``text_format=T``), or ``None`` when there is no type or the text does not
    parse into it (the stream goes on; ``get_final_response()`` raises why)."""

    parsed: T | None = None


class ParsedResponseFunctionCallArgumentsDeltaEvent(
    ResponseFunctionCallArgumentsDeltaEvent, gc=True, dict=True
):
    """A piece of a function call's arguments, with ``snapshot`` (the JSON text so
    far) and ``parsed_arguments``: the object so far, for a tool declared from a
    type or as strict (else ``None``)."""

    parsed_arguments: Any = None

    @property
    def snapshot(self) -> str:
        """The arguments so far, this delta included."""
        return _snapshot(self, self.delta)


class ParsedResponseFunctionCallArgumentsDoneEvent(
    ResponseFunctionCallArgumentsDoneEvent, gc=True, dict=True
):
    """A function call's whole arguments, with ``parsed_arguments``: into the
    tool's type (a tool declared from a type), as JSON (a strict dict tool), else
    ``None``. Arguments that do not fit leave it ``None`` and set
    ``arguments_error`` (the stream goes on; ``get_final_response()`` raises it).
    ``name`` is the call's, from its output item when the event has none."""

    parsed_arguments: Any = None

    @property
    def arguments_error(self) -> ToolArgumentsError | None:
        """Why the arguments did not parse into the tool's type, if they did not."""
        error: ToolArgumentsError | None = self.__dict__.get("_error")
        return error


REPLACED = {
    ResponseOutputTextDeltaEvent: ParsedResponseOutputTextDeltaEvent,
    ResponseOutputTextDoneEvent: ParsedResponseOutputTextDoneEvent,
    ResponseFunctionCallArgumentsDeltaEvent: ParsedResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent: ParsedResponseFunctionCallArgumentsDoneEvent,
}
"""The events ``responses.stream()`` extends, and what it hands out for each."""

ParsedResponseStreamEvent = Union[  # noqa: UP007 - a type alias users import
    ResponseCreatedEvent,
    ResponseQueuedEvent,
    ResponseInProgressEvent,
    ResponseCompletedEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ParsedResponseOutputTextDeltaEvent,
    ParsedResponseOutputTextDoneEvent[T],
    ResponseRefusalDeltaEvent,
    ResponseRefusalDoneEvent,
    ParsedResponseFunctionCallArgumentsDeltaEvent,
    ParsedResponseFunctionCallArgumentsDoneEvent,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryPartDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseReasoningTextDeltaEvent,
    ResponseReasoningTextDoneEvent,
    ResponseOutputTextAnnotationAddedEvent,
    ResponseCustomToolCallInputDeltaEvent,
    ResponseCustomToolCallInputDoneEvent,
    ResponseDoneEvent,
    ResponseToolCallEvent,
    UnknownResponseEvent,
]
"""What ``responses.stream()`` hands out: the API's events (:data:`ResponseStreamEvent`),
the four above in place of those they extend. Match on the class (or on ``.type``)."""
