"""ResponseStream: the events of a streamed Responses API answer.

A streamed response is an event stream whose events are named after their
JSON ``type`` (``response.created``, ``response.output_text.delta``, ...,
``response.completed``); it is an :class:`EventStream` with a decoder of its
own and ends at its terminal event (completed, failed or incomplete). An
``error`` event is raised as :class:`ServerStreamError` after every event
before it was delivered.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec

from .._exceptions import (
    APIError,
    IncompleteStreamError,
    ProtocolError,
    StreamDisconnectedError,
    stream_error,
)
from .._models.responses import (
    TERMINAL_EVENTS,
    KnownEvent,
    Response,
    ResponseContentPart,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseError,
    ResponseInProgressEvent,
    ResponseOutputItem,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputTextDeltaEvent,
    ResponseQueuedEvent,
    ResponseStreamEvent,
    ResponseToolCallEvent,
    UnknownResponseEvent,
    keep_raw,
)
from .._sse.decoder import ServerSentEvent
from .._transport.errors import error_event
from .._transport.request import Opened
from .._transport.transport import Transport
from .events import EventStream
from .relay import event_block, json_of

__all__ = [
    "MAX_RESUMES",
    "ResponseStream",
    "decode_response",
    "decode_response_event",
    "response_or_none",
]

MAX_RESUMES = 5  # resumes of one background stream, in all


class _Decoders:
    """The decoders, built on first use: building them costs milliseconds of
    import time that programs which never call the Responses API should not pay."""

    def __init__(self) -> None:
        self.union = msgspec.json.Decoder(KnownEvent)
        self.by_name = {
            cls.__struct_config__.tag: msgspec.json.Decoder(cls) for cls in KnownEvent.__args__
        }
        self.object = msgspec.json.Decoder(dict[str, Any])
        self.response = msgspec.json.Decoder(Response)
        self.raw_response = msgspec.json.Decoder(_RawResponse)
        self.raw_lifecycle = msgspec.json.Decoder(_RawLifecycle)
        self.raw_item = msgspec.json.Decoder(_RawItemEvent)


@functools.cache
def _decoders() -> _Decoders:
    return _Decoders()


def decode_response(raw: bytes) -> Response:
    """A whole (non-streamed) response object, keeping the server's JSON."""
    return attach_raw(_decoders().response.decode(raw), raw)


def response_or_none(raw: bytes) -> Response | None:
    """``raw`` as a Response, or None when it is not one."""
    try:
        return decode_response(raw)
    except ValueError:
        return None


def decode_response_event(
    event: ServerSentEvent, response: aiohttp.ClientResponse
) -> ResponseStreamEvent:
    """One Responses API event, by its SSE name, else by the ``type`` in its JSON.

    Lifecycle events and output items keep the server's JSON beside the typed view
    (see ``ResponseOutputItem.raw``): one more decode, for those few events only.
    """
    decoders = _decoders()
    name = event.event
    decoder = decoders.by_name.get(name)
    if decoder is not None:
        result: ResponseStreamEvent = decoder.decode(event.raw)
    elif name == "message":  # the server sent no event: line
        try:
            result = decoders.union.decode(event.raw)
        except msgspec.ValidationError:
            data = decoders.object.decode(event.raw)  # not even an object: raises, malformed
            kind = data.get("type")
            if not isinstance(kind, str) or kind in decoders.by_name:
                raise  # a known event that does not fit its type: malformed
            return _other_event(kind, data, event, response)
    else:
        return _other_event(name, decoders.object.decode(event.raw), event, response)
    if type(result) in _KEEPS_RAW_TYPES:  # a set lookup: most events are deltas
        _keep_raw(result, event.raw, decoders)
    return result


_KEEPS_RAW = (
    *TERMINAL_EVENTS,
    ResponseDoneEvent,
    ResponseCreatedEvent,
    ResponseInProgressEvent,
    ResponseQueuedEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
)


_KEEPS_RAW_TYPES = frozenset(_KEEPS_RAW)


class _RawResponse(msgspec.Struct):
    output: tuple[msgspec.Raw, ...] = ()


# (msgspec cannot decode ``Raw | None``: an empty Raw stands for "absent")
class _RawLifecycle(msgspec.Struct):
    response: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


class _RawItemEvent(msgspec.Struct):
    item: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


def attach_raw(response: Response, raw: msgspec.Raw | bytes) -> Response:
    """``response`` and each of its output items keep the JSON they came from."""
    keep_raw(response, raw)
    raw_items = _decoders().raw_response.decode(raw).output
    for item, item_raw in zip(response.output, raw_items, strict=False):
        keep_raw(item, item_raw)
    return response


def _keep_raw(event: Any, raw: bytes, decoders: _Decoders) -> None:
    if isinstance(event, ResponseOutputItemAddedEvent | ResponseOutputItemDoneEvent):
        item = decoders.raw_item.decode(raw).item
        if len(item):
            keep_raw(event.item, item)
        return
    whole = decoders.raw_lifecycle.decode(raw).response
    if len(whole):
        attach_raw(event.response, whole)


def _other_event(
    kind: str, data: dict[str, Any], event: ServerSentEvent, response: aiohttp.ClientResponse
) -> ResponseStreamEvent:
    """An event no class models: an error, a tool call's progress, or unknown (kept)."""
    if kind == "error":
        raise error_event(event, response)
    match = _TOOL_PROGRESS.fullmatch(kind)
    if match is not None:
        number = data.get("sequence_number")
        index = data.get("output_index")
        item_id = data.get("item_id")
        return ResponseToolCallEvent(
            type=kind,
            tool=match[1],
            phase=match[2],
            item_id=item_id if isinstance(item_id, str) else None,
            output_index=index if isinstance(index, int) else 0,
            sequence_number=number if isinstance(number, int) else None,
            data=data,
        )
    return UnknownResponseEvent(type=kind, data=data)


_TOOL_PROGRESS = re.compile(r"response\.([a-z0-9_]+)_call\.([a-z_]+)")


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

    def __init__(self, transport: Transport, opened: Opened, *, background: bool = False) -> None:
        super().__init__(
            transport, opened, decode=decode_response_event, needs_final=True, reconnect=False
        )
        self._background = background  # the server keeps running it: a cut stream resumes
        self._response_id: str | None = None
        self._last_sequence = -1  # the last sequence_number handed out
        self._resumes = 0
        self._restart()

    @staticmethod
    def salvage(raw: bytes) -> Response | None:
        return response_or_none(raw)

    def sse_item(self, item: Any) -> bytes:
        """``event: <type>`` and the event's JSON (the whole object for the events
        no class models), as the API sends them."""
        if isinstance(item, ResponseToolCallEvent | UnknownResponseEvent):
            return event_block(json_of(item.data), event=item.type)
        return event_block(json_of(item), event=item.type)

    def _telemetry(self) -> tuple[object, float | None]:
        final = self._final if self._final is not None else Response(id=self._response_id or "")
        return final, self.stats.time_to_first_event

    def _restart(self) -> None:
        self._final: Response | None = None
        self._done_items: dict[int, ResponseOutputItem] = {}
        self._texts: dict[tuple[int, int], list[str]] = {}

    def _see(self, event: ResponseStreamEvent) -> bool | None:
        """Keep what the final response may need; True at the terminal event; None for
        an event already handed out (a resumed stream may send it again)."""
        number = event.sequence_number
        if number is not None:
            if number <= self._last_sequence:
                return None
            self._last_sequence = number
        if isinstance(event, ResponseOutputTextDeltaEvent):
            self._texts.setdefault((event.output_index, event.content_index), []).append(
                event.delta
            )
        elif isinstance(event, ResponseOutputItemDoneEvent):
            self._done_items[event.output_index] = event.item
        elif isinstance(event, TERMINAL_EVENTS):
            self._final = event.response
            return True
        elif isinstance(event, ResponseDoneEvent) and self._final is None:
            self._final = event.response  # xAI's response.done, with no response.completed
            return True
        elif isinstance(
            event, ResponseCreatedEvent | ResponseQueuedEvent | ResponseInProgressEvent
        ):
            self._response_id = event.response.id or self._response_id
            if event.response.background:
                self._background = True
        return False

    async def _resume(self, error: BaseException) -> bool:
        """A background response whose stream was cut goes on from the last event
        handed out (``GET /responses/{id}?stream=true&starting_after=N``): every
        event exactly once. Where the server cannot resume, the error says so and
        carries what arrived (``partial``)."""
        if not (
            self._background
            and self._response_id
            and isinstance(error, StreamDisconnectedError | ProtocolError | IncompleteStreamError)
        ):
            return False
        if self._resumes >= MAX_RESUMES:
            return False
        self._resumes += 1
        request = self._transport.build(
            "GET",
            f"responses/{urllib.parse.quote(self._response_id, safe='')}",
            stream=True,
            params={"stream": "true", "starting_after": str(self._last_sequence)},
            timeout=self._timeout,
        )
        self.response.close()
        sent = self._loop.time()
        try:
            response = await self._transport.attempt(request, started=self._started)
            await self._transport.check_event_stream(response, request, started=self._started)
        except APIError as exc:
            partial = self._partial()
            raise IncompleteStreamError(
                f"the stream of background response {self._response_id} was cut after "
                f"sequence number {self._last_sequence} and could not be resumed: {exc}",
                events_received=self.stats.events,
                partial=partial,
            ) from exc
        self._request = request
        self._use(response, sent)
        return True

    def _partial(self) -> Response:
        """What arrived so far, as a response (its items and text)."""
        return Response(
            id=self._response_id or "", status="incomplete", output=self._streamed_output()
        )

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
        while await self.next_batch():
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
