"""``client.responses``: the Responses API (``POST /v1/responses``), streamed or not."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any, Literal, overload

import aiohttp
import msgspec

from ._errors import APIError, NotStreamedError, error_message, stream_error
from ._raw import RawResponse, read_raw
from ._response_stream import ResponseStream, decode_response, response_or_none
from ._response_types import Response, as_input
from ._timeouts import NOT_GIVEN, TimeoutTypes
from ._transport import Transport, decode_body

__all__ = ["AsyncResponses", "AsyncResponsesWithRawResponse"]


class AsyncResponses:
    """``client.responses``: ``create``, ``retrieve``, ``delete``."""

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
