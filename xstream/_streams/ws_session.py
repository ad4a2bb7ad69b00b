"""Responses over one WebSocket (``client.responses.connect()``): many turns, one socket.

Each turn is sent as a ``response.create`` message; the server's messages are its
events, one JSON object each. A task reads the socket and hands each turn's
messages to that turn's :class:`ResponseStream` as event-stream bytes, so a turn
is read by the one engine (deadlines, stats, errors, ``get_final_response``) as
``responses.create(stream=True)`` is. Bounded: a message over ``max_event_bytes``
is refused (:class:`EventTooLargeError`), and the reading task waits while a turn holds more than a few
messages' worth the consumer has not read (the socket then stops being read).

One response in flight per socket: a second :meth:`create` waits until the
turn before it ended (its last event arrived, or its stream was closed).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, Unpack, cast

import aiohttp
import msgspec
from multidict import CIMultiDict, CIMultiDictProxy

from .._exceptions import (
    APIConnectionError,
    EventTooLargeError,
    ProtocolError,
    StreamDisconnectedError,
)
from .._models.params import ResponseParams, ResponseWarmParams
from .._models.responses import Response
from .._transport.request import Opened, Request
from .._transport.transport import Transport
from .._transport.websocket import open_websocket
from .responses import ResponseStream

__all__ = ["ResponsesSession"]

log = logging.getLogger("xstream.responses.session")

_ENDS = frozenset(
    {"response.completed", "response.failed", "response.incomplete", "response.done", "error"}
)
_GOING_AWAY = aiohttp.WSCloseCode.GOING_AWAY


class _Peek(msgspec.Struct):
    type: str = ""


class _RawOut(msgspec.Struct):
    id: str = ""
    output: tuple[msgspec.Raw, ...] = ()


class _Ending(msgspec.Struct):
    response: _RawOut = msgspec.field(default_factory=_RawOut)


_PEEK = msgspec.json.Decoder(_Peek)
_ENDING = msgspec.json.Decoder(_Ending)
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])
_ENCODE = msgspec.json.Encoder().encode


class _Content:
    """A turn's bytes, as the engine reads a body: ``read``, ``read_nowait``,
    ``at_eof``; an error is raised once the bytes before it were read."""

    _buffer = b""  # nothing is ever held behind an error (see received_before_error)

    def __init__(self, limit: int) -> None:
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._limit = limit
        self._eof = False
        self._error: BaseException | None = None
        self._ready = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        self._ready.set()
        if self._size >= self._limit:
            self.room.clear()

    def end(self, error: BaseException | None = None) -> None:
        if not self._eof:
            self._eof, self._error = True, error
        self._ready.set()
        self.room.set()

    def _take(self, n: int) -> bytes:
        data = self._chunks.popleft()
        if 0 < n < len(data):
            data, rest = data[:n], data[n:]
            self._chunks.appendleft(rest)
        self._size -= len(data)
        if self._size < self._limit:
            self.room.set()
        return data

    async def read(self, n: int = -1) -> bytes:
        while not self._chunks:
            if self._eof:
                error, self._error = self._error, None
                if error is not None:
                    raise error
                return b""
            self._ready.clear()
            await self._ready.wait()
        return self._take(n)

    async def readany(self) -> bytes:
        return await self.read()

    def read_nowait(self, n: int = -1) -> bytes:
        return self._take(n) if self._chunks else b""

    def at_eof(self) -> bool:
        return self._eof and not self._chunks and self._error is None


class _TurnBody:
    """What the engine holds as its response for one turn."""

    status = 200
    reason = "OK"
    connection = None  # the socket is the session's, not this turn's

    def __init__(self, url: str, limit: int, on_close: Callable[[], None]) -> None:
        self.url = url
        self.content = _Content(limit)
        self.headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "text/event-stream"}))
        self.closed = False
        self._on_close = on_close

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._on_close()

    def release(self) -> None:
        self.close()


def _frame(message: bytes) -> bytes:
    """One message as one event: its lines as ``data:`` lines."""
    if b"\n" in message or b"\r" in message:
        return b"".join(b"data: " + line + b"\n" for line in message.splitlines()) + b"\n"
    return b"data: " + message + b"\n\n"


class _Turn:
    def __init__(
        self, body: _TurnBody, message: bytes, items: list[msgspec.Raw], store: bool
    ) -> None:
        self.body = body
        self.message = message  # what was sent, for a retry after "going away"
        self.items = items  # the conversation so far, this turn's input included
        self.store = store
        self.messages = 0
        self.finished = asyncio.Event()


class ResponsesSession:
    """One WebSocket to ``/responses``: ``create`` turns, ``warm`` the model.

    >>> async with client.responses.connect() as session:  # doctest: +SKIP
    ...     stream = await session.create(model="grok-4", input="Hi")
    ...     print((await stream.get_final_response()).output_text)

    Turns chain by themselves: each ``create`` without ``previous_response_id``
    continues from the last completed turn. A socket that closes mid-response
    raises :class:`StreamDisconnectedError` after the events that arrived; the
    next ``create`` reconnects, and a ``store=False`` conversation (whose state
    died with the socket) is sent again from the items kept, unchanged.
    """

    def __init__(
        self,
        transport: Transport,
        build: Callable[[Mapping[str, Any]], Request],
        *,
        max_event_bytes: int,
        max_retries: int = 2,
    ) -> None:
        self._transport = transport
        self._build = build
        self._max_event_bytes = max_event_bytes
        self._max_retries = max_retries
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._request: Request | None = None
        self._reader: asyncio.Task[None] | None = None
        self._turn: _Turn | None = None
        self._free = asyncio.Lock()
        self._items: list[msgspec.Raw] = []  # a store=false conversation, as sent and received
        self._fresh = True  # the socket holds no response the next turn could chain to
        self._closed = False
        self._stale = False  # a turn was left unfinished: the next one opens a new socket
        self._previous: str | None = None
        self._reconnects = 0

    @property
    def previous_response_id(self) -> str | None:
        """The id the next turn chains to (the last completed turn's)."""
        return self._previous

    @property
    def reconnects(self) -> int:
        """How many times the session opened a new socket."""
        return self._reconnects

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._ws is not None else "idle"
        return f"<ResponsesSession {state} previous_response_id={self._previous!r}>"

    async def __aenter__(self) -> ResponsesSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the socket (a turn in flight ends with an error)."""
        self._closed = True
        await self._drop(APIConnectionError("the session was closed"))

    # ------------------------------------------------------------ turns

    async def create(self, **params: Unpack[ResponseParams]) -> ResponseStream:
        """Send ``response.create``; the turn's events as :class:`ResponseStream`
        (``responses.create``'s keywords)."""
        return await self._send(dict(params), generate=True)

    async def warm(self, **params: Unpack[ResponseWarmParams]) -> Response:
        """Send ``response.create`` with ``generate: false``: the server loads the
        model, tools and instructions and answers an empty response, which the
        next turn chains to."""
        stream = await self._send(dict(params), generate=False)
        return await stream.get_final_response()

    async def _send(self, params: dict[str, Any], *, generate: bool) -> ResponseStream:
        if self._closed:
            raise APIConnectionError("the session is closed")
        params.setdefault("input", [])
        request = self._build(params)
        await self._free.acquire()  # one response in flight per socket
        try:
            if self._stale or self._ws is None or self._ws.closed:
                await self._connect(request)
            message, items, store = self._message(request, params, generate)
            loop = asyncio.get_running_loop()
            request.started = request.sent = loop.time()
            body = _TurnBody(request.url, 4 * self._max_event_bytes, self._abandon)
            turn = _Turn(body, message, items, store)
            self._turn = turn
            ws = self._ws
            assert ws is not None
            await ws.send_str(message.decode())
        except BaseException:
            self._turn = None
            self._free.release()
            raise
        opened = Opened(request, cast(aiohttp.ClientResponse, body), 0)
        return ResponseStream(self._transport, opened)

    def _message(
        self, request: Request, params: Mapping[str, Any], generate: bool
    ) -> tuple[bytes, list[msgspec.Raw], bool]:
        """The ``response.create`` message for ``request``'s body; the conversation
        a ``store=False`` turn leaves (kept items, then this input); whether stored."""
        fields = _FIELDS.decode(request.body or b"{}")
        fields.pop("stream", None)
        given = bytes(fields.get("input") or b"[]")
        if given.lstrip()[:1] == b'"':  # a string: the user's message
            new = [
                msgspec.Raw(
                    _ENCODE({"type": "message", "role": "user", "content": msgspec.Raw(given)})
                )
            ]
        else:
            new = _ITEMS.decode(given)
        store = params.get("store") is not False
        kept = [] if store else list(self._items)
        sent = new
        if params.get("previous_response_id") is None and self._previous is not None:
            if store or not self._fresh:
                fields["previous_response_id"] = msgspec.Raw(_ENCODE(self._previous))
            elif kept:  # store=false, and the socket that held its state is gone
                log.debug(
                    "store=false conversation on a new socket: its %d kept items are sent "
                    "again, unchanged",
                    len(kept),
                )
                sent = [*kept, *new]
        fields["input"] = msgspec.Raw(b"[" + b",".join(bytes(i) for i in sent) + b"]")
        if not generate:
            fields["generate"] = msgspec.Raw(b"false")
        message = _ENCODE({"type": msgspec.Raw(b'"response.create"'), **fields})
        return message, [*kept, *new], store

    # ------------------------------------------------------------ the socket

    async def _connect(self, request: Request) -> None:
        await self._drop(None)
        if self._stale or self._request is not None:
            self._reconnects += 1
        self._stale = False
        self._request = request
        self._ws = await open_websocket(
            self._transport, request, max_message_bytes=self._max_event_bytes
        )
        self._fresh = True
        self._reader = asyncio.get_running_loop().create_task(self._read(self._ws))

    async def _drop(self, error: BaseException | None) -> None:
        ws, self._ws = self._ws, None
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
        self._end_turn(error or APIConnectionError("the session's socket was closed"))

    def _abandon(self) -> None:
        """The turn's stream was closed before its last event (left early, or a
        deadline): the turn ends here, and the next one opens a new socket, so
        that nothing left of this one can be taken for the next one's events."""
        turn = self._turn
        if turn is not None and turn.body.closed:
            self._stale = True
            self._fresh = True
            self._end_turn(None)

    def _end_turn(self, error: BaseException | None) -> None:
        turn, self._turn = self._turn, None
        if turn is None:
            return
        turn.body.content.end(error)
        turn.finished.set()
        if self._free.locked():
            self._free.release()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            turn = self._turn
            if turn is not None:
                await turn.body.content.room.wait()  # backpressure: the consumer reads first
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                self._message_in(data)
                continue
            if await self._closed_by_peer(ws, msg):
                return

    def _message_in(self, data: bytes) -> None:
        turn = self._turn
        if turn is None:
            log.debug("a message outside any turn was dropped (%d bytes)", len(data))
            return
        turn.messages += 1
        if not turn.body.closed:
            turn.body.content.feed(_frame(data))
        try:
            kind = _PEEK.decode(data).type
        except (msgspec.DecodeError, msgspec.ValidationError):
            return  # the engine raises MalformedEventError for it
        if kind not in _ENDS:
            return
        if kind != "error":
            with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                ending = _ENDING.decode(data).response
                if ending.id:
                    self._previous = ending.id
                    self._fresh = False
                if not turn.store:
                    self._items = [*turn.items, *ending.output]
        self._turn = None
        turn.body.content.end()
        turn.finished.set()
        self._free.release()

    async def _closed_by_peer(self, ws: aiohttp.ClientWebSocketResponse, msg: Any) -> bool:
        """The socket closed or failed: retry a turn the server went away from before
        its first event; else end the turn with the typed error. True: stop reading."""
        turn = self._turn
        code = ws.close_code
        if msg.type is aiohttp.WSMsgType.ERROR:
            exc = msg.data
            if isinstance(exc, aiohttp.WebSocketError) and exc.code == 1009:
                error: BaseException = EventTooLargeError(
                    f"a WebSocket message from {self._where()} was larger than "
                    f"max_event_bytes ({self._max_event_bytes} bytes)",
                    limit=self._max_event_bytes,
                )
            else:
                error = ProtocolError(
                    f"the WebSocket to {self._where()} failed: {type(exc).__name__}",
                    events_received=turn.messages if turn else 0,
                )
        else:
            error = StreamDisconnectedError(
                f"the WebSocket to {self._where()} closed (code {code}) "
                + (f"after {turn.messages} events of a response" if turn else "between turns"),
                events_received=turn.messages if turn else 0,
            )
        self._ws = None
        self._fresh = True
        if turn is not None and turn.messages == 0 and code == _GOING_AWAY and self._retry_left():
            log.debug("%s went away before the first event: sending again", self._where())
            request = self._request
            assert request is not None
            try:
                self._ws = await open_websocket(
                    self._transport, request, max_message_bytes=self._max_event_bytes
                )
                self._reconnects += 1
                await self._ws.send_str(turn.message.decode())
            except BaseException as exc:
                self._end_turn(exc)
                return True
            self._reader = asyncio.get_running_loop().create_task(self._read(self._ws))
            return True
        self._end_turn(error)
        return True

    def _retry_left(self) -> bool:
        return self._max_retries > 0

    def _where(self) -> str:
        return self._request.where if self._request is not None else "the server"
