"""``client.responses``: the Responses API (``POST /v1/responses``), streamed or not."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Mapping
from typing import Any, Generic, Literal, Self, TypeVar, overload

import aiohttp
import msgspec

from .._config.timeouts import NOT_GIVEN, TimeoutTypes
from .._exceptions import APIError, NotStreamedError, error_message, stream_error
from .._models.responses import ParsedResponse, Response, ResponseStreamEvent, as_input
from .._protocol.schema import (
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    RefusalError,
    parse_output,
    response_format,
)
from .._streams.events import EventStreamStats
from .._streams.managers import AsyncStreamManager
from .._streams.responses import ResponseStream, decode_response, response_or_none
from .._transport.errors import decode_body
from .._transport.raw import RawResponse, read_raw
from .._transport.transport import Transport

__all__ = [
    "AsyncResponseStream",
    "AsyncResponseStreamManager",
    "AsyncResponses",
    "AsyncResponsesWithRawResponse",
    "parse_response",
]

T = TypeVar("T")


class AsyncResponses:
    """``client.responses``: ``create``, ``stream``, ``parse``, ``retrieve``, ``delete``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    @property
    def with_raw_response(self) -> AsyncResponsesWithRawResponse:
        """``create``, ``retrieve`` and ``delete`` answering a :class:`RawResponse`."""
        return AsyncResponsesWithRawResponse(self)

    @overload
    async def create(
        self,
        *,
        model: str,
        input: Any,
        stream: Literal[False] = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
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
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
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
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
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
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
        **params: Any,
    ) -> Response | ResponseStream:
        """Create a model response; with ``stream=True``, a :class:`ResponseStream`.

        ``input`` is a string or a list of input items (dicts or Structs). API
        parameters (``instructions``, ``previous_response_id``, ``tools``,
        ``max_output_tokens``, ``reasoning``, ...) pass through as keyword
        arguments; ``None`` ones are not sent; ``extra_body`` is merged last;
        ``timeout`` and ``max_retries`` per call (default: the client's).

        >>> response = await client.responses.create(model="grok-4", input="Hi")  # doctest: +SKIP
        >>> response.output_text
        'Hello! How can I help?'
        >>> stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
        >>> async for delta in stream.text_stream:
        ...     print(delta, end="")
        """
        transport = self._transport
        body: dict[str, Any] = {"model": model, "input": as_input(input)}
        if stream:
            body["stream"] = True
        body.update((name, value) for name, value in params.items() if value is not None)
        if extra_body:
            body.update(extra_body)
        request = transport.build(
            "POST",
            "responses",
            body=msgspec.json.encode(body),
            stream=stream,
            headers=extra_headers,
            timeout=timeout,
            max_retries=max_retries,
        )
        if transport.telemetry is not None:
            transport.trace(request, model=model, params=body, stream=stream)
        try:
            opened = await transport.open(request, stream=stream)
        except NotStreamedError as exc:
            exc.completion = response_or_none(exc.raw)  # as the stream kind does
            raise
        if not stream:
            return await transport.read_json(opened, _response)
        return ResponseStream(transport, opened, background=bool(params.get("background")))

    @overload
    async def retrieve(
        self,
        response_id: str,
        *,
        stream: Literal[False] = False,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> Response: ...

    @overload
    async def retrieve(
        self,
        response_id: str,
        *,
        stream: Literal[True],
        starting_after: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> ResponseStream: ...

    async def retrieve(
        self,
        response_id: str,
        *,
        stream: bool = False,
        starting_after: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> Response | ResponseStream:
        """A stored response (``GET /responses/{id}``); with ``stream=True``, its events
        again (a ``background=True`` response while it runs), after sequence number
        ``starting_after`` when given."""
        params = {"stream": "true"} if stream else {}
        if starting_after is not None:
            params["starting_after"] = str(starting_after)
        transport = self._transport
        request = transport.build(
            "GET",
            f"responses/{_path_id(response_id)}",
            stream=stream,
            headers=extra_headers,
            params=params or None,
            timeout=timeout,
            max_retries=max_retries,
        )
        opened = await transport.open(request, stream=stream)
        if not stream:
            return await transport.read_json(opened, _response)
        return ResponseStream(transport, opened, background=True)

    async def delete(
        self,
        response_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> Any:
        """Delete a stored response (``DELETE /responses/{id}``); the server's answer."""
        transport = self._transport
        request = transport.build(
            "DELETE",
            f"responses/{_path_id(response_id)}",
            stream=False,
            headers=extra_headers,
            timeout=timeout,
            max_retries=max_retries,
        )
        opened = await transport.open(request, stream=False)
        return await transport.read_json(opened, lambda raw, _: decode_body(raw))

    def stream(
        self,
        *,
        model: str,
        input: Any,
        text_format: type[T] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> AsyncResponseStreamManager[T]:
        """Stream a response's events as the API sends them (typed, as
        ``create(stream=True)`` gives them)::

            async with client.responses.stream(model=..., input=..., text_format=Trip) as stream:
                async for event in stream:
                    if event.type == "response.output_text.delta":
                        print(event.delta, end="")
            trip = (await stream.get_final_response()).output_parsed

        ``text_format`` (a msgspec Struct, dataclass, TypedDict or pydantic model)
        sends a strict JSON schema as ``text.format``; the final response's
        ``output_parsed`` is a ``T``.
        """
        _text_format(params, text_format)

        async def open() -> AsyncResponseStream[T]:
            stream: ResponseStream = await self.create(
                model=model,
                input=input,
                stream=True,
                extra_headers=extra_headers,
                extra_body=extra_body,
                timeout=timeout,
                **params,
            )
            return AsyncResponseStream(stream, text_format)

        return AsyncResponseStreamManager(open)

    async def parse(
        self,
        *,
        model: str,
        input: Any,
        text_format: type[T] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> ParsedResponse[T]:
        """:meth:`create` without streaming, the output text parsed into
        ``text_format`` (``output_parsed``). Raises :class:`RefusalError`,
        :class:`LengthFinishReasonError` or :class:`OutputValidationError`, which
        keep the response."""
        _text_format(params, text_format)
        response = await self.create(
            model=model,
            input=input,
            stream=False,
            extra_headers=extra_headers,
            extra_body=extra_body,
            timeout=timeout,
            **params,
        )
        return parse_response(response, text_format)


class AsyncResponseStreamManager(AsyncStreamManager["AsyncResponseStream[T]"], Generic[T]):
    """What ``client.responses.stream(...)`` returns: ``async with`` it (or ``await``
    it) for the :class:`AsyncResponseStream`; leaving the block releases the connection."""


class AsyncResponseStream(Generic[T]):
    """A response's events (the :class:`ResponseStream`'s, unchanged), and its final
    response parsed: ``await stream.get_final_response()`` is a :class:`ParsedResponse`."""

    def __init__(self, events: ResponseStream, text_format: type[T] | None) -> None:
        self.events = events
        """The :class:`ResponseStream` underneath (``stats``, ``response``, ...)."""
        self._format = text_format

    def __aiter__(self) -> AsyncIterator[ResponseStreamEvent]:
        return self.events.__aiter__()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        await self.events.aclose()

    close = aclose

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The output text deltas, as ``str``."""
        return self.events.text_stream

    @property
    def response(self) -> aiohttp.ClientResponse:
        return self.events.response

    @property
    def stats(self) -> EventStreamStats:
        return self.events.stats

    async def until_done(self) -> Self:
        """Read the rest of the stream."""
        async for _ in self.events:
            pass
        return self

    async def get_final_response(self) -> ParsedResponse[T]:
        """Read the rest; the final response with ``output_parsed`` (see :meth:`AsyncResponses.parse`)."""
        return parse_response(await self.events.get_final_response(), self._format)


def _text_format(params: dict[str, Any], text_format: Any) -> None:
    if text_format is None:
        return
    text = dict(params.get("text") or {})
    schema = response_format(text_format)["json_schema"]
    text["format"] = {"type": "json_schema", **schema}
    params["text"] = text


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


class AsyncResponsesWithRawResponse:
    """``client.responses.with_raw_response``: the calls read whole, each returning a
    :class:`RawResponse` (headers, status, request id; ``parse()`` the usual result).
    A stream has its response already (``stream.response``)."""

    def __init__(self, responses: AsyncResponses) -> None:
        self._responses = responses

    async def create(self, *, model: str, input: Any, **params: Any) -> RawResponse[Response]:
        """:meth:`AsyncResponses.create` (same arguments, not streamed), with its response."""
        _not_streamed(params)
        return await read_raw(self._responses.create(model=model, input=input, **params))

    async def retrieve(self, response_id: str, **params: Any) -> RawResponse[Response]:
        """:meth:`AsyncResponses.retrieve` (not streamed), with its response."""
        _not_streamed(params)
        return await read_raw(self._responses.retrieve(response_id, **params))

    async def delete(self, response_id: str, **params: Any) -> RawResponse[Any]:
        """:meth:`AsyncResponses.delete`, with its response."""
        return await read_raw(self._responses.delete(response_id, **params))


def _not_streamed(params: Mapping[str, Any]) -> None:
    if params.get("stream"):
        raise ValueError(
            "with_raw_response is for answers read whole: a stream has its HTTP response "
            "as stream.response"
        )


def _path_id(response_id: str) -> str:
    """An id as one path segment (an id with ``/`` or ``?`` must not change the URL)."""
    if not response_id or not isinstance(response_id, str):
        raise ValueError(f"response_id must be a non-empty string, got {response_id!r}")
    return urllib.parse.quote(response_id, safe="")


def _response(raw: bytes, response: aiohttp.ClientResponse) -> Response:
    """Decode a non-streamed response (an error body, or a failed response, raises)."""
    try:
        result = decode_response(raw)
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
