"""The Responses API's payloads: the response, its output items, and its stream events.

Tolerance, as everywhere in xstream: unknown fields are ignored and optional
fields default to ``None``. Output items and content parts are one flat Struct
each (``type`` says which kind), so item kinds this version does not model
still decode. An event type it does not model is handed out as an
:class:`UnknownResponseEvent` holding its ``type`` and the decoded JSON object.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from .chat import _Payload

__all__ = [
    "TERMINAL_EVENTS",
    "IncompleteDetails",
    "InputTokensDetails",
    "KnownEvent",
    "OutputTokensDetails",
    "ParsedResponse",
    "ParsedResponseFunctionToolCall",
    "Response",
    "ResponseAnnotation",
    "ResponseCompletedEvent",
    "ResponseContentPart",
    "ResponseContentPartAddedEvent",
    "ResponseContentPartDoneEvent",
    "ResponseCreatedEvent",
    "ResponseCustomToolCallInputDeltaEvent",
    "ResponseCustomToolCallInputDoneEvent",
    "ResponseDoneEvent",
    "ResponseError",
    "ResponseFailedEvent",
    "ResponseFunctionCallArgumentsDeltaEvent",
    "ResponseFunctionCallArgumentsDoneEvent",
    "ResponseInProgressEvent",
    "ResponseIncompleteEvent",
    "ResponseOutputItem",
    "ResponseOutputItemAddedEvent",
    "ResponseOutputItemDoneEvent",
    "ResponseOutputTextAnnotationAddedEvent",
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
    "ResponseToolCallEvent",
    "ResponseUsage",
    "UnknownResponseEvent",
    "as_input",
    "keep_raw",
]

_T = TypeVar("_T")

# ---------------------------------------------------------------- the response


class _Lossless(_Payload, gc=True, dict=True):
    """An object the server sent that the user may send back: it keeps the exact
    JSON it was decoded from (``raw``), unknown fields included, and that JSON is
    what goes back when it is passed as ``input`` (no field lost, none added, no
    ``null`` for what was absent). ``msgspec.structs.replace`` gives a copy without
    it: a changed object is sent from its fields."""

    @property
    def raw(self) -> msgspec.Raw | None:
        """The JSON this object was decoded from, when it came from the server."""
        raw: msgspec.Raw | None = self.__dict__.get("_raw")
        return raw

    def to_input(self) -> Any:
        """What to send back: the server's own JSON, else the fields that are set."""
        raw = self.raw
        if raw is not None:
            return raw
        return _set_fields(msgspec.to_builtins(self))


def _set_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _set_fields(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_set_fields(v) for v in value]
    return value


def as_input(value: Any) -> Any:
    """``input`` as it goes on the wire: every object the server sent (output items,
    at any depth of a list) as its own JSON, everything else as given."""
    if isinstance(value, _Lossless):
        return value.to_input()
    if isinstance(value, list | tuple):
        return [as_input(v) for v in value]
    return value


def keep_raw(obj: _Lossless, raw: msgspec.Raw | bytes) -> None:
    """Remember the JSON ``obj`` was decoded from."""
    obj.__dict__["_raw"] = raw if isinstance(raw, msgspec.Raw) else msgspec.Raw(raw)


class ResponseAnnotation(_Payload):
    """An annotation on output text: ``url_citation`` (``url``, ``title``,
    ``start_index``, ``end_index``: where in the text it applies), ``file_citation``
    (``file_id``, ``filename``, ``index``), or a kind named by ``type``."""

    type: str = "url_citation"
    url: str | None = None
    title: str | None = None
    start_index: int | None = None
    end_index: int | None = None
    file_id: str | None = None
    filename: str | None = None
    index: int | None = None


class ResponseContentPart(_Payload):
    """A part of an output message: ``output_text`` (``text``, ``annotations``),
    ``refusal`` (``refusal``), or a kind named by ``type``."""

    type: str = "output_text"
    text: str | None = None
    annotations: tuple[ResponseAnnotation, ...] | None = None
    logprobs: tuple[Any, ...] | None = None
    refusal: str | None = None


class ResponseSummaryPart(_Payload):
    """A part of a reasoning item's summary (``summary_text``)."""

    type: str = "summary_text"
    text: str | None = None


class ResponseOutputItem(_Lossless):
    """One output item; ``type`` says which kind, and which fields it fills:

    * ``message``: ``role``, ``content`` (parts);
    * ``function_call``: ``call_id``, ``name``, ``arguments`` (a JSON string);
    * ``reasoning``: ``summary``, ``content``, ``encrypted_content`` (send it back
      every turn: ``include=["reasoning.encrypted_content"]`` asks for it);
    * server-side tool calls (``web_search_call``, ``x_search_call``,
      ``code_interpreter_call``, ``mcp_call``, ``file_search_call``, ...): ``id``,
      ``status``, and as the kind has them ``action`` (a web search's query and
      sources), ``queries``, ``results``, ``code``, ``outputs``, ``server_label``,
      ``output``, ``error``;
    * any other kind: ``id``, ``status`` and ``type``.

    Every item keeps the server's JSON (``raw``), so passing it back as ``input``
    sends exactly that, fields this version does not model included.
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
    action: Any = None
    queries: tuple[str, ...] | None = None
    results: Any = None
    code: str | None = None
    container_id: str | None = None
    outputs: Any = None
    server_label: str | None = None
    output: Any = None
    error: Any = None


class InputTokensDetails(_Payload):
    """How the input tokens break down (``cached_tokens``: read from the prompt cache)."""

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
    # xAI: the tools that ran server-side ({tool: calls}), how many sources and tool calls
    # they used, and the exact cost billed
    server_side_tool_usage_details: Any = None
    num_sources_used: int | None = None
    num_server_side_tools_used: int | None = None
    cost_in_usd_ticks: int | None = None
    server_side_tool_usage: Any = None  # the name xstream declared before xAI's (kept)

    @property
    def cost_usd(self) -> float | None:
        """``cost_in_usd_ticks`` in dollars (1 USD = 10^10 ticks), when the server sent it."""
        ticks = self.cost_in_usd_ticks
        return None if ticks is None else ticks / 1e10


class ResponseError(_Payload):
    """Why a response failed (``status == "failed"``)."""

    code: str | None = None
    message: str | None = None


class IncompleteDetails(_Payload):
    """Why a response is incomplete (``reason``: ``"max_output_tokens"``, ...)."""

    reason: str | None = None


class Response(_Lossless):
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
    background: bool | None = None
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


class ParsedResponse(Response, Generic[_T]):
    """A response whose output text was asked for as a type (``text_format=T``):
    ``output_parsed`` is the ``T``. Everything else is the :class:`Response`, and
    it keeps the server's JSON as a Response does."""

    output_parsed: _T | None = None


class ParsedResponseFunctionToolCall(ResponseOutputItem):
    """A ``function_call`` output item of a :class:`ParsedResponse`, with
    ``parsed_arguments``: the arguments as the tool's type (a tool declared from a
    type), as JSON (a strict dict tool), else ``None``. Sent back as ``input``, it
    is the server's item, unchanged: ``parsed_arguments`` never goes on the wire."""

    parsed_arguments: Any = None

    def to_input(self) -> Any:
        raw = self.raw
        if raw is not None:
            return raw
        fields = ResponseOutputItem.__struct_fields__
        return _set_fields({name: msgspec.to_builtins(getattr(self, name)) for name in fields})


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


class ResponseOutputTextAnnotationAddedEvent(_Event, tag="response.output_text.annotation.added"):
    """An annotation (a ``url_citation``, ...) added to a content part's text."""

    item_id: str | None = None
    output_index: int = 0
    content_index: int = 0
    annotation_index: int = 0
    annotation: ResponseAnnotation = msgspec.field(default_factory=ResponseAnnotation)


class ResponseCustomToolCallInputDeltaEvent(_Event, tag="response.custom_tool_call_input.delta"):
    """A piece of a custom tool call's input (xAI streams ``x_search`` calls so)."""

    item_id: str | None = None
    output_index: int = 0
    delta: str = ""


class ResponseCustomToolCallInputDoneEvent(_Event, tag="response.custom_tool_call_input.done"):
    """A custom tool call's whole input."""

    item_id: str | None = None
    output_index: int = 0
    input: str = ""


class ResponseDoneEvent(_ResponseEvent, tag="response.done"):
    """xAI's last event, beside ``response.completed``: ``response`` as it ended. A
    stream that ends with it (no ``response.completed``) ends there, with it."""


class ResponseToolCallEvent(_Payload):
    """Progress of a server-side tool call, for every tool and server alike: an
    event named ``response.<tool>_call.<phase>`` (``response.web_search_call.searching``,
    ``response.x_search_call.completed``, ``response.code_interpreter_call.interpreting``,
    ``response.mcp_call.failed``, ...). ``tool`` is ``web_search``, ``x_search``, ...;
    ``phase`` is ``in_progress``, ``searching``, ``completed``, ...; ``data`` is the
    whole JSON object."""

    type: str
    tool: str
    phase: str
    item_id: str | None = None
    output_index: int = 0
    sequence_number: int | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)


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
    | ResponseOutputTextAnnotationAddedEvent
    | ResponseCustomToolCallInputDeltaEvent
    | ResponseCustomToolCallInputDoneEvent
    | ResponseDoneEvent
)

ResponseStreamEvent = KnownEvent | ResponseToolCallEvent | UnknownResponseEvent
"""What a response stream hands out: match on the class (or on ``.type``)."""

TERMINAL_EVENTS = (ResponseCompletedEvent, ResponseFailedEvent, ResponseIncompleteEvent)
