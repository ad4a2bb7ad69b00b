"""GENERATED from ``xstream/_resources/chat.py`` by ``scripts/unasync.py``: do not edit.

The blocking twin of ``_resources/chat.py``: the same methods, parameters and docstrings,
without async and await; what needs the event loop crosses to the client's loop
thread in :class:`~xstream._sync.api.SyncAPI` and the streams of ``_sync/streams.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar, Unpack, overload

from .._models.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
from .._models.params import CallOptions, ChatCompletionCreateParams, ChatCompletionParams
from .._protocol.chat_state import parse_completion
from .._resources.calls import chat_call, chat_stream_call, deferred_call, read_whole
from .._transport.raw import RawResponse
from .api import SyncAPI
from .chat_events import ChatCompletionStream, ChatCompletionStreamManager
from .streams import Stream
from .tool_runner import ToolRunner

__all__ = ["Chat", "Completions", "CompletionsWithRawResponse", "SyncDeferredCompletion"]

T = TypeVar("T")


class Chat:
    """``client.chat``: holds ``completions``."""

    def __init__(self, api: SyncAPI) -> None:
        self.completions = Completions(api)


class Completions:
    """``client.chat.completions``: ``create``, ``stream``, ``parse``, ``run_tools``."""

    def __init__(self, api: SyncAPI) -> None:
        self._api = api

    @property
    def conversation_id(self) -> str | None:
        """Sent as ``x-grok-conv-id`` with every call that names none (the client's)."""
        return self._api.conversation_id

    @property
    def with_raw_response(self) -> CompletionsWithRawResponse:
        """``create`` answering a :class:`RawResponse`: headers, status, request id."""
        return CompletionsWithRawResponse(self._api)

    @overload
    def create(
        self,
        *,
        stream: Literal[False] = False,
        deferred: Literal[True],
        **params: Unpack[ChatCompletionCreateParams],
    ) -> SyncDeferredCompletion: ...

    @overload
    def create(
        self,
        *,
        stream: Literal[False] = False,
        deferred: Literal[False] = False,
        **params: Unpack[ChatCompletionCreateParams],
    ) -> ChatCompletion: ...

    @overload
    def create(
        self,
        *,
        stream: Literal[True],
        deferred: Literal[False] = False,
        **params: Unpack[ChatCompletionCreateParams],
    ) -> Stream[ChatCompletionChunk]: ...

    @overload
    def create(
        self,
        *,
        stream: bool,
        deferred: Literal[False] = False,
        **params: Unpack[ChatCompletionCreateParams],
    ) -> ChatCompletion | Stream[ChatCompletionChunk]: ...

    def create(
        self,
        *,
        stream: bool = False,
        deferred: bool = False,
        **params: Unpack[ChatCompletionCreateParams],
    ) -> ChatCompletion | Stream[ChatCompletionChunk] | SyncDeferredCompletion:
        """Create a chat completion; with ``stream=True``, a stream of chunks (``Stream``);
        with xAI's ``deferred=True``, a :class:`SyncDeferredCompletion` to collect later.

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
            request_id: str = api.call(call)
            return SyncDeferredCompletion(api, request_id, params)
        result: ChatCompletion | Stream[ChatCompletionChunk] = api.call(call)
        return result

    @overload
    def stream(
        self,
        *,
        response_format: type[T],
        tools: Iterable[Any] | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> ChatCompletionStreamManager[T]: ...

    @overload
    def stream(
        self,
        *,
        response_format: Mapping[str, Any] | None = None,
        tools: Iterable[Any] | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> ChatCompletionStreamManager[None]: ...

    def stream(
        self,
        *,
        response_format: type[T] | Mapping[str, Any] | None = None,
        tools: Iterable[Any] | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> ChatCompletionStreamManager[T] | ChatCompletionStreamManager[None]:
        """Stream typed events (``content.delta``, ``tool_calls.function.arguments.done``...)::

            with client.chat.completions.stream(model=..., messages=...) as stream:
                for event in stream:
                    if event.type == "content.delta":
                        print(event.delta, end="")
            completion = stream.get_final_completion()

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

        def open() -> ChatCompletionStream[T]:
            chunks: Stream[ChatCompletionChunk] = api.call(call)
            return ChatCompletionStream(chunks, state())

        return ChatCompletionStreamManager(open)

    @overload
    def parse(
        self,
        *,
        response_format: type[T],
        tools: Iterable[Any] | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> ParsedChatCompletion[T]: ...

    @overload
    def parse(
        self,
        *,
        response_format: Mapping[str, Any] | None = None,
        tools: Iterable[Any] | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> ParsedChatCompletion[None]: ...

    def parse(
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
        completion: ChatCompletion = api.call(call)
        return parse_completion(completion, state())

    def run_tools(
        self,
        *,
        tools: Iterable[Callable[..., Any]],
        max_rounds: int = 10,
        response_format: type[Any] | Mapping[str, Any] | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> ToolRunner:
        """Stream, run the tools the model calls, send their results back, and go on
        until the model answers (at most ``max_rounds`` requests).

        ``tools`` are plain or ``async`` functions; each is declared from its
        signature and docstring, and is called as soon as its call's arguments are
        complete (a plain function in a worker thread), while the model goes on::

            runner = client.chat.completions.run_tools(model=..., messages=..., tools=[get_weather])
            for event in runner:
                ...
            completion = runner.get_final_completion()
        """
        return ToolRunner(
            self._api,
            tools=tools,
            max_rounds=max_rounds,
            params=params,
            response_format=response_format,
        )


class CompletionsWithRawResponse:
    """``client.chat.completions.with_raw_response``: ``.create(...)`` returns a
    :class:`RawResponse` whose ``parse()`` is the ``ChatCompletion``. For answers read
    whole; a stream has its response already (``stream.response``)."""

    def __init__(self, api: SyncAPI) -> None:
        self._api = api

    def create(self, **params: Unpack[ChatCompletionCreateParams]) -> RawResponse[ChatCompletion]:
        """:meth:`Completions.create` (same arguments, not streamed), with its response."""
        api = self._api
        call = chat_call(read_whole(params), stream=False, conversation_id=api.conversation_id)
        return api.call_raw(call)


class SyncDeferredCompletion:
    """A chat completion the server works on in the background (xAI's
    ``deferred=True``): ``handle.result()`` polls
    ``GET /chat/deferred-completion/{request_id}``, which answers 202 until it is
    ready, and returns the ``ChatCompletion`` (the server hands it out once)."""

    def __init__(self, api: SyncAPI, request_id: str, options: CallOptions) -> None:
        self._api = api
        self.request_id = request_id
        self._options: CallOptions = {"timeout": options["timeout"]} if "timeout" in options else {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.request_id}>"

    def result(
        self, *, timeout: float | None = 900.0, poll_interval: float = 1.0
    ) -> ChatCompletion:
        """Wait for the completion, polling every ``poll_interval`` seconds, for at
        most ``timeout`` seconds in all (:class:`TotalTimeoutError` after that)."""
        call = deferred_call(self.request_id, self._options)
        completion: ChatCompletion = self._api.poll(
            call,
            interval=poll_interval,
            timeout=timeout,
            what=f"deferred completion {self.request_id}",
        )
        return completion
