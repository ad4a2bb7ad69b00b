"""What the built-in server answers: a :class:`Reply` script, resolved against one
request into fixed ids, choices and pieces, and the payloads it makes: the
``chat.completion`` body, or a stream's chunks in order (xAI's layout or OpenAI's).

How those payloads go on the wire is :mod:`.wire`'s business.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from multidict import CIMultiDictProxy

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

_FINGERPRINT = "fp_xstream"
_LINE_ENDS = ("\n", "\r\n", "\r")


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
      choice carries its ``finish_reason``. No chunk is without a delta, but
      reasoning and tool-call deltas have no ``content``: the seed's unguarded
      ``print(chunk.choices[0].delta.content, end="")`` prints the text and
      nothing else only for a plain answer (``None`` for each such delta); the
      guarded ``if chunk.choices: print(... .content or "", end="")`` always does.
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
