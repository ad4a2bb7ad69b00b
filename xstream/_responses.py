"""``client.responses``: the Responses API (``POST /v1/responses``), streamed or not."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Literal, overload

import aiohttp
import msgspec

from ._errors import APIError, NotStreamedError, error_message, stream_error
from ._response_stream import ResponseStream, decode_response
from ._response_types import Response, as_input
from ._timeouts import NOT_GIVEN, TimeoutTypes
from ._transport import Transport, decode_body

__all__ = ["AsyncResponses"]


class AsyncResponses:
    """``client.responses``: ``create``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

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
        )
        try:
            opened = await transport.open(request, stream=stream)
        except NotStreamedError as exc:
            with contextlib.suppress(ValueError):
                exc.completion = decode_response(exc.raw)
            raise
        if not stream:
            return await transport.read_json(opened, _response)
        return ResponseStream(transport, opened)


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
