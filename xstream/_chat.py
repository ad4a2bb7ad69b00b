"""``client.chat.completions``: build the request, send it, read chunks or a completion."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any, Literal, overload

import aiohttp
import msgspec

from ._chat_stream import AsyncStream, completion_or_none
from ._errors import APIError, NotStreamedError, error_message, stream_error
from ._timeouts import NOT_GIVEN, TimeoutTypes
from ._transport import Transport, decode_body
from ._types import (
    COMPLETION_DECODER,
    ChatCompletion,
    ChatCompletionChunk,
    decode_lenient,
    encode_request,
)

__all__ = ["AsyncChat", "AsyncCompletions"]


class AsyncChat:
    """``client.chat``: holds ``completions``."""

    def __init__(self, transport: Transport) -> None:
        self.completions = AsyncCompletions(transport)


class AsyncCompletions:
    """``client.chat.completions``: ``create``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: Literal[False] = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: Literal[True],
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> AsyncStream[ChatCompletionChunk]: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: bool,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]: ...

    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        """Create a chat completion; with ``stream=True``, an ``AsyncStream`` of chunks.

        API parameters (``temperature``, ``tools``, ``stream_options``, ...)
        pass through as keyword arguments; unset ones are not sent. Per call:
        ``extra_headers``, ``extra_body`` (merged into the JSON last) and
        ``timeout`` (a number of seconds or a :class:`Timeout`).
        """
        transport = self._transport
        body = encode_request(model, messages, stream=stream, params=params, extra_body=extra_body)
        request = transport.build(
            "POST",
            "chat/completions",
            body=body,
            stream=stream,
            headers=extra_headers,
            timeout=timeout,
        )
        try:
            opened = await transport.open(request, stream=stream)
        except NotStreamedError as exc:
            exc.completion = completion_or_none(exc.raw)
            raise
        if not stream:
            return await transport.read_json(opened, _completion)
        return AsyncStream(transport, opened)


def _completion(raw: bytes, response: aiohttp.ClientResponse) -> ChatCompletion:
    """Decode a non-streamed answer (an error body raises)."""
    try:
        completion = COMPLETION_DECODER.decode(raw)
    except ValueError as exc:
        completion = _refused_completion(raw, response, exc)
    if not completion.choices and error_message(decode_body(raw)) is not None:
        raise stream_error(decode_body(raw), response)
    return completion


def _refused_completion(
    raw: bytes, response: aiohttp.ClientResponse, exc: ValueError
) -> ChatCompletion:
    """A body the strict decoder refused: nulls where defaults belong, or an error."""
    if isinstance(exc, msgspec.ValidationError):
        with contextlib.suppress(ValueError):
            return decode_lenient(raw, ChatCompletion)
    body = decode_body(raw)
    if error_message(body) is not None:
        raise stream_error(body, response) from exc
    raise APIError(
        f"the response is not a chat completion ({exc}); it starts with {raw[:200]!r}",
        body=body,
    ) from exc
