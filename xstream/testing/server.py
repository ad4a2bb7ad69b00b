"""The built-in server itself: :class:`MockServer` routes each request, records it,
answers it as the next scripted :class:`~.script.Reply` says (chat completions,
deferred completions, the Responses API, scripted errors), and runs on an event
loop, on its own thread, or in the foreground (:func:`serve`).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import threading
import uuid
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

import msgspec
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from .responses import MockResponses
from .script import RecordedRequest, Reply, _build_completion, _build_payloads, _resolve, _Script
from .strict import XAI_MODELS, refusal
from .wire import _ENCODER, _build_plan, _dumps_for, _encode_events, _Writer
from .ws import is_websocket, serve_websocket

_CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
_DEFERRED_PATHS = ("/v1/chat/deferred-completion/", "/chat/deferred-completion/")

_ERRORS: Mapping[int, tuple[str, str, str]] = {  # status -> (type, code, message)
    400: ("invalid_request_error", "invalid_request", "The request is not valid."),
    401: ("authentication_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", "permission_denied", "You do not have access to this model."),
    404: ("not_found_error", "model_not_found", "The model does not exist."),
    409: ("conflict_error", "conflict", "The request conflicts with another request."),
    422: ("invalid_request_error", "unprocessable_entity", "The request could not be processed."),
    429: (
        "rate_limit_error",
        "rate_limit_exceeded",
        "Rate limit reached. Retry after a short wait.",
    ),
    500: ("server_error", "internal_error", "The server had an error processing your request."),
    502: ("server_error", "bad_gateway", "Bad gateway."),
    503: ("overloaded_error", "overloaded", "The server is overloaded"),
    504: ("server_error", "gateway_timeout", "The upstream server timed out."),
}


# --------------------------------------------------------------------------- server


class MockServer:
    """An OpenAI-compatible server on a real socket: chat completions, and the
    Responses API (``responses``: see :class:`MockResponses`).

    Strict by default, as xAI is (see :mod:`.strict`): an unknown model is a 404,
    a path without ``/v1`` a 404, invalid parameters and a missing (or, with
    ``api_key``, a wrong) key a 400, in xAI's flat error shape. ``models`` adds
    names to xAI's; ``strict=False`` forgives all of it.

    >>> async def demo() -> None:
    ...     async with MockServer() as srv:
    ...         srv.enqueue(Reply(text="Hello", chunk_size=2))
    ...         print(srv.base_url)  # http://127.0.0.1:PORT/v1
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        default: Reply | None = None,
        *,
        strict: bool = True,
        models: Iterable[str] = (),
        api_key: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.strict = strict
        self.models = XAI_MODELS | frozenset(models)
        self.api_key = api_key
        self.default: Reply = default if default is not None else Reply()
        self.requests: list[RecordedRequest] = []
        self.open_streams = 0
        self.closed_by_client = 0
        self.connections_seen = 0
        # deque append/popleft are atomic, so enqueue() works from any thread.
        self._queue: deque[Reply] = deque()
        self._transports: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        self._runner: web.AppRunner | None = None
        self._closing = False
        # The Responses API: stored responses, scripted cuts, what came back changed.
        self.responses = MockResponses()
        # xAI's deferred chat completions: how many polls answer 202 before the result.
        self.deferred_polls = 1
        self._deferred: dict[str, list[Any]] = {}
        self.ws_setup_delay = 0.0  # seconds before each WebSocket upgrade (see testing/ws.py)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, once started."""
        if self._runner is None:
            raise RuntimeError("the server is not running: use `async with MockServer()`")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def enqueue(self, *replies: Reply) -> None:
        """Script the next requests, in order; ``default`` answers once these run out."""
        self._queue.extend(replies)

    async def wait_until_idle(self) -> None:
        """Wait, from any event loop, until no stream is being written.

        Bound it yourself: ``await asyncio.wait_for(srv.wait_until_idle(), 2)``.
        """
        while self.open_streams:  # noqa: ASYNC110 - a counter, maybe read from another thread
            await asyncio.sleep(0.005)

    async def start(self) -> None:
        """Bind and start serving; ``port=0`` picks a free port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that leaves cancels its handler at once.
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=0.5,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = runner.addresses[0][1]
        self._runner, self._closing = runner, False

    async def close(self) -> None:
        """Stop serving; streams still held open (stalls, trickles) end at once."""
        runner, self._runner = self._runner, None
        if runner is not None:
            self._closing = True
            await runner.cleanup()

    async def __aenter__(self) -> MockServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @classmethod
    @contextlib.contextmanager
    def running_in_thread(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        default: Reply | None = None,
        **options: Any,
    ) -> Iterator[MockServer]:
        """Run a server on its own event loop in a daemon thread, for sync code.

        >>> with MockServer.running_in_thread() as srv:
        ...     srv.enqueue(Reply(text="hi"))
        """
        server = cls(host, port, default, **options)
        thread = _ServerThread(server)
        thread.start()
        thread.wait_started()
        try:
            yield server
        finally:
            thread.stop()

    # -- request handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if is_websocket(request):  # the Responses API's WebSocket mode: see testing/ws.py
            return await serve_websocket(self, request)
        record = await self._record(request)
        if self.strict:
            refused = refusal(
                request.method,
                request.path,
                request.headers,
                record.json,
                models=self.models,
                api_key=self.api_key,
            )
            if refused is not None:
                return refused
        if "/responses" in request.path and request.path.startswith(
            ("/v1/responses", "/responses")
        ):
            reply = self._queue.popleft() if self._queue else self.default
            if reply.status != 200 or reply.body is not None:
                return _plain_response(reply)
            return await self.responses.handle(
                request, record.json, reply.text, reply.chunk_size, reply.tool_calls
            )
        if request.path.startswith(_DEFERRED_PATHS):
            return self._deferred_result(request.path.rsplit("/", 1)[-1])
        if request.path not in _CHAT_PATHS:
            return _error_response(
                404, f"No route for {request.method} {request.path}", code="not_found"
            )
        if request.method != "POST":
            return _error_response(405, "Use POST")
        if not isinstance(record.json, dict):
            return _error_response(400, "The request body is not a JSON object")
        reply = self._queue.popleft() if self._queue else self.default
        streaming = reply.status == 200 and reply.body is None and record.json.get("stream")
        if reply.first_delay and not streaming:
            await asyncio.sleep(reply.first_delay)  # a stream waits after its headers instead
        if reply.status != 200 or reply.body is not None:
            return _plain_response(reply)
        script = _resolve(reply, record.json)
        if record.json.get("deferred") and not streaming:
            request_id = f"deferred-{uuid.uuid4().hex[:12]}"
            self._deferred[request_id] = [self.deferred_polls, _build_completion(script)]
            return web.json_response({"request_id": request_id})
        if streaming:
            return await self._stream(request, reply, script)
        body = _dumps_for(reply)(_build_completion(script))
        return web.Response(body=body, headers=_headers(reply, "application/json"))

    def _deferred_result(self, request_id: str) -> web.Response:
        """202 while "working", then the completion, once (as xAI hands it out once)."""
        pending = self._deferred.get(request_id)
        if pending is None:
            return _error_response(404, f"No deferred completion {request_id!r}")
        if pending[0] > 0:
            pending[0] -= 1
            return web.Response(status=202)
        del self._deferred[request_id]
        return web.json_response(pending[1])

    async def _record(self, request: web.Request) -> RecordedRequest:
        transport = request.transport
        if transport is not None and transport not in self._transports:
            self._transports.add(transport)
            self.connections_seen += 1
        body = await request.read()
        try:
            parsed = msgspec.json.decode(body) if body else None
        except msgspec.DecodeError:
            parsed = None
        record = RecordedRequest(
            request.method,
            request.path,
            CIMultiDictProxy(CIMultiDict(request.headers)),
            body,
            parsed,
        )
        self.requests.append(record)
        return record

    async def _stream(
        self, request: web.Request, reply: Reply, script: _Script
    ) -> web.StreamResponse:
        plan = _build_plan(_encode_events(_build_payloads(script), reply), reply, script)
        resp = web.StreamResponse(headers=_headers(reply, "text/event-stream"))
        self.open_streams += 1
        try:
            await resp.prepare(request)
            writer = _Writer(resp, request, reply, lambda: self._closing)
            if await writer.run(plan):
                await resp.write_eof()
        except ConnectionError:
            self.closed_by_client += 1  # aiohttp ends the response quietly after this
        except asyncio.CancelledError:
            if not self._closing:
                self.closed_by_client += 1
            raise
        finally:
            self.open_streams -= 1
        return resp


def _headers(reply: Reply, content_type: str) -> CIMultiDict[str]:
    headers = CIMultiDict({"Content-Type": reply.content_type or content_type})
    if content_type == "text/event-stream":
        headers["Cache-Control"] = "no-cache"
    headers.update(reply.headers)
    return headers


def _error_body(status: int, message: str | None = None, code: str | None = None) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = f"HTTP {status}"
    kind, status_code, default_message = _ERRORS.get(status, ("api_error", str(status), phrase))
    error = {"message": message or default_message, "type": kind, "code": code or status_code}
    return _ENCODER.encode({"error": error})


def _error_response(status: int, message: str, code: str | None = None) -> web.Response:
    return web.Response(
        status=status, body=_error_body(status, message, code), content_type="application/json"
    )


def _plain_response(reply: Reply) -> web.Response:
    """A scripted status (and body): errors, or a 200 with a body of the test's choosing."""
    body = reply.body
    if body is None:
        body = _error_body(reply.status) if reply.status >= 400 else b""
    data = body.encode() if isinstance(body, str) else body
    return web.Response(status=reply.status, body=data, headers=_headers(reply, "application/json"))


class _ServerThread(threading.Thread):
    """A daemon thread running one MockServer on its own event loop until stop()."""

    def __init__(self, server: MockServer) -> None:
        super().__init__(name="xstream-mock-server", daemon=True)
        self._server = server
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # handed over to the caller's thread
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop, self._stop_requested = asyncio.get_running_loop(), asyncio.Event()
        await self._server.start()
        self._ready.set()
        try:
            await self._stop_requested.wait()
        finally:
            await self._server.close()

    def wait_started(self) -> None:
        """Block until the server listens; raise what stopped it from starting."""
        self._ready.wait()
        if self._error is not None:
            self.join()
            raise self._error

    def stop(self) -> None:
        """Close the server, end the loop and join; raise what went wrong meanwhile."""
        loop, event = self._loop, self._stop_requested
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(event.set)
        self.join()
        if self._error is not None:
            raise self._error


def serve(
    host: str = "127.0.0.1", port: int = 8000, *, default: Reply | None = None, strict: bool = True
) -> None:
    """Serve in the foreground until Ctrl-C (``strict=False``: as lenient as before).

    >>> serve(port=8000)  # doctest: +SKIP
    xstream mock server on http://127.0.0.1:8000/v1 (Ctrl-C to stop)
    """

    async def main() -> None:
        async with MockServer(host, port, default, strict=strict) as srv:
            print(f"xstream mock server on {srv.base_url} (Ctrl-C to stop)", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


async def _mock_server() -> AsyncIterator[MockServer]:
    async with MockServer() as srv:
        yield srv
