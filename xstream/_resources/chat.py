"""``client.chat.completions``: build the request, send it, read chunks or a completion."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar, overload

import aiohttp
import msgspec

from .._config.timeouts import NOT_GIVEN, Timeout, TimeoutTypes
from .._exceptions import APIError, NotStreamedError, TotalTimeoutError, error_message, stream_error
from .._models.chat import (
    COMPLETION_DECODER,
    ChatCompletion,
    ChatCompletionChunk,
    ParsedChatCompletion,
    decode_lenient,
    encode_request,
    message_list,
)
from .._protocol.chat_state import ChatCompletionStreamState, parse_completion
from .._protocol.schema import is_type, tools_param
from .._protocol.schema import response_format as schema_response_format
from .._streams.chat import AsyncStream, completion_or_none
from .._streams.chat_events import AsyncChatCompletionStream, AsyncChatCompletionStreamManager
from .._transport.errors import decode_body
from .._transport.raw import RawResponse, read_raw
from .._transport.request import Opened
from .._transport.transport import Transport
from .tool_runner import AsyncToolRunner

__all__ = ["AsyncChat", "AsyncCompletions", "AsyncCompletionsWithRawResponse", "DeferredCompletion"]

T = TypeVar("T")


class AsyncChat:
    """``client.chat``: holds ``completions``."""

    def __init__(self, transport: Transport, *, conversation_id: str | None = None) -> None:
        self.completions = AsyncCompletions(transport, conversation_id=conversation_id)


class AsyncCompletions:
    """``client.chat.completions``: ``create``, ``stream``, ``parse``, ``run_tools``."""

    def __init__(self, transport: Transport, *, conversation_id: str | None = None) -> None:
        self._transport = transport
        self.conversation_id = conversation_id

    @property
    def with_raw_response(self) -> AsyncCompletionsWithRawResponse:
        """``create`` answering a :class:`RawResponse`: headers, status, request id."""
        return AsyncCompletionsWithRawResponse(self)

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        deferred: Literal[True],
        stream: Literal[False] = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        conversation_id: str | None = None,
        **params: Any,
    ) -> DeferredCompletion: ...

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
        conversation_id: str | None = None,
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
        conversation_id: str | None = None,
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
        conversation_id: str | None = None,
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
        # not in the overloads (it arrives through their **params): there, it made
        # mypy answer Any for stream()'s call, which passes **params on
        max_retries: int | None = None,
        conversation_id: str | None = None,
        _accumulate: bool = True,
        **params: Any,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk] | DeferredCompletion:
        """Create a chat completion; with ``stream=True``, an ``AsyncStream`` of chunks;
        with xAI's ``deferred=True``, a :class:`DeferredCompletion` to collect later.

        API parameters (``temperature``, ``tools``, ``stream_options``, ...)
        pass through as keyword arguments; unset ones are not sent. Per call:
        ``extra_headers``, ``extra_body`` (merged into the JSON last),
        ``timeout`` (a number of seconds or a :class:`Timeout`), ``max_retries``
        (default: the client's) and ``conversation_id``: sent as xAI's
        ``x-grok-conv-id`` header, which keeps the turns of one conversation on the
        same prompt cache (default: the client's).
        """
        transport = self._transport
        body = encode_request(model, messages, stream=stream, params=params, extra_body=extra_body)
        conversation = conversation_id or self.conversation_id
        if conversation:
            extra_headers = {"x-grok-conv-id": conversation, **(extra_headers or {})}
        request = transport.build(
            "POST",
            "chat/completions",
            body=body,
            stream=stream,
            headers=extra_headers,
            timeout=timeout,
            max_retries=max_retries,
        )
        if transport.telemetry is not None:
            sent = {**params, **extra_body} if extra_body else params
            transport.trace(
                request, model=model, params=sent, stream=stream, conversation_id=conversation
            )
        try:
            opened = await transport.open(request, stream=stream)
        except NotStreamedError as exc:
            exc.completion = completion_or_none(exc.raw)  # as the stream kind does
            raise
        if params.get("deferred") and not stream:
            answer = await transport.read_json(opened, lambda raw, _: decode_body(raw))
            request_id = answer.get("request_id") if isinstance(answer, dict) else None
            if not isinstance(request_id, str) or not request_id:
                raise APIError(
                    f"a deferred completion was asked for; the answer has no request_id: {str(answer)[:200]}",
                    body=answer,
                )
            return DeferredCompletion(transport, request_id, timeout=request.timeout)
        if not stream:
            return await transport.read_json(opened, _completion)
        return AsyncStream(transport, opened, accumulate=_accumulate)

    def stream(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        response_format: type[T] | Mapping[str, Any] | None = None,
        tools: Iterable[Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        conversation_id: str | None = None,
        **params: Any,
    ) -> AsyncChatCompletionStreamManager[T]:
        """Stream typed events (``content.delta``, ``tool_calls.function.arguments.done``...)::

            async with client.chat.completions.stream(model=..., messages=...) as stream:
                async for event in stream:
                    if event.type == "content.delta":
                        print(event.delta, end="")
            completion = await stream.get_final_completion()

        The parameters are :meth:`create`'s. ``response_format`` may be a type (a
        msgspec Struct, dataclass, TypedDict or pydantic model): a strict JSON schema
        is sent, ``content.delta`` events carry the object so far as ``parsed`` and
        the completion's ``message.parsed`` is a ``T``. ``tools`` may hold types,
        whose calls' arguments are parsed into them.
        """
        structured = _structured(params, response_format, tools)
        messages = message_list(messages)

        async def open() -> AsyncChatCompletionStream[T]:
            raw = await self.create(
                model=model,
                messages=messages,
                stream=True,
                extra_headers=extra_headers,
                extra_body=extra_body,
                timeout=timeout,
                conversation_id=conversation_id,
                _accumulate=False,
                **params,
            )
            return AsyncChatCompletionStream(raw, structured())

        return AsyncChatCompletionStreamManager(open)

    async def parse(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        response_format: type[T] | Mapping[str, Any] | None = None,
        tools: Iterable[Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        conversation_id: str | None = None,
        **params: Any,
    ) -> ParsedChatCompletion[T]:
        """:meth:`create` without streaming, the answer parsed: ``message.parsed`` is
        a ``response_format`` type's instance, tool calls carry ``parsed_arguments``.

        Raises :class:`RefusalError` when the model refused, :class:`OutputValidationError`
        when the content does not fit the type, :class:`LengthFinishReasonError` when
        it was cut at the token limit (each keeps the text and the completion).
        """
        structured = _structured(params, response_format, tools)
        completion = await self.create(
            model=model,
            messages=messages,
            stream=False,
            extra_headers=extra_headers,
            extra_body=extra_body,
            timeout=timeout,
            conversation_id=conversation_id,
            **params,
        )
        return parse_completion(completion, structured())

    def run_tools(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        tools: Iterable[Callable[..., Any]],
        max_rounds: int = 10,
        **params: Any,
    ) -> AsyncToolRunner:
        """Stream, run the tools the model calls, send their results back, and go on
        until the model answers (at most ``max_rounds`` requests).

        ``tools`` are plain or ``async`` functions; each is declared from its
        signature and docstring, and is called as soon as its call's arguments are
        complete (a plain function in a worker thread), while the model goes on::

            runner = client.chat.completions.run_tools(model=..., messages=..., tools=[get_weather])
            async for event in runner:
                ...
            completion = await runner.get_final_completion()
        """
        return AsyncToolRunner(
            self.stream,
            model=model,
            messages=messages,
            tools=tools,
            max_rounds=max_rounds,
            **params,
        )


def _structured(
    params: dict[str, Any], response_format: Any, tools: Iterable[Any] | None
) -> Callable[[], ChatCompletionStreamState[Any]]:
    """Put ``response_format`` / ``tools`` into ``params`` as sent; return what makes
    the state that parses the answer with them."""
    kind = None
    if response_format is not None:
        if is_type(response_format):
            kind = response_format
            params["response_format"] = schema_response_format(response_format)
        else:
            params["response_format"] = response_format
    sent = tools_param(tools) if tools is not None else None  # types become FunctionTools once
    if sent is not None:
        params["tools"] = sent
    return lambda: ChatCompletionStreamState(response_format=kind, tools=sent)


class AsyncCompletionsWithRawResponse:
    """``client.chat.completions.with_raw_response``: ``await .create(...)`` returns a
    :class:`RawResponse` whose ``parse()`` is the ``ChatCompletion``. For answers read
    whole; a stream has its response already (``stream.response``)."""

    def __init__(self, completions: AsyncCompletions) -> None:
        self._completions = completions

    async def create(
        self, *, model: str, messages: Iterable[Any], **params: Any
    ) -> RawResponse[ChatCompletion]:
        """:meth:`AsyncCompletions.create` (same arguments, not streamed), with its response."""
        if params.get("stream") or params.get("deferred"):
            raise ValueError(
                "with_raw_response is for answers read whole: a stream has its HTTP response "
                "as stream.response, a deferred completion its request_id"
            )
        call = self._completions.create(model=model, messages=messages, **params)
        return await read_raw(call)


class DeferredCompletion:
    """A chat completion the server works on in the background (xAI's
    ``deferred=True``): ``await handle.result()`` polls
    ``GET /chat/deferred-completion/{request_id}``, which answers 202 until it is
    ready, and returns the ``ChatCompletion`` (the server hands it out once)."""

    def __init__(self, transport: Transport, request_id: str, *, timeout: Timeout) -> None:
        self._transport = transport
        self.request_id = request_id
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"<DeferredCompletion {self.request_id}>"

    async def result(
        self, *, timeout: float | None = 900.0, poll_interval: float = 1.0
    ) -> ChatCompletion:
        """Wait for the completion, polling every ``poll_interval`` seconds, for at
        most ``timeout`` seconds in all (:class:`TotalTimeoutError` after that)."""
        transport = self._transport
        loop = asyncio.get_running_loop()
        started = loop.time()
        path = f"chat/deferred-completion/{urllib.parse.quote(self.request_id, safe='')}"
        deadlines = msgspec.structs.replace(self._timeout, total=timeout)
        request = transport.build("GET", path, stream=False, timeout=deadlines)
        while True:
            response, _ = await transport.send(
                request, retries=transport.max_retries, started=started
            )
            if response.status != 202:
                opened = Opened(request, response, started, 0)
                return await transport.read_json(opened, _completion)
            response.release()
            if timeout is not None and loop.time() + poll_interval >= started + timeout:
                raise TotalTimeoutError(
                    f"deferred completion {self.request_id} was not ready within {timeout} s",
                    deadline="total",
                    seconds=timeout,
                )
            await asyncio.sleep(poll_interval)


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
