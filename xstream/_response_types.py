"""The Responses API's payloads: the response, its output items, and its stream events.

Tolerance, as everywhere in xstream: unknown fields are ignored and optional
fields default to ``None``. Output items and content parts are one flat Struct
each (``type`` says which kind), so item kinds this version does not model
still decode. An event type it does not model is handed out as an
:class:`UnknownResponseEvent` holding its ``type`` and the decoded JSON object.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._types import _Payload

__all__ = [
    "TERMINAL_EVENTS",
    "IncompleteDetails",
    "InputTokensDetails",
    "KnownEvent",
    "OutputTokensDetails",
    "Response",
    "ResponseCompletedEvent",
    "ResponseContentPart",
    "ResponseContentPartAddedEvent",
    "ResponseContentPartDoneEvent",
    "ResponseCreatedEvent",
    "ResponseError",
    "ResponseFailedEvent",
    "ResponseFunctionCallArgumentsDeltaEvent",
    "ResponseFunctionCallArgumentsDoneEvent",
    "ResponseInProgressEvent",
    "ResponseIncompleteEvent",
    "ResponseOutputItem",
    "ResponseOutputItemAddedEvent",
    "ResponseOutputItemDoneEvent",
    "ResponseOutputTextDeltaEvent",
    "ResponseOutputTextDoneEvent",
    "ResponseQueuedEvent",
    "ResponseReasoningSummaryPartAddedEvent",
    "ResponseReasoningSummaryPartDoneEvent",
    "ResponseReasoningSummaryTextDeltaEvent",
    "ResponseReasoningSummaryTextDoneEvent",
    "ResponseReasoningTextDeltaEvent",
    "ResponseReasoningTextDoneEvent",
    "ResponseRefusalDeltaEvent",
    "ResponseRefusalDoneEvent",
    "ResponseStreamEvent",
    "ResponseSummaryPart",
    "ResponseUsage",
    "UnknownResponseEvent",
]

# ---------------------------------------------------------------- the response


class ResponseContentPart(_Payload):
    """A part of an output message: ``output_text`` (``text``, ``annotations``),
    ``refusal`` (``refusal``), or a kind named by ``type``."""

    type: str = "output_text"
    text: str | None = None
    annotations: tuple[Any, ...] | None = None
    logprobs: tuple[Any, ...] | None = None
    refusal: str | None = None


class ResponseSummaryPart(_Payload):
    """A part of a reasoning item's summary (``summary_text``)."""

    type: str = "summary_text"
    text: str | None = None


class ResponseOutputItem(_Payload):
    """One output item; ``type`` says which kind, and which fields it fills:

    * ``message``: ``role``, ``content`` (parts);
    * ``function_call``: ``call_id``, ``name``, ``arguments`` (a JSON string);
    * ``reasoning``: ``summary``, ``content``, ``encrypted_content``;
    * any other kind (server-side tools, ...): ``id``, ``status`` and ``type``.
    """

    type: str = "message"
    id: str | None = None
    status: str | None = None
    role: str | None = None
    content: tuple[ResponseContentPart, ...] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    summary: tuple[ResponseSummaryPart, ...] | None = None
    encrypted_content: str | None = None


class InputTokensDetails(_Payload):
    """How the input tokens break down."""

    cached_tokens: int | None = None


class OutputTokensDetails(_Payload):
    """How the output tokens break down (``reasoning_tokens`` for reasoning models)."""

    reasoning_tokens: int | None = None


class ResponseUsage(_Payload):
    """Token counts of a response."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: InputTokensDetails | None = None
    output_tokens_details: OutputTokensDetails | None = None


class ResponseError(_Payload):
    """Why a response failed (``status == "failed"``)."""

    code: str | None = None
    message: str | None = None


class IncompleteDetails(_Payload):
    """Why a response is incomplete (``reason``: ``"max_output_tokens"``, ...)."""

    reason: str | None = None


class Response(_Payload):
    """A model response. ``output_text`` joins the text of every message part.

    >>> Response(output=(ResponseOutputItem(content=(ResponseContentPart(text="Hi"),)),)).output_text
    'Hi'
    """

    id: str = ""
    object: str = "response"
    created_at: int | float | None = None
    status: str | None = None
    model: str | None = None
    output: tuple[ResponseOutputItem, ...] = ()
    usage: ResponseUsage | None = None
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: Any = None
    previous_response_id: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    reasoning: Any = None
    text: Any = None
    tools: tuple[Any, ...] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    store: bool | None = None
    metadata: dict[str, Any] | None = None
    user: str | None = None

    @property
    def output_text(self) -> str:
        return "".join(
            part.text or ""
            for item in self.output
            if item.type == "message" and item.content
            for part in item.content
            if part.type == "output_text"
        )


# ---------------------------------------------------------------- events


class _Event(_Payload, tag_field="type"):
    sequence_number: int | None = None

    @property
    def type(self) -> str:
        """The event's type, as the API names it (``"response.output_text.delta"``)."""
        tag: str = self.__struct_config__.tag  # type: ignore[assignment]
        return tag


class _ResponseEvent(_Event):
    """A lifecycle event: carries the whole ``response`` as it stands."""

    response: Response = msgspec.field(default_factory=Response)


class ResponseCreatedEvent(_ResponseEvent, tag="response.created"):
    """The response was created (``response.status`` is ``in_progress`` or ``queued``)."""


class ResponseQueuedEvent(_ResponseEvent, tag="response.queued"):
    """The response waits for capacity."""


class ResponseInProgressEvent(_ResponseEvent, tag="response.in_progress"):
    """The response is being generated."""


class ResponseCompletedEvent(_ResponseEvent, tag="response.completed"):
    """The final event of a successful response: ``response`` is complete (with usage)."""


class ResponseFailedEvent(_ResponseEvent, tag="response.failed"):
    """The final event of a failed response: ``response.error`` says why."""


class ResponseIncompleteEvent(_ResponseEvent, tag="response.incomplete"):
    """The final event of a response cut short: ``response.incomplete_details`` says why."""


class ResponseOutputItemAddedEvent(_Event, tag="response.output_item.added"):
    """A new output item (message, function call, reasoning, ...) starts."""

    output_index: int = 0
    item: ResponseOutputItem = msgspec.field(default_factory=ResponseOutputItem)


class ResponseOutputItemDoneEvent(_Event, tag="response.output_item.done"):
    """An output item is complete."""

    output_index: int = 0
    item: ResponseOutputItem = msgspec.field(default_factory=ResponseOutputItem)


class ResponseContentPartAddedEvent(_Event, tag="response.content_part.added"):
    """A content part of a message starts."""

    item_id: str | None = None
    output_index: int = 0
    content_index: int = 0
    part: ResponseContentPart = msgspec.field(default_factory=ResponseContentPart)


class ResponseContentPartDoneEvent(_Event, tag="response.content_part.done"):
    """A content part of a message is complete."""

    item_id: str | None = None
    output_index: int = 0
    content_index: int = 0
    part: ResponseContentPart = msgspec.field(default_factory=ResponseContentPart)


class ResponseOutputTextDeltaEvent(_Event, tag="response.output_text.delta"):
    """A piece of output text."""

    item_id: str | None = None
    output_index: int = 0
    content_index: int = 0
    delta: str = ""
    logprobs: tuple[Any, ...] | None = None


class ResponseOutputTextDoneEvent(_Event, tag="response.output_text.done"):
    """The whole text of a content part."""

    item_id: str | None = None
    output_index: int = 0
    content_index: int = 0
    text: str = ""
    logprobs: tuple[Any, ...] | None = None


class ResponseRefusalDeltaEvent(_Event, tag="response.refusal.delta"):
    """A piece of a refusal."""

    item_id: str | None = None
    output_index: int = 0
    content_index: int = 0
    delta: str = ""


class ResponseRefusalDoneEvent(_Event, tag="response.refusal.done"):
    """The whole refusal."""

    item_id: str | None = None
    output_index: int = 0
    content_index: int = 0
    refusal: str = ""


class ResponseFunctionCallArgumentsDeltaEvent(_Event, tag="response.function_call_arguments.delta"):
    """A piece of a function call's arguments (JSON text)."""

    item_id: str | None = None
    output_index: int = 0
    delta: str = ""


class ResponseFunctionCallArgumentsDoneEvent(_Event, tag="response.function_call_arguments.done"):
    """A function call's whole arguments (JSON text)."""

    item_id: str | None = None
    output_index: int = 0
    name: str | None = None
    arguments: str = ""


class ResponseReasoningSummaryPartAddedEvent(_Event, tag="response.reasoning_summary_part.added"):
    """A part of a reasoning summary starts."""

    item_id: str | None = None
    output_index: int = 0
    summary_index: int = 0
    part: ResponseSummaryPart = msgspec.field(default_factory=ResponseSummaryPart)


class ResponseReasoningSummaryPartDoneEvent(_Event, tag="response.reasoning_summary_part.done"):
    """A part of a reasoning summary is complete."""

    item_id: str | None = None
    output_index: int = 0
    summary_index: int = 0
    part: ResponseSummaryPart = msgspec.field(default_factory=ResponseSummaryPart)


class ResponseReasoningSummaryTextDeltaEvent(_Event, tag="response.reasoning_summary_text.delta"):
    """A piece of a reasoning summary."""

    item_id: str | None = None
    output_index: int = 0
    summary_index: int = 0
    delta: str = ""


class ResponseReasoningSummaryTextDoneEvent(_Event, tag="response.reasoning_summary_text.done"):
    """The whole text of a reasoning summary part."""

    item_id: str | None = None
    output_index: int = 0
    summary_index: int = 0
    text: str = ""


class ResponseReasoningTextDeltaEvent(_Event, tag="response.reasoning_text.delta"):
    """A piece of reasoning text."""

    item_id: str | None = None
    output_index: int = 0
    content_index: int = 0
    delta: str = ""


class ResponseReasoningTextDoneEvent(_Event, tag="response.reasoning_text.done"):
    """The whole reasoning text of a content part."""

    item_id: str | None = None
    output_index: int = 0
    content_index: int = 0
    text: str = ""


class UnknownResponseEvent(_Payload):
    """An event type this version does not model: its ``type`` and its JSON object."""

    type: str
    data: dict[str, Any]

    @property
    def sequence_number(self) -> int | None:
        number = self.data.get("sequence_number")
        return number if isinstance(number, int) else None


KnownEvent = (
    ResponseCreatedEvent
    | ResponseQueuedEvent
    | ResponseInProgressEvent
    | ResponseCompletedEvent
    | ResponseFailedEvent
    | ResponseIncompleteEvent
    | ResponseOutputItemAddedEvent
    | ResponseOutputItemDoneEvent
    | ResponseContentPartAddedEvent
    | ResponseContentPartDoneEvent
    | ResponseOutputTextDeltaEvent
    | ResponseOutputTextDoneEvent
    | ResponseRefusalDeltaEvent
    | ResponseRefusalDoneEvent
    | ResponseFunctionCallArgumentsDeltaEvent
    | ResponseFunctionCallArgumentsDoneEvent
    | ResponseReasoningSummaryPartAddedEvent
    | ResponseReasoningSummaryPartDoneEvent
    | ResponseReasoningSummaryTextDeltaEvent
    | ResponseReasoningSummaryTextDoneEvent
    | ResponseReasoningTextDeltaEvent
    | ResponseReasoningTextDoneEvent
)

ResponseStreamEvent = KnownEvent | UnknownResponseEvent
"""What a response stream hands out: match on the class (or on ``.type``)."""

TERMINAL_EVENTS = (ResponseCompletedEvent, ResponseFailedEvent, ResponseIncompleteEvent)
