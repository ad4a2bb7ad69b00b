"""A real, local, OpenAI-compatible chat completions server for tests and demos.

:class:`MockServer` is an ``aiohttp.web`` server on 127.0.0.1 (an ephemeral port
by default) that answers ``POST /v1/chat/completions`` (and
``/chat/completions``) the way the xAI API does: a ``chat.completion`` JSON
body, or with ``"stream": true`` a ``text/event-stream`` of
``chat.completion.chunk`` events ending in ``data: [DONE]``. Each request
follows a :class:`Reply` script, which can also bend the framing (CRLF, odd
write sizes, keep-alive comments) and inject faults (a dropped connection, a
stall, an error event, an oversized line...), so the client can be tested
against real sockets instead of mocks::

    from xstream.testing import MockServer, Reply

    async def test_retry_after_503() -> None:
        async with MockServer() as srv:
            srv.enqueue(Reply(status=503), Reply(text="Hello", chunk_size=2))
            ...  # point the client at srv.base_url and stream
            assert len(srv.requests) == 2

Sync code (and the CLI's offline demo) runs it on its own thread::

    with MockServer.running_in_thread() as srv:
        print(srv.base_url)

``from xstream.testing import mock_server`` in a ``conftest.py`` gives a
pytest-asyncio fixture that yields a started server. Importing this module
needs neither pytest nor pytest-asyncio: the fixture is built on first access.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import json
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from .responses import MockResponses

__all__ = [
    "DEFAULT_TEXT",
    "MockServer",
    "RecordedRequest",
    "Reply",
    "ToolCallScript",
    "mock_server",
    "serve",
]

DEFAULT_TEXT = (
    "Seven and a half million years of computation — and the answer turned out "
    "to be simpler than the question. Don't panic, keep your towel close, be "
    "kind to depressed robots, and remember: the meaning of life, the universe, "
    "and everything is 42."
)
"""What a :class:`Reply` says when it is given no ``text``."""

DEFAULT_ERROR_PAYLOAD: Mapping[str, Any] = {
    "error": {
        "message": "The server is overloaded",
        "type": "overloaded_error",
        "code": "overloaded",
    }
}
"""The error event a stream sends for ``Reply(error_event_after=...)``."""

if TYPE_CHECKING:
    mock_server: Any  # built lazily by __getattr__ below

_CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
_DEFERRED_PATHS = ("/v1/chat/deferred-completion/", "/chat/deferred-completion/")
_FINGERPRINT = "fp_xstream"
_BATCH_BYTES = 64 * 1024  # join events up to this size per write when nothing is timed
_POLL_SECONDS = 0.02  # how often a stall checks whether the client left
_LINE_ENDS = ("\n", "\r\n", "\r")

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


@dataclass(frozen=True)
class ToolCallScript:
    """One function call the assistant makes: ``ToolCallScript("get_weather", '{"city":"Paris"}')``.

    ``id`` defaults to a fresh ``call_...`` id per request and choice.
    """

    name: str
    arguments: str = "{}"
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """The script for one request: what to answer, how to frame it, what to break.

    Positions (``*_after``) count chunk events (JSON ``data:`` events, not
    keep-alive comments); a position past the last chunk acts just before
    ``[DONE]``. ``drop_after``, ``trickle_after``, ``error_event_after`` and an
    unterminated oversized event end the stream; the others let it go on.

    The stream's layout follows what the request asks, as xAI's does:

    * By default (xAI's documented stream): every chunk carries ``usage``, the
      counts so far (``usage=False`` leaves it out), and the last delta of each
      choice carries its ``finish_reason``. No chunk is without a delta, so the
      seed's ``print(chunk.choices[0].delta.content, end="")`` prints the text
      and nothing else (reasoning and tool-call deltas have no ``content``).
    * With ``stream_options: {"include_usage": true}`` (OpenAI's layout, which
      xAI also sends then): no usage on the deltas, a finish chunk per choice
      (``"delta": {}``), then one usage chunk with ``"choices": []``.

    ``max_tokens`` (or ``max_completion_tokens``) in the request is honoured:
    at most that many deltas (one token each: reasoning, then content, then tool
    arguments), and ``finish_reason`` ``"length"`` when the answer was cut.

    >>> Reply(text="Hi there", chunk_size=2, line_end="\\r\\n", drop_after=3).drop_after
    3
    """

    # What the assistant says.
    text: str = DEFAULT_TEXT
    reasoning: str | None = None
    reasoning_field: str = "reasoning_content"  # vLLM >= 0.16 and OpenRouter: "reasoning"
    tool_calls: Sequence[ToolCallScript] = ()
    refusal: str | None = None  # refuse with this text (refusal deltas) instead of ``text``
    model: str | None = None  # default: the request's model
    n_choices: int | None = None  # default: the request's ``n``
    finish_reason: str | None = None  # default: "length" if cut by max_tokens, "tool_calls"
    # if tool_calls, else "stop"
    usage: bool = True  # usage in every chunk even unasked, as xAI sends it
    chunks: int | None = None  # repeat the text's deltas until this many content chunks
    # Pacing.
    chunk_size: int = 4  # characters per content/reasoning/arguments delta
    delay: float = 0.0  # seconds between events
    first_delay: float = 0.0  # seconds before the first event (after the headers)
    # Framing.
    line_end: str = "\n"
    keepalive_every: int = 0  # a ": keep-alive" comment block after every N chunk events
    write_size: int | None = None  # write the body in pieces of exactly this many bytes
    unicode_escape: bool = False  # \\uXXXX escapes instead of raw UTF-8 in the JSON
    # HTTP faults.
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | str | None = None  # served verbatim; default for errors: OpenAI-style JSON
    content_type: str | None = None
    # Stream faults.
    drop_after: int | None = None  # abort the TCP connection
    stall_after: int | None = None  # send nothing for stall_seconds, then go on
    stall_seconds: float = 30.0
    trickle_after: int | None = None  # one byte per trickle_interval, never a line end
    trickle_interval: float = 0.05
    malformed_after: int | None = None  # "data: {not json"
    invalid_utf8_after: int | None = None  # a chunk whose content is a raw 0xFF byte
    no_done: bool = False  # end the body cleanly without [DONE]
    error_event_after: int | None = None  # an error event, then the body ends
    error_payload: Mapping[str, Any] | None = None  # default: DEFAULT_ERROR_PAYLOAD
    error_as_event_type: bool = False  # "event: error" instead of a plain data event
    oversized_event_bytes: int | None = None  # one data line this long after the first chunk
    oversized_unterminated: bool = False  # ... never ended: held open for stall_seconds
    trailing_after_done: bytes = b""

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        if self.line_end not in _LINE_ENDS:
            raise ValueError(f"line_end must be one of {_LINE_ENDS!r}")
        if self.write_size is not None and self.write_size < 1:
            raise ValueError("write_size must be at least 1")
        if self.n_choices is not None and self.n_choices < 1:
            raise ValueError("n_choices must be at least 1")


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server received it; ``headers`` look up case-insensitively."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes
    json: Any  # the parsed body, or None when it is not JSON


# --------------------------------------------------------------------------- script


@dataclass(frozen=True)
class _Call:
    id: str
    name: str
    arguments: str
    pieces: list[str]


@dataclass(frozen=True)
class _Script:
    """A Reply resolved against one request: ids, model, choices and pieces fixed."""

    id: str
    created: int
    model: str
    n: int
    content: list[str]
    refusal: list[str]
    reasoning: list[str]
    reasoning_field: str
    calls: list[list[_Call]]  # per choice
    finish_reason: str
    include_usage: bool
    usage_asked: bool  # stream_options.include_usage: OpenAI's usage chunk has no choices
    prompt_tokens: int


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _content_pieces(reply: Reply) -> list[str]:
    pieces = _split(reply.text, reply.chunk_size)
    if reply.chunks is None or not pieces:
        return pieces
    return list(itertools.islice(itertools.cycle(pieces), reply.chunks))


def _count_words(messages: object) -> int:
    """A deterministic stand-in for prompt tokens: words in the messages' text."""
    if not isinstance(messages, list):
        return 0
    words = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        parts = content if isinstance(content, list) else [{"text": content}]
        for part in parts:
            text = part.get("text") if isinstance(part, dict) else None
            words += len(text.split()) if isinstance(text, str) else 0
    return words


def _resolve(reply: Reply, request: Mapping[str, Any]) -> _Script:
    requested = request.get("n")
    n = reply.n_choices or (requested if isinstance(requested, int) and requested > 0 else 1)
    options = request.get("stream_options")
    asked = isinstance(options, dict) and bool(options.get("include_usage"))
    calls = [
        [
            _Call(
                t.id or f"call_{uuid.uuid4().hex[:24]}",
                t.name,
                t.arguments,
                _split(t.arguments, reply.chunk_size),
            )
            for t in reply.tool_calls
        ]
        for _ in range(n)
    ]
    reasoning = _split(reply.reasoning or "", reply.chunk_size)
    content = _content_pieces(reply) if reply.refusal is None else []
    refusal = _split(reply.refusal, reply.chunk_size) if reply.refusal is not None else []
    cut = False
    limit = request.get("max_completion_tokens", request.get("max_tokens"))
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        (reasoning, content, refusal), calls, cut = _within(
            limit, (reasoning, content, refusal), calls
        )
    finish = "length" if cut else "tool_calls" if any(calls) else "stop"
    return _Script(
        id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
        created=int(time.time()),
        model=reply.model or str(request.get("model") or "xstream-mock"),
        n=n,
        content=content,
        refusal=refusal,
        reasoning=reasoning,
        reasoning_field=reply.reasoning_field,
        calls=calls,
        finish_reason=reply.finish_reason or finish,
        include_usage=reply.usage or asked,
        usage_asked=asked,
        prompt_tokens=_count_words(request.get("messages")),
    )


def _within(
    limit: int, texts: tuple[list[str], ...], calls: list[list[_Call]]
) -> tuple[tuple[list[str], ...], list[list[_Call]], bool]:
    """At most ``limit`` deltas (tokens), in the order they stream: the texts
    (reasoning, content, refusal), then each tool call's arguments (a call cut
    short keeps what fit)."""
    total = sum(map(len, texts)) + sum(len(c.pieces) for c in calls[0])
    if total <= limit:
        return texts, calls, False
    left, kept_texts = limit, []
    for pieces in texts:
        kept_texts.append(pieces[:left])
        left = max(0, left - len(pieces))
    kept: list[_Call] = []
    for call in calls[0]:
        if not left:
            break
        pieces = call.pieces[:left]
        left -= len(pieces)
        kept.append(_Call(call.id, call.name, "".join(pieces), pieces))
    cut_calls = [
        [_Call(c.id, k.name, k.arguments, k.pieces) for c, k in zip(choice, kept, strict=False)]
        for choice in calls
    ]
    return tuple(kept_texts), cut_calls, True


def _usage(script: _Script) -> dict[str, Any]:
    """Token counts: one token per delta, the same for a stream and a completion."""
    arguments = sum(len(c.pieces) for c in script.calls[0]) if script.calls else 0
    reasoning = len(script.reasoning) * script.n
    completion = (len(script.content) + len(script.refusal) + arguments) * script.n + reasoning
    return _counts(script, completion, reasoning)


def _counts(script: _Script, completion: int, reasoning: int) -> dict[str, Any]:
    return {
        "prompt_tokens": script.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": script.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "text_tokens": script.prompt_tokens},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _tokens(delta: Mapping[str, Any], reasoning_field: str) -> tuple[int, int]:
    """(completion, reasoning) tokens of one delta: one per piece of text."""
    if delta.get(reasoning_field):
        return 1, 1
    if delta.get("content") or delta.get("refusal"):
        return 1, 0
    calls = delta.get("tool_calls") or ()
    return (1 if any(c["function"]["arguments"] for c in calls) else 0), 0


def _content_value(script: _Script) -> str | None:
    # A stream with no content deltas merges to None; it sends an empty one
    # only when there is nothing else to say (see _deltas).
    if script.content or not (script.calls[0] or script.refusal):
        return "".join(script.content)
    return None


def _build_completion(script: _Script) -> dict[str, Any]:
    """The ``chat.completion`` body: exactly what the stream's deltas merge to."""
    choices = []
    for index in range(script.n):
        message: dict[str, Any] = {"role": "assistant", "content": _content_value(script)}
        if script.refusal:
            message["refusal"] = "".join(script.refusal)
        if script.reasoning:
            message[script.reasoning_field] = "".join(script.reasoning)
        if script.calls[index]:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in script.calls[index]
            ]
        choices.append({"index": index, "message": message, "finish_reason": script.finish_reason})
    return {
        "id": script.id,
        "object": "chat.completion",
        "created": script.created,
        "model": script.model,
        "choices": choices,
        "usage": _usage(script),
        "system_fingerprint": _FINGERPRINT,
    }


# --------------------------------------------------------------------------- stream payloads


def _deltas(script: _Script, index: int) -> list[dict[str, Any]]:
    """One choice's deltas in order: reasoning, content, tool calls; role on the first."""
    shared: dict[str, dict[str, Any]] = {}  # one dict per distinct piece: see _encode_events
    deltas: list[dict[str, Any]] = [{script.reasoning_field: p} for p in script.reasoning]
    deltas += [shared.setdefault(p, {"content": p}) for p in script.content]
    deltas += [{"refusal": p} for p in script.refusal]
    if not script.content and not script.refusal and not script.calls[index]:
        deltas.append({"content": ""})
    for i, call in enumerate(script.calls[index]):
        deltas.append(
            {
                "tool_calls": [
                    {
                        "index": i,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
        )
        deltas += [
            {"tool_calls": [{"index": i, "function": {"arguments": p}}]} for p in call.pieces
        ]
    deltas[0] = {"role": "assistant", **deltas[0]}
    return deltas


def _chunk(script: _Script, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": script.id,
        "object": "chat.completion.chunk",
        "created": script.created,
        "model": script.model,
        "choices": choices,
        **extra,
        "system_fingerprint": _FINGERPRINT,
    }


class _SoFar(NamedTuple):
    """A chunk with the usage so far: encoded by splicing the counts into the
    chunk's bytes (encoded once), as a long stream has a different usage in every
    chunk. Decodes as :func:`_counts` builds it."""

    chunk: dict[str, Any]
    prompt: int
    completion: int
    reasoning: int


_USAGE_BYTES = (
    b',"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,'
    b'"prompt_tokens_details":{"cached_tokens":0,"text_tokens":%d},'
    b'"completion_tokens_details":{"reasoning_tokens":%d}}'
)
_Payload = dict[str, Any] | _SoFar


def _build_payloads(script: _Script) -> list[_Payload]:
    """Every chunk of the stream, in order (choices interleaved); see :class:`Reply`
    for the two layouts. Repeated deltas share one chunk dict where the chunks are
    equal (no running usage), so encoding can reuse their bytes.
    """
    per_choice = [_deltas(script, i) for i in range(script.n)]
    steps = [
        (index, delta)
        for step in itertools.zip_longest(*per_choice)
        for index, delta in enumerate(step)
        if delta is not None
    ]
    openai = script.usage_asked  # asked for: finish chunks, then a usage chunk
    running = script.include_usage and not openai  # xAI: usage so far in every chunk
    last = {index: position for position, (index, _) in enumerate(steps)}
    # One chunk (and its token count) per distinct (choice, delta, finish); the
    # running usage is the only part that differs from chunk to chunk.
    cache: dict[tuple[int, int, bool], tuple[dict[str, Any], int, int]] = {}
    payloads: list[_Payload] = []
    completion = reasoning = 0
    for position, (index, delta) in enumerate(steps):
        key = (index, id(delta), not openai and last[index] == position)
        cached = cache.get(key)
        if cached is None:
            choice: dict[str, Any] = {"index": index, "delta": delta}
            if key[2]:
                choice["finish_reason"] = script.finish_reason
            cached = cache[key] = (
                _chunk(script, [choice]),
                *_tokens(delta, script.reasoning_field),
            )
        chunk, tokens, thought = cached
        if not running:
            payloads.append(chunk)
            continue
        completion, reasoning = completion + tokens, reasoning + thought
        payloads.append(_SoFar(chunk, script.prompt_tokens, completion, reasoning))
    if openai:
        payloads += [
            _chunk(script, [{"index": i, "delta": {}, "finish_reason": script.finish_reason}])
            for i in range(script.n)
        ]
        payloads.append(_chunk(script, [], usage=_usage(script)))
    return payloads


# --------------------------------------------------------------------------- wire plan


@dataclass(frozen=True)
class _Drop:
    """Abort the TCP connection (no clean end of the chunked body)."""


@dataclass(frozen=True)
class _Hold:
    """Send nothing for ``seconds`` (or until the client leaves)."""

    seconds: float


@dataclass(frozen=True)
class _Trickle:
    """Send one byte every ``interval`` for ``seconds``, never ending a line."""

    interval: float
    seconds: float


@dataclass(frozen=True)
class _End:
    """The stream was cut short by a fault: the body ends here, without ``[DONE]``."""


_Step = bytes | _Drop | _Hold | _Trickle | _End
_ENCODER = msgspec.json.Encoder()


def _dumps_for(reply: Reply) -> Callable[[Any], bytes]:
    if reply.unicode_escape:
        return lambda obj: json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode()
    return _ENCODER.encode


def _encode_events(payloads: list[_Payload], reply: Reply) -> list[bytes]:
    """``data: {json}`` + blank line per payload, each distinct chunk encoded once."""
    dumps, end = _dumps_for(reply), reply.line_end.encode() * 2
    cache: dict[int, bytes] = {}  # by id(): the payloads list keeps every key alive
    cuts: dict[int, tuple[bytes, bytes]] = {}  # chunk -> its bytes around the usage
    events = []
    for payload in payloads:
        if isinstance(payload, _SoFar):
            cut = cuts.get(id(payload.chunk))
            if cut is None:
                encoded = dumps(payload.chunk)
                at = encoded.rindex(b',"system_fingerprint"')
                cut = cuts[id(payload.chunk)] = (b"data: " + encoded[:at], encoded[at:] + end)
            prompt, completion = payload.prompt, payload.completion
            usage = _USAGE_BYTES % (
                prompt,
                completion,
                prompt + completion,
                prompt,
                payload.reasoning,
            )
            events.append(cut[0] + usage + cut[1])
            continue
        event = cache.get(id(payload))
        if event is None:
            event = cache[id(payload)] = b"data: " + dumps(payload) + end
        events.append(event)
    return events


def _oversized_line(script: _Script, size: int) -> bytes:
    """A valid chunk (no choices, padded) whose ``data:`` line is exactly ``size`` bytes."""
    encoded = _ENCODER.encode(_chunk(script, [], x_padding=""))
    cut = encoded.index(b'"x_padding":"') + len(b'"x_padding":"')
    head, tail = b"data: " + encoded[:cut], encoded[cut:]
    padding = size - len(head) - len(tail)
    if padding < 0:
        return (b"data: " + b"x" * size)[:size]
    return head + b"x" * padding + tail


def _fault_steps(reply: Reply, script: _Script) -> dict[int, list[_Step]]:
    """Faults keyed by how many chunk events precede them."""
    end, dumps = reply.line_end.encode(), _dumps_for(reply)
    faults: dict[int, list[_Step]] = {}

    def at(position: int | None, *steps: _Step) -> None:
        if position is not None:
            faults.setdefault(position, []).extend(steps)

    at(reply.malformed_after, b"data: {not json" + end * 2)
    bad = dumps(_chunk(script, [{"index": 0, "delta": {"content": "\x00"}}]))
    at(reply.invalid_utf8_after, b"data: " + bad.replace(b"\\u0000", b"\xff") + end * 2)
    if reply.oversized_event_bytes is not None:
        line = _oversized_line(script, reply.oversized_event_bytes)
        if reply.oversized_unterminated:
            at(1, line, _Hold(reply.stall_seconds), _End())
        else:
            at(1, line + end * 2)
    error = dumps(dict(reply.error_payload or DEFAULT_ERROR_PAYLOAD))
    prefix = b"event: error" + end if reply.error_as_event_type else b""
    at(reply.error_event_after, prefix + b"data: " + error + end * 2, _End())
    at(reply.stall_after, _Hold(reply.stall_seconds))
    at(
        reply.trickle_after,
        b"data: ",
        _Trickle(reply.trickle_interval, reply.stall_seconds),
        _End(),
    )
    at(reply.drop_after, _Drop())
    return faults


def _build_plan(events: list[bytes], reply: Reply, script: _Script) -> list[_Step]:
    """The body as written: events, keep-alives, faults, ``[DONE]``, trailing bytes."""
    end = reply.line_end.encode()
    faults = _fault_steps(reply, script)
    last = len(events)
    for position in [p for p in faults if p > last]:
        faults.setdefault(last, []).extend(faults.pop(position))
    keepalive, every = b": keep-alive" + end * 2, reply.keepalive_every
    plan: list[_Step] = []
    for count, event in enumerate([*events, None]):
        for step in faults.get(count, ()):
            plan.append(step)
            if isinstance(step, (_End, _Drop)):
                return plan
        if event is None:
            break
        plan.append(event)
        if every and (count + 1) % every == 0:
            plan.append(keepalive)
    if not reply.no_done:
        plan.append(b"data: [DONE]" + end * 2)
    if reply.trailing_after_done:
        plan.append(reply.trailing_after_done)
    return plan


# --------------------------------------------------------------------------- writing


class _ClientGone(ConnectionResetError):
    """The client closed the connection while the stream was held open."""


class _Writer:
    """Writes a plan to one response: batching, write_size pieces, delays and faults."""

    def __init__(
        self,
        resp: web.StreamResponse,
        request: web.Request,
        reply: Reply,
        closing: Callable[[], bool],
    ) -> None:
        self._resp, self._request, self._reply, self._closing = resp, request, reply, closing
        self._pending = bytearray()  # bytes not yet written (batch or write_size carry)

    async def run(self, plan: list[_Step]) -> bool:
        """Write the whole plan; return False when the connection was dropped on purpose."""
        reply = self._reply
        batching = reply.delay == 0 and reply.write_size is None
        if reply.first_delay:
            await asyncio.sleep(reply.first_delay)
        for number, step in enumerate(plan):
            if not isinstance(step, bytes):
                await self._flush()
                if not await self._act(step):
                    return False
                continue
            if reply.delay and number:
                await asyncio.sleep(reply.delay)
            self._pending += step
            if not batching or len(self._pending) >= _BATCH_BYTES:
                await self._write_whole_pieces()
        await self._flush()
        return True

    async def _write_whole_pieces(self) -> None:
        size = self._reply.write_size
        if size is None:
            await self._flush()
            return
        data, cut = self._pending, len(self._pending) - len(self._pending) % size
        for start in range(0, cut, size):
            await self._write(bytes(data[start : start + size]))
        del data[:cut]

    async def _flush(self) -> None:
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            await self._write(data)

    async def _write(self, data: bytes) -> None:
        await self._resp.write(data)
        if self._reply.write_size is not None:
            await asyncio.sleep(0)  # let each piece leave on its own

    async def _act(self, step: _Step) -> bool:
        if isinstance(step, _Drop):
            await self._drop()
            return False
        if isinstance(step, _Trickle):
            deadline = time.monotonic() + step.seconds
            while time.monotonic() < deadline and not self._closing():
                await self._write(b"x")
                await asyncio.sleep(step.interval)
        elif isinstance(step, _Hold):
            await self._hold(step.seconds)
        return True

    async def _hold(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._closing():
            transport = self._request.transport
            if transport is None or transport.is_closing():
                raise _ClientGone("the client left during a stall")
            await asyncio.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    async def _drop(self) -> None:
        transport = self._request.transport
        if transport is None:
            return
        # Close (FIN) in the middle of the chunked body rather than abort (RST): a
        # reset lets the client's kernel discard bytes it received but had not
        # read yet, so "after N chunks" would not be deterministic. The client
        # still sees the body cut short: a transfer-encoding error.
        transport.close()


# --------------------------------------------------------------------------- server


class MockServer:
    """An OpenAI-compatible server on a real socket: chat completions, and the
    Responses API (``responses``: see :class:`MockResponses`).

    >>> async def demo() -> None:
    ...     async with MockServer() as srv:
    ...         srv.enqueue(Reply(text="Hello", chunk_size=2))
    ...         print(srv.base_url)  # http://127.0.0.1:PORT/v1
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, default: Reply | None = None
    ) -> None:
        self.host, self.port = host, port
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
        cls, host: str = "127.0.0.1", port: int = 0, default: Reply | None = None
    ) -> Iterator[MockServer]:
        """Run a server on its own event loop in a daemon thread, for sync code.

        >>> with MockServer.running_in_thread() as srv:
        ...     srv.enqueue(Reply(text="hi"))
        """
        server = cls(host, port, default)
        thread = _ServerThread(server)
        thread.start()
        thread.wait_started()
        try:
            yield server
        finally:
            thread.stop()

    # -- request handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request)
        if "/responses" in request.path and request.path.startswith(
            ("/v1/responses", "/responses")
        ):
            reply = self._queue.popleft() if self._queue else self.default
            if reply.status != 200 or reply.body is not None:
                return _plain_response(reply)
            return await self.responses.handle(request, record.json, reply.text, reply.chunk_size)
        if request.path.startswith(_DEFERRED_PATHS):
            return self._deferred_result(request.path.rsplit("/", 1)[-1])
        if request.path not in _CHAT_PATHS:
            return _error_response(404, f"No route for {request.method} {request.path}")
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


def _error_body(status: int, message: str | None = None) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = f"HTTP {status}"
    kind, code, default_message = _ERRORS.get(status, ("api_error", str(status), phrase))
    error = {"message": message or default_message, "type": kind, "code": code}
    return _ENCODER.encode({"error": error})


def _error_response(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, body=_error_body(status, message), content_type="application/json"
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


def serve(host: str = "127.0.0.1", port: int = 8000, *, default: Reply | None = None) -> None:
    """Serve in the foreground until Ctrl-C (``xstream serve``).

    >>> serve(port=8000)  # doctest: +SKIP
    xstream mock server on http://127.0.0.1:8000/v1 (Ctrl-C to stop)
    """

    async def main() -> None:
        async with MockServer(host, port, default) as srv:
            print(f"xstream mock server on {srv.base_url} (Ctrl-C to stop)", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


async def _mock_server() -> AsyncIterator[MockServer]:
    async with MockServer() as srv:
        yield srv


def __getattr__(name: str) -> Any:
    # The fixture is built on first access, so importing this module never
    # imports pytest (the CLI's demo uses the server too).
    if name == "mock_server":
        import pytest_asyncio

        fixture = pytest_asyncio.fixture(_mock_server, name="mock_server")
        globals()["mock_server"] = fixture
        return fixture
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
