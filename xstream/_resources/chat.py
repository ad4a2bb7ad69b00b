"""``client.chat.completions``: create, stream, parse, run_tools.

This file is the source of its blocking twin, ``xstream/_sync/chat.py``, which
``scripts/unasync.py`` generates from it (``python scripts/unasync.py``; a test
fails when the twin is stale). Keep the methods thin: what is sent is built in
:mod:`~xstream._resources.calls`, the sending is the pipeline's (``self._api``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar, Unpack, overload

from .._models.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
from .._models.params import CallOptions, ChatCompletionCreateParams, ChatCompletionParams
from .._protocol.chat_state import parse_completion
from .._streams.chat import AsyncStream
from .._streams.chat_events import AsyncChatCompletionStream, AsyncChatCompletionStreamManager
from .._transport.raw import RawResponse
from .api import AsyncAPI
from .calls import chat_call, chat_stream_call, deferred_call, read_whole
from .tool_runner import AsyncToolRunner

__all__ = ["AsyncChat", "AsyncCompletions", "AsyncCompletionsWithRawResponse", "DeferredCompletion"]

T = TypeVar("T")


class AsyncChat:
    """``client.chat``: holds ``completions``."""

    def __init__(self, api: AsyncAPI) -> None:
        self.completions = AsyncCompletions(api)


class AsyncCompletions:
    """``client.chat.completions``: ``create``, ``stream``, ``parse``, ``run_tools``."""

    def __init__(self, api: AsyncAPI) -> None:
        self._api = api

    @property
    def conversation_id(self) -> str | None:
        """Sent as ``x-grok-conv-id`` with every call that names none (the client's)."""
        return self._api.conversation_id

    @property
    def with_raw_response(self) -> AsyncCompletionsWithRawResponse:
        """``create`` answering a :class:`RawResponse`: headers, status, request id."""
        return AsyncCompletionsWithRawResponse(self._api)

    @overload
    async def create(
        self,
        *,
        stream: Literal[False] = False,
        deferred: Literal[True],
        **params: Unpack[ChatCompletionCreateParams],
    ) -> DeferredCompletion: ...

    @overload
    async def create(
        self,
        *,
        stream: Literal[False] = False,
        deferred: Literal[False] = False,
        **params: Unpack[ChatCompletionCreateParams],
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        stream: Literal[True],
        deferred: Literal[False] = False,
        **params: Unpack[ChatCompletionCreateParams],
    ) -> AsyncStream[ChatCompletionChunk]: ...

    @overload
    async def create(
        self,
        *,
        stream: bool,
        deferred: Literal[False] = False,
        **params: Unpack[ChatCompletionCreateParams],
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]: ...

    async def create(
        self,
        *,
        stream: bool = False,
        deferred: bool = False,
        **params: Unpack[ChatCompletionCreateParams],
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk] | DeferredCompletion:
        """Create a chat completion; with ``stream=True``, a stream of chunks (``AsyncStream``);
        with xAI's ``deferred=True``, a :class:`DeferredCompletion` to collect later.

        The API's parameters (``temperature``, ``tools``, ``stream_options``, ...,
        declared in :class:`~xstream._models.params.ChatCompletionCreateParams`) are
        keyword arguments; unset or ``None`` ones are not sent, a misspelt one is a
        ``TypeError`` (and a mypy error); others go in ``extra_body``. Per call:
        ``extra_headers``, ``extra_body`` (merged into the JSON last), ``timeout``
        (seconds or a :class:`Timeout`), ``max_retries`` (default: the client's)
        and ``conversation_id``: sent as xAI's ``x-grok-conv-id`` header, which keeps
        the turns of one conversation on the same prompt cache (default: the client's).
        """
        api = self._api
        call = chat_call(
            params, stream=stream, deferred=deferred, conversation_id=api.conversation_id
        )
        if deferred and not stream:
            request_id: str = await api.call(call)
            return DeferredCompletion(api, request_id, params)
        result: ChatCompletion | AsyncStream[ChatCompletionChunk] = await api.call(call)
        return result

    @overload
    def stream(
        self,
        *,
        response_format: type[T],
        tools: Iterable[Any] | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> AsyncChatCompletionStreamManager[T]: ...

    @overload
    def stream(
        self,
        *,
        response_format: Mapping[str, Any] | None = None,
        tools: Iterable[Any] | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> AsyncChatCompletionStreamManager[None]: ...

    def stream(
        self,
        *,
        response_format: type[T] | Mapping[str, Any] | None = None,
        tools: Iterable[Any] | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> AsyncChatCompletionStreamManager[T] | AsyncChatCompletionStreamManager[None]:
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
        api = self._api
        call, state = chat_stream_call(
            params, response_format, tools, conversation_id=api.conversation_id
        )

        async def open() -> AsyncChatCompletionStream[T]:
            chunks: AsyncStream[ChatCompletionChunk] = await api.call(call)
            return AsyncChatCompletionStream(chunks, state())

        return AsyncChatCompletionStreamManager(open)

    @overload
    async def parse(
        self,
        *,
        response_format: type[T],
        tools: Iterable[Any] | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> ParsedChatCompletion[T]: ...

    @overload
    async def parse(
        self,
        *,
        response_format: Mapping[str, Any] | None = None,
        tools: Iterable[Any] | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> ParsedChatCompletion[None]: ...

    async def parse(
        self,
        *,
        response_format: type[T] | Mapping[str, Any] | None = None,
        tools: Iterable[Any] | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> ParsedChatCompletion[T] | ParsedChatCompletion[None]:
        """:meth:`create` without streaming, the answer parsed: ``message.parsed`` is
        a ``response_format`` type's instance, tool calls carry ``parsed_arguments``.

        Raises :class:`RefusalError` when the model refused, :class:`OutputValidationError`
        when the content does not fit the type, :class:`LengthFinishReasonError` when
        it was cut at the token limit (each keeps the text and the completion).
        """
        api = self._api
        call, state = chat_stream_call(
            params, response_format, tools, conversation_id=api.conversation_id, method="parse"
        )
        completion: ChatCompletion = await api.call(call)
        return parse_completion(completion, state())

    def run_tools(
        self,
        *,
        tools: Iterable[Callable[..., Any]],
        max_rounds: int = 10,
        response_format: type[Any] | Mapping[str, Any] | None = None,
        **params: Unpack[ChatCompletionParams],
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
            self._api,
            tools=tools,
            max_rounds=max_rounds,
            params=params,
            response_format=response_format,
        )


class AsyncCompletionsWithRawResponse:
    """``client.chat.completions.with_raw_response``: ``await .create(...)`` returns a
    :class:`RawResponse` whose ``parse()`` is the ``ChatCompletion``. For answers read
    whole; a stream has its response already (``stream.response``)."""

    def __init__(self, api: AsyncAPI) -> None:
        self._api = api

    async def create(
        self, **params: Unpack[ChatCompletionCreateParams]
    ) -> RawResponse[ChatCompletion]:
        """:meth:`AsyncCompletions.create` (same arguments, not streamed), with its response."""
        api = self._api
        call = chat_call(read_whole(params), stream=False, conversation_id=api.conversation_id)
        return await api.call_raw(call)


class DeferredCompletion:
    """A chat completion the server works on in the background (xAI's
    ``deferred=True``): ``await handle.result()`` polls
    ``GET /chat/deferred-completion/{request_id}``, which answers 202 until it is
    ready, and returns the ``ChatCompletion`` (the server hands it out once)."""

    def __init__(self, api: AsyncAPI, request_id: str, options: CallOptions) -> None:
        self._api = api
        self.request_id = request_id
        self._options: CallOptions = {"timeout": options["timeout"]} if "timeout" in options else {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.request_id}>"

    async def result(
        self, *, timeout: float | None = 900.0, poll_interval: float = 1.0
    ) -> ChatCompletion:
        """Wait for the completion, polling every ``poll_interval`` seconds, for at
        most ``timeout`` seconds in all (:class:`TotalTimeoutError` after that)."""
        call = deferred_call(self.request_id, self._options)
        completion: ChatCompletion = await self._api.poll(
            call,
            interval=poll_interval,
            timeout=timeout,
            what=f"deferred completion {self.request_id}",
        )
        return completion
