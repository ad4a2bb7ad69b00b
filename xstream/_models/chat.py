"""The payloads: msgspec Structs for chunks, completions and the request body.

Two choices keep decoding fast and memory cheap:

- every Struct is ``gc=False`` and every container field a ``tuple``, so a
  decoded chunk can never take part in a reference cycle and the cyclic garbage
  collector never scans it. Users who keep every chunk of a long stream in a list
  pay nothing for it at collection time (measured: roughly 9x faster appends of
  100k chunks than with default Structs and lists).
- the decoders are built once, here, and reused: msgspec then decodes straight
  from the received bytes into these types, with no intermediate ``dict``.

Decoding loses nothing: optional fields default to ``None`` (servers that omit
``created``, ``usage``... decode), and a key no Struct declares, at any depth, is
kept as sent (``extra_fields``, ``to_dict()``; see :mod:`.lossless`), as is content
sent as a list of parts; ``to_dict()`` gives the server's JSON back, adding no key.
"""

from __future__ import annotations

import collections.abc
import functools
import operator
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

import msgspec

from .lossless import Open, accepts_parts, build, kept_parts, set_raw
from .lossless import _Payload as _Payload  # the base of the Responses payloads too
from .params import NOT_SENT, ChatCompletionCreateParams

__all__ = [
    "CHUNK_DECODER",
    "COMPLETION_DECODER",
    "Annotation",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionRequest",
    "Choice",
    "ChoiceDelta",
    "ChoiceLogprobs",
    "ChunkChoice",
    "CompletionTokensDetails",
    "Function",
    "FunctionDelta",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "ParsedFunction",
    "ParsedToolCall",
    "PromptTokensDetails",
    "TokenLogprob",
    "ToolCall",
    "ToolCallDelta",
    "TopLogprob",
    "URLCitation",
    "Usage",
    "encode_request",
    "message_list",
]


# -- shared by chunks and completions ------------------------------------------------


class TopLogprob(Open):
    """One of the most likely tokens at a position, with its log probability."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None


class TokenLogprob(Open):
    """The log probability of one generated token, and the likeliest alternatives."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None
    top_logprobs: tuple[TopLogprob, ...] = ()


class ChoiceLogprobs(Open):
    """Log probabilities of a choice's content tokens (and refusal tokens)."""

    content: tuple[TokenLogprob, ...] | None = None
    refusal: tuple[TokenLogprob, ...] | None = None


class PromptTokensDetails(Open):
    """How the prompt tokens break down (xAI reports text/audio/image/cached); other
    keys a server sends are kept (see ``extra_fields``)."""

    text_tokens: int | None = None
    audio_tokens: int | None = None
    image_tokens: int | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    video_tokens: int | None = None


class CompletionTokensDetails(Open):
    """How the completion tokens break down (``reasoning_tokens`` for reasoning models);
    other keys a server sends are kept (see ``extra_fields``)."""

    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None
    image_tokens: int | None = None


class Usage(Open):
    """Token counts of a request. In a stream, usually sent once, on the last chunk.
    Keys a provider adds (DeepSeek's ``prompt_cache_hit_tokens``, OpenRouter's
    ``cost``...) are kept: ``usage.cost``, ``usage.extra_fields``, ``usage.to_dict()``."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    num_sources_used: int | None = None  # xAI
    cost_in_usd_ticks: int | None = None  # xAI: the exact cost billed, 1 USD = 10^10 ticks

    @property
    def cost_usd(self) -> float | None:
        """``cost_in_usd_ticks`` in dollars, when the server sent it."""
        ticks = self.cost_in_usd_ticks
        return None if ticks is None else ticks / 1e10


# -- streaming ------------------------------------------------------------------------


class FunctionDelta(Open):
    """A piece of a function call: the name (usually once) and a piece of the arguments."""

    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(Open):
    """A piece of tool call number ``index``; ``id`` and ``type`` usually come once."""

    index: int = 0
    id: str | None = None
    type: str | None = None
    function: FunctionDelta | None = None


class URLCitation(Open):
    """Where a ``url_citation`` points: the source and the span of the text it backs."""

    url: str | None = None
    title: str | None = None
    start_index: int | None = None
    end_index: int | None = None


class Annotation(Open):
    """An annotation on the answer's text: ``url_citation`` (a web source), or a kind
    named by ``type`` (its fields in ``extra_fields``)."""

    type: str = "url_citation"
    url_citation: URLCitation | None = None


@accepts_parts
class ChoiceDelta(Open):
    """What one chunk adds to a choice's message.

    ``content`` is text. A server that sends content as a list of typed parts
    (Mistral's ``[{"type": "thinking", ...}, {"type": "text", ...}]``) gives the text
    parts joined in ``content``, its reasoning parts joined in ``reasoning_content``,
    and the parts as sent in :attr:`content_parts`."""

    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None  # xAI (and other) reasoning models
    reasoning: str | None = None  # vLLM >= 0.16, OpenRouter: the same, by another name
    reasoning_details: tuple[Any, ...] | None = None  # OpenRouter: structured reasoning
    refusal: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] | None = None
    annotations: tuple[Annotation, ...] | None = None  # url_citation (OpenAI, OpenRouter)

    @property
    def content_parts(self) -> tuple[Any, ...] | None:
        """``content`` as the server sent it, when it sent a list of parts."""
        return kept_parts(self)


class ChunkChoice(Open):
    """One choice in a chunk: its ``delta`` and, on its last chunk, ``finish_reason``."""

    index: int = 0
    # A factory, not a shared instance: Structs are mutable. Servers send a delta
    # on every choice, so the factory runs only for the rare chunk without one.
    delta: ChoiceDelta = msgspec.field(default_factory=ChoiceDelta)
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None
    # What providers add to a choice, typed so that their chunks decode as fast as any:
    # OpenRouter's native_finish_reason, vLLM's stop_reason, Azure's content filter verdicts.
    native_finish_reason: str | None = None
    stop_reason: Any = None
    content_filter_results: Any = None


class ChatCompletionChunk(Open):
    """One ``data:`` event of a streamed chat completion.

    ``chunk.choices[0].delta.content`` is the new text (``None`` when the chunk
    carries none). The last chunk may have ``choices == ()`` and only ``usage``.
    ``error`` is set (to the decoded JSON value) only when a server put an error
    in a data event; the stream raises instead of yielding such a chunk.
    """

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int | None = None  # some OpenAI-compatible servers omit it
    model: str = ""
    choices: tuple[ChunkChoice, ...] = ()
    usage: Usage | None = None
    system_fingerprint: str | None = None
    citations: tuple[str, ...] | None = None  # sources some servers list with the answer
    service_tier: str | None = None
    # ``Any``, not ``msgspec.Raw``: msgspec cannot decode ``Raw | None`` and would
    # turn ``"error": null`` into a Raw ``null``. Absent or null costs nothing.
    error: Any = None
    obfuscation: str | None = None  # OpenAI: padding against length side channels
    provider: str | None = None  # OpenRouter: who answered (on every chunk)
    prompt_filter_results: Any = None  # Azure: the prompt's content filter verdicts


# -- non-streaming ----------------------------------------------------------------------


class Function(Open):
    """The function a tool call invokes; ``arguments`` is a JSON text (see
    :func:`xstream.parse_tool_arguments`)."""

    name: str = ""
    arguments: str = ""


class ToolCall(Open):
    """A complete tool call made by the assistant."""

    id: str = ""
    type: str = "function"
    function: Function = msgspec.field(default_factory=Function)


@accepts_parts
class ChatCompletionMessage(Open):
    """The assistant's message. Fields it did not produce are ``None``.

    It can be put back into ``messages`` for the next turn: it is then sent
    without its ``None`` fields and without ``reasoning_content`` / ``reasoning``
    (which some servers refuse as input); ``reasoning_details``, which servers
    that send it want back, goes back as it came.

    ``reasoning_content`` holds the reasoning whichever field the server streamed
    it in (``reasoning_content`` or ``reasoning``); ``reasoning`` and
    ``reasoning_details`` are the server's own fields, kept as sent.
    """

    role: str = "assistant"
    content: str | None = None
    reasoning_content: str | None = None
    refusal: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    reasoning: str | None = None
    reasoning_details: tuple[Any, ...] | None = None
    annotations: tuple[Annotation, ...] | None = None

    @property
    def content_parts(self) -> tuple[Any, ...] | None:
        """``content`` as the server sent it (or the deltas' parts, merged), when it
        came as a list of parts: ``content`` then holds its text parts joined."""
        return kept_parts(self)


class Choice(Open):
    """One complete choice of a :class:`ChatCompletion`."""

    index: int = 0
    message: ChatCompletionMessage = msgspec.field(default_factory=ChatCompletionMessage)
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None
    # What providers add to a choice, typed so that their chunks decode as fast as any:
    # OpenRouter's native_finish_reason, vLLM's stop_reason, Azure's content filter verdicts.
    native_finish_reason: str | None = None
    stop_reason: Any = None
    content_filter_results: Any = None


class ChatCompletion(Open):
    """A whole chat completion: the answer of ``stream=False``, or a stream merged."""

    id: str = ""
    object: str = "chat.completion"
    created: int | None = None
    model: str = ""
    choices: tuple[Choice, ...] = ()
    usage: Usage | None = None
    system_fingerprint: str | None = None
    citations: tuple[str, ...] | None = None
    service_tier: str | None = None
    provider: str | None = None
    prompt_filter_results: Any = None


# -- parsed: structured output and typed tool arguments ------------------------------------

_T = TypeVar("_T")


class ParsedFunction(Function):
    """A function call whose ``arguments`` were parsed: into the type of the tool
    declared from a type, as JSON for a strict tool declared as a dict, else ``None``."""

    parsed_arguments: Any = None


class ParsedToolCall(ToolCall):
    """A tool call with :class:`ParsedFunction`."""

    function: ParsedFunction = msgspec.field(default_factory=ParsedFunction)


class ParsedChatCompletionMessage(ChatCompletionMessage, Generic[_T]):
    """The assistant's message with ``parsed``: the content decoded into the
    ``response_format`` type (``None`` without one, or before the content is complete
    in a snapshot). Put back into ``messages`` it is sent like any assistant message."""

    tool_calls: tuple[ParsedToolCall, ...] | None = None
    parsed: _T | None = None


class ParsedChoice(Choice, Generic[_T]):
    """A choice of a :class:`ParsedChatCompletion`."""

    message: ParsedChatCompletionMessage[_T] = msgspec.field(
        default_factory=ParsedChatCompletionMessage
    )


class ParsedChatCompletion(ChatCompletion, Generic[_T]):
    """A chat completion whose messages carry ``parsed`` (and tool calls
    ``parsed_arguments``): what ``parse()`` and ``stream().get_final_completion()`` give."""

    choices: tuple[ParsedChoice[_T], ...] = ()


CHUNK_DECODER = msgspec.json.Decoder(ChatCompletionChunk)
COMPLETION_DECODER = msgspec.json.Decoder(ChatCompletion)

_P = TypeVar("_P")


def decode_lenient(raw: bytes, type: type[_P]) -> _P:
    """Decode JSON that the fast decoder refused: a key no Struct declares (kept,
    see :func:`~.lossless.build`), content as a list of parts, or ``null`` where the
    type has a default (``"delta": null``, ``"id": null``...; taken as the default).
    The result keeps ``raw``.

    Never on the hot path: it runs only after a fast decode failed.
    Raises ``ValueError`` (a msgspec error) if the payload is still not valid.
    """
    result: _P = set_raw(build(type, msgspec.json.decode(raw)), bytes(raw))
    return result


def decode_chunk(raw: bytes) -> ChatCompletionChunk:
    """One chunk's JSON decoded, losing nothing (the fast decoder, else
    :func:`decode_lenient`); raises ``ValueError`` (a msgspec error) when it is not one."""
    try:
        return CHUNK_DECODER.decode(raw)
    except msgspec.ValidationError:
        return decode_lenient(raw, ChatCompletionChunk)


def decode_completion(raw: bytes) -> ChatCompletion:
    """A completion's JSON decoded, losing nothing (see :func:`decode_chunk`)."""
    try:
        return COMPLETION_DECODER.decode(raw)
    except msgspec.ValidationError:
        return decode_lenient(raw, ChatCompletion)


# -- the request body -------------------------------------------------------------------


def _checkable(tp: Any) -> Any:
    """``tp`` (a parameter's declared type) as msgspec checks it: abstract collections
    as the concrete ones JSON decodes to, mappings in one union merged into one."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        members = [_checkable(a) for a in args]
        dicts = [m for m in members if typing.get_origin(m) is dict]
        if len(dicts) > 1:  # msgspec takes one dict type per union: merge their keys and values
            keys = functools.reduce(operator.or_, (typing.get_args(d)[0] for d in dicts))
            values = functools.reduce(operator.or_, (typing.get_args(d)[1] for d in dicts))
            members = [m for m in members if m not in dicts] + [
                types.GenericAlias(dict, (keys, values))
            ]
        return functools.reduce(operator.or_, members)
    if origin in (collections.abc.Iterable, collections.abc.Sequence, list):
        return types.GenericAlias(list, (_checkable(args[0]),)) if args else list[Any]
    if origin in (collections.abc.Mapping, dict):
        return (
            types.GenericAlias(dict, (_checkable(args[0]), _checkable(args[1])))
            if args
            else dict[str, Any]
        )
    return tp


def _request_struct() -> Any:
    """The body of ``POST /chat/completions`` as a Struct, for checking the declared
    parameters' types: derived from their one declaration
    (:class:`~xstream._models.params.ChatCompletionCreateParams`), options excepted.
    Unset parameters are not sent."""
    hints = typing.get_type_hints(ChatCompletionCreateParams)
    options = NOT_SENT
    fields: list[Any] = [("model", str), ("messages", list[Any]), ("stream", bool, False)]
    fields += [
        (name, _checkable(tp), None)
        for name, tp in hints.items()
        if name not in options and name not in ("model", "messages")
    ]
    return msgspec.defstruct(
        "ChatCompletionRequest",
        fields,
        kw_only=True,
        omit_defaults=True,
        gc=False,
        module=__name__,
    )


ChatCompletionRequest = _request_struct()
"""The body of ``POST /chat/completions``, for checking the declared parameters' types
(derived from :class:`~xstream._models.params.ChatCompletionCreateParams`). Unset
parameters are not sent; :func:`encode_request` also lets through parameters it does
not know (``extra_body``)."""

_FIELD_TYPES: dict[str, Any] = {
    f.name: f.type for f in msgspec.structs.fields(ChatCompletionRequest)
}
_REQUEST_ENCODER = msgspec.json.Encoder()


def encode_request(
    model: str,
    messages: Iterable[Any],
    *,
    stream: bool,
    params: Mapping[str, Any],
    extra_body: Mapping[str, Any] | None = None,
) -> bytes:
    """Build the JSON body of a chat completion request.

    Known parameters are type-checked (a wrong type raises ``TypeError`` naming
    the parameter); unknown ones pass through unchanged, for servers with their own.
    Parameters set to ``None`` are not sent. ``extra_body`` is merged last and wins.
    Values are sent as given, only checked.

    >>> encode_request("grok-2-latest", [{"role": "user", "content": "Hi"}],
    ...                stream=True, params={"temperature": 0.5, "top_k": 3})
    b'{"model":"grok-2-latest","messages":[{"role":"user","content":"Hi"}],"stream":true,"temperature":0.5,"top_k":3}'
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": [_message(m) for m in message_list(messages)],
        "stream": stream,
    }
    known: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        body[name] = value
        if name in _FIELD_TYPES:
            known[name] = value
    _check(body, known)
    if extra_body:
        body.update(extra_body)
    return _REQUEST_ENCODER.encode(body)


def message_list(messages: object) -> list[Any]:
    """``messages`` as a list, checked before anything else is done with it.

    A string, a single message (a dict) or ``None`` is refused with a
    ``TypeError`` naming the parameter and what was passed; iterating a string
    or a dict would quietly send its characters or its keys.

    >>> message_list(None)
    Traceback (most recent call last):
    TypeError: messages must be a list of messages (dicts with "role" and "content"), got NoneType: None
    """
    if isinstance(messages, str | bytes | bytearray | Mapping) or not isinstance(
        messages, Iterable
    ):
        shown = repr(messages)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise TypeError(
            'messages must be a list of messages (dicts with "role" and "content"), '
            f"got {type(messages).__name__}: {shown}"
        )
    return list(messages)


def _message(message: Any) -> Any:
    # An assistant message put back into the conversation: drop what the API
    # does not take as input (``None`` fields; ``reasoning_content``, which some
    # servers reject with a 400).
    if isinstance(message, ChatCompletionMessage):
        out: dict[str, Any] = {"role": message.role}
        if message.content is not None:
            out["content"] = message.content
        if message.refusal is not None:
            out["refusal"] = message.refusal
        if message.tool_calls:  # as sent: no parsed_arguments; keys kept go back (a
            # thought signature in Gemini's extra_content must come back with its call)
            out["tool_calls"] = [
                {
                    **c.extra_fields,
                    "id": c.id,
                    "type": c.type,
                    "function": {
                        **c.function.extra_fields,
                        "name": c.function.name,
                        "arguments": c.function.arguments,
                    },
                }
                for c in message.tool_calls
            ]
        if message.reasoning_details:
            out["reasoning_details"] = message.reasoning_details
        return out
    return message


def _check(body: Mapping[str, Any], known: Mapping[str, Any]) -> None:
    """Raise ``TypeError`` naming the first parameter whose value has the wrong type."""
    values = {
        "model": body["model"],
        "messages": body["messages"],
        "stream": body["stream"],
        **known,
    }
    try:
        msgspec.convert(values, ChatCompletionRequest)
    except msgspec.ValidationError:
        pass
    else:
        return
    for name, value in values.items():  # slow path: find the culprit to name it
        try:
            msgspec.convert(value, _FIELD_TYPES[name])
        except msgspec.ValidationError as exc:
            raise TypeError(f"invalid value for parameter {name!r}: {exc}") from exc
    raise TypeError("invalid chat completion parameters")  # pragma: no cover
