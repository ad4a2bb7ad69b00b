"""The one request pipeline every resource call goes through.

:meth:`AsyncAPI.call` builds the request from a :class:`~xstream._resources.calls.Call`,
marks it for telemetry, sends it (retries, deadlines and error mapping are the
transport's) and either reads and decodes the answer or makes the stream
(``stream_cls``, as the OpenAI SDK's ``post(..., stream_cls=...)`` does). The
sync facade's :class:`~xstream._sync.api.SyncAPI` runs these same methods on its
loop thread: the generated blocking resources call it with the same arguments.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from .._config.timeouts import resolve_timeout
from .._exceptions import NotStreamedError, TotalTimeoutError
from .._streams.ws_session import ResponsesSession
from .._transport.raw import RawResponse, read_raw
from .._transport.request import Opened, Request
from .._transport.transport import Transport
from .calls import Call, response_call

__all__ = ["AsyncAPI"]


class AsyncAPI:
    """Sends :class:`Call` objects over one :class:`Transport`; holds the client's
    defaults the calls need (``conversation_id``)."""

    __slots__ = ("conversation_id", "transport")

    def __init__(self, transport: Transport, *, conversation_id: str | None = None) -> None:
        self.transport = transport
        self.conversation_id = conversation_id

    def build(self, call: Call) -> Request:
        """The transport's request for ``call`` (headers, deadlines, retries resolved)."""
        transport = self.transport
        request = transport.build(
            call.method,
            call.path,
            body=call.body,
            stream=call.stream,
            headers=call.headers,
            params=call.params,
            timeout=call.timeout,
            max_retries=call.max_retries,
        )
        trace = call.trace
        if trace is not None and transport.telemetry is not None:
            made: dict[str, Any] = trace[0](*trace[1:]) if isinstance(trace, tuple) else trace
            transport.trace(request, **made)
        return request

    def responses_session(self, *, max_event_bytes: int | None = None) -> ResponsesSession:
        """A Responses WebSocket session over this pipeline's transport (not yet open)."""
        transport = self.transport

        def build(params: Any) -> Request:
            return self.build(response_call(params, stream=False, method="connect"))

        return ResponsesSession(
            transport,
            build,
            max_event_bytes=max_event_bytes or transport.max_event_bytes,
            max_retries=transport.max_retries,
        )

    async def call(self, call: Call) -> Any:
        """Send ``call``; its answer decoded, or its stream (``call.stream_cls``)."""
        transport = self.transport
        # Its turn in the pool first: a request waiting for a connection is not built yet,
        # and waits in this frame (on one future: no coroutine of the pool's per call).
        turn = transport.room(resolve_timeout(call.timeout, transport.timeout))
        try:
            started = await turn.enter()
        except BaseException:
            turn.abandon()
            raise
        try:
            request = self.build(call)
            opened = await transport.open(
                request, last_event_id=call.last_event_id, started=started
            )
        except NotStreamedError as exc:
            if call.stream_cls is not None:  # as the stream kind does with such a body
                exc.completion = call.stream_cls.salvage(exc.raw)
            raise
        finally:
            turn.leave()
        if call.stream:
            return call.stream_cls(transport, opened, **call.stream_options)
        return await transport.read_json(opened, call.answer)

    async def call_raw(self, call: Call) -> RawResponse[Any]:
        """:meth:`call` for an answer read whole, with the HTTP response it came in."""
        if call.stream:
            raise ValueError(
                "with_raw_response is for answers read whole: a stream has its HTTP "
                "response as stream.response"
            )
        return await read_raw(self.call(call))

    async def poll(self, call: Call, *, interval: float, timeout: float | None, what: str) -> Any:
        """Send ``call`` every ``interval`` seconds while the server answers 202 (not
        ready), for at most ``timeout`` seconds in all; then its answer, decoded."""
        transport = self.transport
        loop = asyncio.get_running_loop()
        request = self.build(call)
        started = request.started = loop.time()
        request.timeout = msgspec.structs.replace(request.timeout, total=timeout)
        while True:
            response, _ = await transport.send(
                request, retries=request.max_retries, started=started
            )
            if response.status != 202:
                return await transport.read_json(Opened(request, response, 0), call.answer)
            response.release()
            if timeout is not None and loop.time() + interval >= started + timeout:
                raise TotalTimeoutError(
                    f"{what} was not ready within {timeout} s", deadline="total", seconds=timeout
                )
            await asyncio.sleep(interval)

    def derive(self, transport: Transport, conversation_id: str | None) -> AsyncAPI:
        """The pipeline of a client made by ``with_options``."""
        return AsyncAPI(transport, conversation_id=conversation_id or self.conversation_id)
