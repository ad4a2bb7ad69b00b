"""Client: the same API, blocking, for scripts and notebooks.

There is no second implementation of the protocol: each ``Client`` runs one
``AsyncClient`` on a private event loop in a background thread (an anyio
blocking portal, :mod:`xstream._portal`), started on first use. A stream
crosses threads once per network read, handing over the bytes that read
brought; they are decoded on the calling thread, so no item waits for another
and the per-item cost stays that of the async path. Because the loop is our own, the sync API also works
where the calling thread already runs a loop (Jupyter, sync code called from
``async def``).
"""

from __future__ import annotations

import builtins
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Mapping
from typing import Any, Literal, TypeVar, overload

from .._client import AsyncClient
from .._config.timeouts import NOT_GIVEN, Timeout, TimeoutTypes
from .._models.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion, message_list
from .._models.responses import ParsedResponse, Response
from .._protocol.chat_events import ChatCompletionStreamEvent
from .._resources.chat import DeferredCompletion
from .._resources.tool_runner import AsyncToolRunner, ToolResultEvent
from .._sse.decoder import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent
from .._streams.chat import AsyncStream
from .._streams.events import DEFAULT_MAX_RECONNECTS, EventStream
from .._streams.responses import ResponseStream
from .._telemetry.telemetry import Telemetry
from .._transport.raw import RawResponse
from .portal import LoopThread
from .streams import (
    ChatCompletionStream,
    ChatCompletionStreamManager,
    Stream,
    SyncEventStream,
    SyncParsedResponseStream,
    SyncResponseStream,
    SyncResponseStreamManager,
)

__all__ = ["Client", "Stream", "ToolRunner"]

_T = TypeVar("_T")
_R = TypeVar("_R")


class Client:
    """A blocking client with the same API as :class:`AsyncClient`.

    >>> client = Client()                                     # doctest: +SKIP
    >>> for chunk in client.chat.completions.create(model="grok-2-latest",
    ...         messages=[{"role": "user", "content": "Hi"}], stream=True):
    ...     print(chunk.choices[0].delta.content or "", end="")

    Close it (``with Client() as client:`` or ``client.close()``) to stop its
    loop thread; a client that is never closed is cleaned up when collected
    or at exit, with a ``ResourceWarning``. Safe to use from several threads.
    :meth:`with_options` makes a client with other defaults over the same loop
    thread and connection pool.
    """

    _parent: Client | None = None  # the client whose loop and pool a derived one uses
    _finalizer: weakref.finalize[Any, Any]

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        max_connections: int = 1000,
        conversation_id: str | None = None,
        telemetry: Telemetry | bool = True,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        self._async = AsyncClient(
            api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            max_event_bytes=max_event_bytes,
            max_connections=max_connections,
            conversation_id=conversation_id,
            telemetry=telemetry,
            proxy=proxy,
            trust_env=trust_env,
        )
        self._loop = LoopThread()
        self._finalizer = weakref.finalize(self, _stop_unclosed, self._loop, self._async)
        self._resources()

    def _resources(self) -> None:
        self.chat = Chat(self._async, self._loop)
        self.responses = Responses(self._async, self._loop)
        self.sse = SSE(self._async, self._loop)

    def with_options(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        max_event_bytes: int | None = None,
        conversation_id: str | None = None,
    ) -> Client:
        """A client with other defaults over this one's loop thread and pool; see
        :meth:`AsyncClient.with_options`. Its ``close()`` leaves both running; this
        client's ``close()`` stops them for both.

        >>> patient = client.with_options(timeout=xstream.Timeout(first_event=1200))  # doctest: +SKIP
        """
        derived = Client.__new__(Client)
        derived._async = self._async.with_options(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            max_event_bytes=max_event_bytes,
            conversation_id=conversation_id,
        )
        derived._loop = self._loop
        derived._parent = self  # keeps the loop's owner (and its finalizer) alive
        derived._finalizer = weakref.finalize(derived, _no_op)
        derived._resources()
        return derived

    @property
    def base_url(self) -> str:
        return self._async.base_url

    @property
    def timeout(self) -> Timeout:
        return self._async.timeout

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop the loop thread (idempotent). A client made
        by :meth:`with_options` only stops taking requests."""
        if self._finalizer.detach() is None:
            return
        if self._parent is not None:
            self._async._transport.detach()
        else:
            self._loop.stop(self._async.aclose)

    def __repr__(self) -> str:
        return f"<xstream.Client base_url={self.base_url!r}>"

    def _run(self, fn: Callable[..., Coroutine[Any, Any, _R]], *args: Any) -> _R:
        """Run ``fn(*args)`` on the loop thread (for helpers built on the client)."""
        return self._loop.run(fn, *args)


def _no_op() -> None:
    """The finalizer of a derived client: its parent cleans up."""


def _stop_unclosed(loop: LoopThread, aclient: AsyncClient) -> None:
    """Finalizer of a client dropped (or alive at exit) without ``close()``."""
    if loop.running:
        warnings.warn(
            "an xstream.Client was not closed: use `with Client() as client:` or client.close()",
            ResourceWarning,
            stacklevel=1,
        )
        loop.stop(aclient.aclose)


class Chat:
    """``client.chat``: holds ``completions``."""

    def __init__(self, client: AsyncClient, loop: LoopThread) -> None:
        self.completions = Completions(client, loop)


class Completions:
    """``client.chat.completions``: ``create``."""

    def __init__(self, client: AsyncClient, loop: LoopThread) -> None:
        self._async = client
        self._loop = loop

    @property
    def with_raw_response(self) -> CompletionsWithRawResponse:
        """``create`` returning a :class:`RawResponse`: headers, status, request id."""
        return CompletionsWithRawResponse(self._async, self._loop)

    @overload
    def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        deferred: Literal[True],
        stream: Literal[False] = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
        **params: Any,
    ) -> SyncDeferredCompletion: ...

    @overload
    def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: Literal[False] = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
        **params: Any,
    ) -> ChatCompletion: ...

    @overload
    def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: Literal[True],
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
        **params: Any,
    ) -> Stream[ChatCompletionChunk]: ...

    @overload
    def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: bool,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
        **params: Any,
    ) -> ChatCompletion | Stream[ChatCompletionChunk]: ...

    def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
        **params: Any,
    ) -> ChatCompletion | Stream[ChatCompletionChunk] | SyncDeferredCompletion:
        """Like :meth:`AsyncCompletions.create`, blocking; ``stream=True`` gives a :class:`Stream`."""
        aclient, loop = self._async, self._loop
        # Checked here, before anything else, as the async client checks it; a list
        # also keeps an iterator from being consumed on another thread.
        messages = message_list(messages)

        async def create() -> (
            ChatCompletion | AsyncStream[ChatCompletionChunk] | DeferredCompletion
        ):
            return await aclient.chat.completions.create(
                model=model,
                messages=messages,
                stream=stream,
                extra_headers=extra_headers,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
                **params,
            )

        result = loop.run(create)
        if isinstance(result, AsyncStream):
            return Stream(loop, result)
        if isinstance(result, DeferredCompletion):
            return SyncDeferredCompletion(loop, result)
        return result

    def stream(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        response_format: type[_R] | Mapping[str, Any] | None = None,
        tools: Iterable[Any] | None = None,
        **params: Any,
    ) -> ChatCompletionStreamManager[_R]:
        """Like :meth:`AsyncCompletions.stream`, blocking: ``with ... as stream: for event in stream``."""
        aclient, loop = self._async, self._loop
        messages = message_list(messages)

        def open() -> ChatCompletionStream[_R]:
            manager = aclient.chat.completions.stream(
                model=model,
                messages=messages,
                response_format=response_format,
                tools=tools,
                **params,
            )
            events = loop.run(manager._open)
            return ChatCompletionStream(loop, events._raw, events._state)

        return ChatCompletionStreamManager(open)

    def parse(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        response_format: type[_R] | Mapping[str, Any] | None = None,
        tools: Iterable[Any] | None = None,
        **params: Any,
    ) -> ParsedChatCompletion[_R]:
        """Like :meth:`AsyncCompletions.parse`, blocking."""
        aclient = self._async
        messages = message_list(messages)

        async def parse() -> ParsedChatCompletion[_R]:
            return await aclient.chat.completions.parse(
                model=model,
                messages=messages,
                response_format=response_format,
                tools=tools,
                **params,
            )

        return self._loop.run(parse)

    def run_tools(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        tools: Iterable[Callable[..., Any]],
        max_rounds: int = 10,
        **params: Any,
    ) -> ToolRunner:
        """Like :meth:`AsyncCompletions.run_tools`, blocking: ``for event in runner``.
        Plain functions run in worker threads, ``async`` ones on the client's loop."""
        runner = self._async.chat.completions.run_tools(
            model=model,
            messages=message_list(messages),
            tools=list(tools),
            max_rounds=max_rounds,
            **params,
        )
        return ToolRunner(self._loop, runner)


class ToolRunner:
    """:class:`AsyncToolRunner`, blocking: ``for event in runner``;
    ``runner.get_final_completion()``; ``runner.messages``."""

    def __init__(self, loop: LoopThread, runner: AsyncToolRunner) -> None:
        self._loop = loop
        self._runner = runner
        self._events = aiter(runner)

    @property
    def messages(self) -> list[Any]:
        return self._runner.messages

    @property
    def rounds(self) -> int:
        return self._runner.rounds

    def __iter__(self) -> Iterator[ChatCompletionStreamEvent[Any] | ToolResultEvent]:
        events = self._events
        try:
            while True:
                try:
                    yield self._loop.run(_next, events)
                except StopAsyncIteration:
                    return
        finally:
            self.close()

    def __enter__(self) -> ToolRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop: the current stream is closed, running tools are cancelled."""
        self._loop.run(self._runner.aclose)

    def get_final_completion(self) -> ParsedChatCompletion[Any]:
        """Run to the end; the completion of the last round."""
        return self._loop.run(self._runner.get_final_completion)


async def _next(events: AsyncIterator[_T]) -> _T:
    return await anext(events)


class CompletionsWithRawResponse:
    """``client.chat.completions.with_raw_response``, blocking; see
    :class:`AsyncCompletionsWithRawResponse`."""

    def __init__(self, client: AsyncClient, loop: LoopThread) -> None:
        self._async = client
        self._loop = loop

    def create(
        self, *, model: str, messages: Iterable[Any], **params: Any
    ) -> RawResponse[ChatCompletion]:
        """``create`` (not streamed), with its HTTP response; ``.parse()`` is the completion."""
        raw = self._async.chat.completions.with_raw_response
        messages = message_list(messages)

        async def create() -> RawResponse[ChatCompletion]:
            return await raw.create(model=model, messages=messages, **params)

        return self._loop.run(create)


class SyncDeferredCompletion:
    """A deferred chat completion, blocking: ``handle.result()``; see
    :class:`DeferredCompletion`."""

    def __init__(self, loop: LoopThread, deferred: DeferredCompletion) -> None:
        self._loop = loop
        self._deferred = deferred
        self.request_id = deferred.request_id

    def __repr__(self) -> str:
        return f"<SyncDeferredCompletion {self.request_id}>"

    def result(
        self, *, timeout: float | None = 900.0, poll_interval: float = 1.0
    ) -> ChatCompletion:
        """Wait for the completion (at most ``timeout`` seconds) and return it."""
        deferred = self._deferred

        async def result() -> ChatCompletion:
            return await deferred.result(timeout=timeout, poll_interval=poll_interval)

        return self._loop.run(result)


class SSE:
    """``client.sse``: call it to open any event stream, blocking."""

    def __init__(self, client: AsyncClient, loop: LoopThread) -> None:
        self._async = client
        self._loop = loop

    @overload
    def __call__(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        type: None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        reconnect: bool | None = None,
        max_reconnects: int = DEFAULT_MAX_RECONNECTS,
        max_retries: int | None = None,
        last_event_id: str | None = None,
    ) -> SyncEventStream[ServerSentEvent]: ...

    @overload
    def __call__(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        type: builtins.type[_T],
        timeout: TimeoutTypes = NOT_GIVEN,
        reconnect: bool | None = None,
        max_reconnects: int = DEFAULT_MAX_RECONNECTS,
        max_retries: int | None = None,
        last_event_id: str | None = None,
    ) -> SyncEventStream[_T]: ...

    @overload
    def __call__(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        type: Any,
        timeout: TimeoutTypes = NOT_GIVEN,
        reconnect: bool | None = None,
        max_reconnects: int = DEFAULT_MAX_RECONNECTS,
        max_retries: int | None = None,
        last_event_id: str | None = None,
    ) -> SyncEventStream[Any]: ...

    def __call__(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        type: Any = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        reconnect: bool | None = None,
        max_reconnects: int = DEFAULT_MAX_RECONNECTS,
        max_retries: int | None = None,
        last_event_id: str | None = None,
    ) -> SyncEventStream[Any]:
        """Open any event stream, blocking: ``client.sse(method, url)``; see ``AsyncClient.sse``.

        >>> for event in client.sse("GET", "/events"):          # doctest: +SKIP
        ...     print(event.id, event.data)
        """
        aclient, loop = self._async, self._loop

        async def open_stream() -> EventStream[Any]:
            stream: EventStream[Any] = await aclient.sse(
                method,
                url,
                json=json,
                params=params,
                headers=headers,
                type=type,
                timeout=timeout,
                reconnect=reconnect,
                max_reconnects=max_reconnects,
                max_retries=max_retries,
                last_event_id=last_event_id,
            )
            return stream

        return SyncEventStream(loop, loop.run(open_stream))


class Responses:
    """``client.responses``: ``create``, ``stream``, ``parse``, ``retrieve``, ``delete``,
    blocking; see :class:`AsyncResponses`."""

    def __init__(self, client: AsyncClient, loop: LoopThread) -> None:
        self._async = client
        self._loop = loop

    @property
    def with_raw_response(self) -> ResponsesWithRawResponse:
        """``create``, ``retrieve``, ``delete`` returning a :class:`RawResponse`."""
        return ResponsesWithRawResponse(self._async, self._loop)

    @overload
    def create(
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
    def create(
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
    ) -> SyncResponseStream: ...

    @overload
    def create(
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
    ) -> Response | SyncResponseStream: ...

    def create(
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
    ) -> Response | SyncResponseStream:
        """Create a model response; with ``stream=True``, a :class:`SyncResponseStream`.

        >>> client.responses.create(model="grok-4", input="Hi").output_text  # doctest: +SKIP
        'Hello!'
        """
        aclient, loop = self._async, self._loop
        if isinstance(input, Iterator):
            input = list(input)  # an iterator must not be consumed on another thread

        async def create() -> Response | ResponseStream:
            return await aclient.responses.create(
                model=model,
                input=input,
                stream=stream,
                extra_headers=extra_headers,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
                **params,
            )

        result = loop.run(create)
        if isinstance(result, ResponseStream):
            return SyncResponseStream(loop, result)
        return result

    @overload
    def retrieve(
        self,
        response_id: str,
        *,
        stream: Literal[False] = False,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> Response: ...

    @overload
    def retrieve(
        self,
        response_id: str,
        *,
        stream: Literal[True],
        starting_after: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> SyncResponseStream: ...

    def retrieve(
        self,
        response_id: str,
        *,
        stream: bool = False,
        starting_after: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> Response | SyncResponseStream:
        """A stored response, or its events again; see :meth:`AsyncResponses.retrieve`."""
        aclient, loop = self._async, self._loop

        async def retrieve() -> Response | ResponseStream:
            if stream:
                return await aclient.responses.retrieve(
                    response_id,
                    stream=True,
                    starting_after=starting_after,
                    extra_headers=extra_headers,
                    timeout=timeout,
                    max_retries=max_retries,
                )
            return await aclient.responses.retrieve(
                response_id, extra_headers=extra_headers, timeout=timeout, max_retries=max_retries
            )

        result = loop.run(retrieve)
        if isinstance(result, ResponseStream):
            return SyncResponseStream(loop, result)
        return result

    def delete(
        self,
        response_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> Any:
        """Delete a stored response; the server's answer."""
        aclient = self._async

        async def delete() -> Any:
            return await aclient.responses.delete(
                response_id, extra_headers=extra_headers, timeout=timeout, max_retries=max_retries
            )

        return self._loop.run(delete)

    def stream(
        self,
        *,
        model: str,
        input: Any,
        text_format: type[_R] | None = None,
        **params: Any,
    ) -> SyncResponseStreamManager[_R]:
        """Like :meth:`AsyncResponses.stream`, blocking: ``with ... as stream: for event in stream``."""
        aclient, loop = self._async, self._loop

        def open() -> SyncParsedResponseStream[_R]:
            manager = aclient.responses.stream(
                model=model, input=input, text_format=text_format, **params
            )
            events = loop.run(manager._open)
            return SyncParsedResponseStream(loop, events.events, text_format)

        return SyncResponseStreamManager(open)

    def parse(
        self,
        *,
        model: str,
        input: Any,
        text_format: type[_R] | None = None,
        **params: Any,
    ) -> ParsedResponse[_R]:
        """Like :meth:`AsyncResponses.parse`, blocking."""
        aclient = self._async

        async def parse() -> ParsedResponse[_R]:
            return await aclient.responses.parse(
                model=model, input=input, text_format=text_format, **params
            )

        return self._loop.run(parse)


class ResponsesWithRawResponse:
    """``client.responses.with_raw_response``, blocking; see
    :class:`AsyncResponsesWithRawResponse`."""

    def __init__(self, client: AsyncClient, loop: LoopThread) -> None:
        self._async = client
        self._loop = loop

    def create(self, *, model: str, input: Any, **params: Any) -> RawResponse[Response]:
        """``create`` (not streamed), with its HTTP response; ``.parse()`` is the Response."""
        raw = self._async.responses.with_raw_response
        if isinstance(input, Iterator):
            input = list(input)  # an iterator must not be consumed on another thread

        async def create() -> RawResponse[Response]:
            return await raw.create(model=model, input=input, **params)

        return self._loop.run(create)

    def retrieve(self, response_id: str, **params: Any) -> RawResponse[Response]:
        """``retrieve`` (not streamed), with its HTTP response."""
        raw = self._async.responses.with_raw_response

        async def retrieve() -> RawResponse[Response]:
            return await raw.retrieve(response_id, **params)

        return self._loop.run(retrieve)

    def delete(self, response_id: str, **params: Any) -> RawResponse[Any]:
        """``delete``, with its HTTP response."""
        raw = self._async.responses.with_raw_response

        async def delete() -> RawResponse[Any]:
            return await raw.delete(response_id, **params)

        return self._loop.run(delete)
