"""``client.responses``: the Responses API (``POST /v1/responses``), streamed or not.

This file is the source of its blocking twin, ``xstream/_sync/responses.py``,
which ``scripts/unasync.py`` generates from it (a test fails when it is stale).
What is sent is built in :mod:`~xstream._resources.calls`; the sending is the
pipeline's (``self._api``).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar, Unpack, overload

from .._models.params import CallOptions, ResponseParams
from .._models.responses import ParsedResponse, Response
from .._streams.response_events import AsyncResponseStream, AsyncResponseStreamManager
from .._streams.responses import ResponseStream
from .._streams.ws_session import ResponsesSession
from .._transport.raw import RawResponse
from .api import AsyncAPI
from .calls import response_call, response_id_call, response_parsed_call
from .response_runner import AsyncResponsesToolRunner

__all__ = ["AsyncResponses", "AsyncResponsesWithRawResponse"]

T = TypeVar("T")


class AsyncResponses:
    """``client.responses``: ``create``, ``stream``, ``parse``, ``retrieve``, ``delete``."""

    def __init__(self, api: AsyncAPI) -> None:
        self._api = api

    @property
    def with_raw_response(self) -> AsyncResponsesWithRawResponse:
        """``create``, ``retrieve`` and ``delete`` answering a :class:`RawResponse`."""
        return AsyncResponsesWithRawResponse(self._api)

    @overload
    async def create(
        self, *, stream: Literal[False] = False, **params: Unpack[ResponseParams]
    ) -> Response: ...

    @overload
    async def create(
        self, *, stream: Literal[True], **params: Unpack[ResponseParams]
    ) -> ResponseStream: ...

    @overload
    async def create(
        self, *, stream: bool, **params: Unpack[ResponseParams]
    ) -> Response | ResponseStream: ...

    async def create(
        self, *, stream: bool = False, **params: Unpack[ResponseParams]
    ) -> Response | ResponseStream:
        """Create a model response; with ``stream=True``, a :class:`ResponseStream`.

        ``input`` is a string or a list of input items (dicts or Structs). The API's
        parameters (``instructions``, ``previous_response_id``, ``tools``,
        ``max_output_tokens``, ``reasoning``, ..., declared in
        :class:`~xstream._models.params.ResponseParams`) are keyword arguments;
        ``None`` ones are not sent, a misspelt one is a ``TypeError``; others go in
        ``extra_body``, merged last; ``timeout`` and ``max_retries`` per call
        (default: the client's).

        >>> response = await client.responses.create(model="grok-4", input="Hi")  # doctest: +SKIP
        >>> response.output_text
        'Hello! How can I help?'
        >>> stream = await client.responses.create(model="grok-4", input="Hi", stream=True)
        >>> async for delta in stream.text_stream:
        ...     print(delta, end="")
        """
        result: Response | ResponseStream = await self._api.call(
            response_call(params, stream=stream)
        )
        return result

    def connect(self, *, max_event_bytes: int | None = None) -> ResponsesSession:
        """A WebSocket session to ``/responses`` (``ws``/``wss`` from the base URL),
        for many turns on one socket; use it as a context manager::

            async with client.responses.connect() as session:
                stream = await session.create(model="grok-4", input="Hi")
                print((await stream.get_final_response()).output_text)

        ``session.create(...)`` takes :meth:`create`'s keywords and returns the same
        :class:`ResponseStream`; ``session.warm(...)`` sends ``generate: false``.
        ``max_event_bytes`` bounds one message (default: the client's).
        """
        return self._api.responses_session(max_event_bytes=max_event_bytes)

    def run_tools(
        self,
        *,
        max_rounds: int = 10,
        session: ResponsesSession | None = None,
        **params: Unpack[ResponseParams],
    ) -> AsyncResponsesToolRunner:
        """Stream a turn, run the function calls the model makes, send their outputs
        back, and go on until the model answers (at most ``max_rounds`` turns).

        ``tools`` holds plain or ``async`` functions, each declared from its signature
        and docstring, and any other tool as a dict (``{"type": "web_search"}``, ...,
        sent as given). A function runs as soon as its call is complete (a plain one
        in a worker thread), while the model goes on; what it returns, or the error it
        raised (arguments that do not fit its parameters included), goes back to the
        model as a ``function_call_output``::

            runner = client.responses.run_tools(model=..., input=..., tools=[get_weather])
            async for event in runner:
                ...
            response = await runner.get_final_response()

        Over HTTP each turn sends the whole conversation (every output item as it
        arrived); with ``session=`` (:meth:`connect`) only the new items, on the
        session's socket.
        """
        return AsyncResponsesToolRunner(
            self._api, max_rounds=max_rounds, params=params, session=session
        )

    @overload
    async def retrieve(
        self,
        response_id: str,
        *,
        stream: Literal[False] = False,
        starting_after: int | None = None,
        **options: Unpack[CallOptions],
    ) -> Response: ...

    @overload
    async def retrieve(
        self,
        response_id: str,
        *,
        stream: Literal[True],
        starting_after: int | None = None,
        **options: Unpack[CallOptions],
    ) -> ResponseStream: ...

    @overload
    async def retrieve(
        self,
        response_id: str,
        *,
        stream: bool,
        starting_after: int | None = None,
        **options: Unpack[CallOptions],
    ) -> Response | ResponseStream: ...

    async def retrieve(
        self,
        response_id: str,
        *,
        stream: bool = False,
        starting_after: int | None = None,
        **options: Unpack[CallOptions],
    ) -> Response | ResponseStream:
        """A stored response (``GET /responses/{id}``); with ``stream=True``, its events
        again (a ``background=True`` response while it runs), after sequence number
        ``starting_after`` when given."""
        call = response_id_call(
            "GET", response_id, options, stream=stream, starting_after=starting_after
        )
        result: Response | ResponseStream = await self._api.call(call)
        return result

    async def delete(self, response_id: str, **options: Unpack[CallOptions]) -> Any:
        """Delete a stored response (``DELETE /responses/{id}``); the server's answer."""
        return await self._api.call(response_id_call("DELETE", response_id, options))

    @overload
    def stream(
        self, *, text_format: type[T], **params: Unpack[ResponseParams]
    ) -> AsyncResponseStreamManager[T]: ...

    @overload
    def stream(
        self, *, text_format: None = None, **params: Unpack[ResponseParams]
    ) -> AsyncResponseStreamManager[None]: ...

    def stream(
        self, *, text_format: type[T] | None = None, **params: Unpack[ResponseParams]
    ) -> AsyncResponseStreamManager[T] | AsyncResponseStreamManager[None]:
        """Stream a response's events as the API sends them (typed, as
        ``create(stream=True)`` gives them)::

            async with client.responses.stream(model=..., input=..., text_format=Trip) as stream:
                async for event in stream:
                    if event.type == "response.output_text.delta":
                        print(event.delta, end="")
            trip = (await stream.get_final_response()).output_parsed

        ``text_format`` (a msgspec Struct, dataclass, TypedDict or pydantic model)
        sends a strict JSON schema as ``text.format``; each
        ``response.output_text.delta`` carries ``parsed``, the object so far, and
        ``snapshot``; ``response.output_text.done`` and the final response's
        ``output_parsed`` the ``T``. ``tools`` may be types (sent as strict
        function tools): their calls' ``response.function_call_arguments.done``
        carries ``parsed_arguments``, and so does each function call of the final
        response (a :class:`ParsedResponseFunctionToolCall`).
        """
        api = self._api
        call, new_state = response_parsed_call(params, text_format, method="stream")

        async def open() -> AsyncResponseStream[T]:
            events: ResponseStream = await api.call(call)
            return AsyncResponseStream(events, new_state())

        return AsyncResponseStreamManager(open)

    @overload
    async def parse(
        self, *, text_format: type[T], **params: Unpack[ResponseParams]
    ) -> ParsedResponse[T]: ...

    @overload
    async def parse(
        self, *, text_format: None = None, **params: Unpack[ResponseParams]
    ) -> ParsedResponse[None]: ...

    async def parse(
        self, *, text_format: type[T] | None = None, **params: Unpack[ResponseParams]
    ) -> ParsedResponse[T] | ParsedResponse[None]:
        """:meth:`create` without streaming, the output text parsed into
        ``text_format`` (``output_parsed``), each function call's arguments into its
        tool's type (``parsed_arguments``). Raises :class:`ToolArgumentsError` for
        arguments that do not fit, :class:`RefusalError`,
        :class:`LengthFinishReasonError` or :class:`OutputValidationError`, which
        keep the response."""
        call, new_state = response_parsed_call(params, text_format, method="parse")
        response: Response = await self._api.call(call)
        return new_state().parse_final(response)


class AsyncResponsesWithRawResponse:
    """``client.responses.with_raw_response``: the calls read whole, each returning a
    :class:`RawResponse` (headers, status, request id; ``parse()`` the usual result).
    A stream has its response already (``stream.response``)."""

    def __init__(self, api: AsyncAPI) -> None:
        self._api = api

    async def create(self, **params: Unpack[ResponseParams]) -> RawResponse[Response]:
        """:meth:`AsyncResponses.create` (same arguments, not streamed), with its response."""
        streamed = bool(params.pop("stream", False))  # type: ignore[typeddict-item]
        return await self._api.call_raw(response_call(params, stream=streamed))

    async def retrieve(
        self, response_id: str, **options: Unpack[CallOptions]
    ) -> RawResponse[Response]:
        """:meth:`AsyncResponses.retrieve` (not streamed), with its response."""
        return await self._api.call_raw(response_id_call("GET", response_id, options))

    async def delete(self, response_id: str, **options: Unpack[CallOptions]) -> RawResponse[Any]:
        """:meth:`AsyncResponses.delete`, with its response."""
        return await self._api.call_raw(response_id_call("DELETE", response_id, options))
