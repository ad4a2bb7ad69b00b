"""The Responses API (``POST /v1/responses``): typed events, a final-response helper.

A streamed response is an event stream whose events are named after their
JSON ``type`` (``response.created``, ``response.output_text.delta``, ...,
``response.completed``); it is an :class:`EventStream` with a decoder of its
own and ends at its terminal event (completed, failed or incomplete).

Tolerance, as everywhere in xstream: unknown fields are ignored and optional
fields default to ``None``. Output items and content parts are one flat Struct
each (``type`` says which kind), so item kinds this version does not model
still decode. An event type it does not model is handed out as an
:class:`UnknownResponseEvent` holding its ``type`` and the decoded JSON
object, never dropped and never an error. An ``error`` event is raised as
:class:`ServerStreamError` after every event before it was delivered.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

import aiohttp
import msgspec

from ._errors import (
    APIError,
    IncompleteStreamError,
    error_message,
    stream_error,
)
from ._events import (
    CLIENT_DEFAULT,
    EventStream,
    _connect,
    _Request,
    error_event,
)
from ._http import decode_body, read_body
from ._sse import ServerSentEvent
from ._timeouts import Timeout, TimeoutTypes
from ._types import _Payload

if TYPE_CHECKING:
    from ._client import AsyncClient

__all__ = [
    "AsyncResponses",
    "IncompleteDetails",
    "InputTokensDetails",
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
    "ResponseStream",
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


_KnownEvent = (
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

ResponseStreamEvent = _KnownEvent | UnknownResponseEvent
"""What a response stream hands out: match on the class (or on ``.type``)."""

_TERMINAL = (ResponseCompletedEvent, ResponseFailedEvent, ResponseIncompleteEvent)


class _Decoders:
    """The decoders, built on first use: building them costs milliseconds of
    import time that programs which never call the Responses API should not pay."""

    def __init__(self) -> None:
        self.union = msgspec.json.Decoder(_KnownEvent)
        self.by_name = {
            cls.__struct_config__.tag: msgspec.json.Decoder(cls) for cls in _KnownEvent.__args__
        }
        self.object = msgspec.json.Decoder(dict[str, Any])
        self.response = msgspec.json.Decoder(Response)


@functools.cache
def _decoders() -> _Decoders:
    return _Decoders()


def decode_response_event(
    event: ServerSentEvent, response: aiohttp.ClientResponse
) -> ResponseStreamEvent:
    """One Responses API event, by its SSE name, else by the ``type`` in its JSON."""
    decoders = _decoders()
    name = event.event
    decoder = decoders.by_name.get(name)
    if decoder is not None:
        result: ResponseStreamEvent = decoder.decode(event.raw)
        return result
    if name == "message":  # the server sent no event: line
        try:
            result = decoders.union.decode(event.raw)
            return result
        except msgspec.ValidationError:
            data = decoders.object.decode(event.raw)  # not even an object: raises, malformed
            kind = data.get("type")
            if not isinstance(kind, str) or kind in decoders.by_name:
                raise  # a known event that does not fit its type: malformed
    else:
        data = decoders.object.decode(event.raw)
        kind = name
    if kind == "error":
        raise error_event(event, response)
    return UnknownResponseEvent(type=kind, data=data)


# ---------------------------------------------------------------- the stream


class ResponseStream(EventStream[ResponseStreamEvent]):
    """The events of a streamed response; ends at ``response.completed``
    (or ``response.failed`` / ``response.incomplete``).

    >>> stream = await client.responses.create(model="grok-4", input="Hi", stream=True)  # doctest: +SKIP
    >>> async for event in stream:
    ...     if isinstance(event, xstream.ResponseOutputTextDeltaEvent):
    ...         print(event.delta, end="")
    >>> (await stream.get_final_response()).usage

    A body that ends before the terminal event raises :class:`IncompleteStreamError`.
    """

    _observes = True

    def __init__(self, request: _Request, response: aiohttp.ClientResponse, **kw: Any) -> None:
        super().__init__(
            request,
            response,
            decode=decode_response_event,
            needs_final=True,
            reconnect=False,
            **kw,
        )
        self._final: Response | None = None
        self._done_items: dict[int, ResponseOutputItem] = {}
        self._texts: dict[tuple[int, int], list[str]] = {}

    def _see(self, event: ResponseStreamEvent) -> bool:
        """Keep what the final response may need; True at the terminal event."""
        if isinstance(event, ResponseOutputTextDeltaEvent):
            self._texts.setdefault((event.output_index, event.content_index), []).append(
                event.delta
            )
        elif isinstance(event, ResponseOutputItemDoneEvent):
            self._done_items[event.output_index] = event.item
        elif isinstance(event, _TERMINAL):
            self._final = event.response
            return True
        return False

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The output text deltas, as ``str``."""
        return _text_deltas(self)

    async def get_final_response(self) -> Response:
        """Read the rest of the stream; return the response of its terminal event.

        A response that failed raises :class:`ServerStreamError` (from
        ``response.error``); an incomplete one is returned (``status ==
        "incomplete"``, ``incomplete_details`` says why). If the server left
        ``output`` empty in the terminal event, it is rebuilt from the items
        and text deltas streamed before it.
        """
        while await self._next_batch():
            pass
        final = self._final
        if final is None:  # closed early, or ended by a bare [DONE]
            raise IncompleteStreamError(
                "the response stream ended (or was closed) before its final event",
                events_received=self.stats.events,
            )
        if final.status == "failed":
            error = final.error or ResponseError(message="the response failed")
            body = {"error": msgspec.to_builtins(error)}
            raise stream_error(body, self.response)
        if not final.output:
            final = msgspec.structs.replace(final, output=self._streamed_output())
        return final

    def _streamed_output(self) -> tuple[ResponseOutputItem, ...]:
        if self._done_items:
            return tuple(self._done_items[i] for i in sorted(self._done_items))
        items: dict[int, list[ResponseContentPart]] = {}
        for (output, _), pieces in sorted(self._texts.items()):
            items.setdefault(output, []).append(
                ResponseContentPart(type="output_text", text="".join(pieces))
            )
        return tuple(
            ResponseOutputItem(type="message", role="assistant", content=tuple(parts))
            for _, parts in sorted(items.items())
        )


async def _text_deltas(stream: ResponseStream) -> AsyncIterator[str]:
    try:
        async for event in stream:
            if isinstance(event, ResponseOutputTextDeltaEvent) and event.delta:
                yield event.delta
    finally:
        stream._close()


# ---------------------------------------------------------------- the resource


class AsyncResponses:
    """``client.responses``: ``create``."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @overload
    async def create(
        self,
        *,
        model: str,
        input: Any,
        stream: Literal[False] = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = CLIENT_DEFAULT,
        **params: Any,
    ) -> Response: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        input: Any,
        stream: Literal[True],
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = CLIENT_DEFAULT,
        **params: Any,
    ) -> ResponseStream: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        input: Any,
        stream: bool,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = CLIENT_DEFAULT,
        **params: Any,
    ) -> Response | ResponseStream: ...

    async def create(
        self,
        *,
        model: str,
        input: Any,
        stream: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = CLIENT_DEFAULT,
        **params: Any,
    ) -> Response | ResponseStream:
        """Create a model response; with ``stream=True``, a :class:`ResponseStream`.

        ``input`` is a string or a list of input items (dicts or Structs). API
        parameters (``instructions``, ``previous_response_id``, ``tools``,
        ``max_output_tokens``, ``reasoning``, ...) pass through as keyword
        arguments; ``None`` ones are not sent; ``extra_body`` is merged last.

        >>> response = await client.responses.create(model="grok-4", input="Hi")  # doctest: +SKIP
        >>> response.output_text
        'Hello! How can I help?'
        >>> stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
        >>> async for delta in stream.text_stream:
        ...     print(delta, end="")
        """
        client = self._client
        deadlines = client.timeout if timeout is CLIENT_DEFAULT else Timeout.coerce(timeout)
        body: dict[str, Any] = {"model": model, "input": input}
        if stream:
            body["stream"] = True
        body.update((name, value) for name, value in params.items() if value is not None)
        if extra_body:
            body.update(extra_body)
        raw_body = msgspec.json.encode(body)
        headers = client._headers(stream, extra_headers)
        started = asyncio.get_running_loop().time()
        if not stream:
            response, _ = await client._send(
                "responses", raw_body, headers, deadlines, client.max_retries
            )
            return await _read_response(response, deadlines)
        request = _Request(
            client._get_session,
            "POST",
            f"{client.base_url}/responses",
            headers=headers,
            body=raw_body,
            params=None,
            timeout=deadlines,
            errors=client,
        )
        opened, left = await _connect(request, "", client.max_retries)
        return ResponseStream(
            request,
            opened,
            started=started,
            retries_left=left,
            max_event_bytes=client.max_event_bytes,
        )


async def _read_response(response: aiohttp.ClientResponse, timeout: Timeout) -> Response:
    """Read and decode a non-streamed response, within the first_event/total deadline."""
    raw = await read_body(response, timeout)
    try:
        result = _decoders().response.decode(raw)
    except ValueError as exc:
        body = decode_body(raw)
        if error_message(body) is not None:
            raise stream_error(body, response) from exc
        raise APIError(
            f"the answer is not a response object ({exc}); it starts with {raw[:200]!r}",
            body=body,
        ) from exc
    if not result.id and not result.output and error_message(decode_body(raw)) is not None:
        raise stream_error(decode_body(raw), response)
    if result.status == "failed" and result.error is not None:
        raise stream_error({"error": msgspec.to_builtins(result.error)}, response)
    return result
