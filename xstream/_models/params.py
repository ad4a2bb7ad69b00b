"""The parameters of every public call, declared once.

Each call's keyword arguments are a ``TypedDict`` here, unpacked into the async
method's signature (``**params: Unpack[...]``, PEP 692) and, through the
generated sync twin, into the blocking one's: one declaration, so mypy rejects a
misspelt keyword on both clients, and :func:`check_keywords` rejects it at run
time with a suggestion. What the API takes but is not declared here goes in
``extra_body`` (merged into the JSON last), as with the OpenAI SDK.

The API's own parameters are the ones xAI and OpenAI document for each endpoint;
their values are sent as given (``None``: not sent). (No ``from __future__ import
annotations`` here: evaluated annotations make the ``TypedDict`` classes several
times cheaper to build, and the chat request's checked Struct is derived from them.)
"""

from collections.abc import Iterable, Mapping
from typing import Any, Required, TypedDict

from .._config.timeouts import TimeoutTypes

__all__ = [
    "NOT_SENT",
    "CallOptions",
    "ChatCompletionCreateParams",
    "ChatCompletionParams",
    "ChatOptions",
    "RequestOptions",
    "ResponseCreateParams",
    "ResponseParams",
    "ResponseWarmParams",
    "SSEOptions",
    "StreamOptions",
    "check_keywords",
]


class CallOptions(TypedDict, total=False):
    """Per call, on every method: how it is sent, not what."""

    extra_headers: Mapping[str, str] | None
    """Headers added to (and winning over) the client's."""
    timeout: TimeoutTypes
    """Seconds, a :class:`~xstream.Timeout` or ``None`` (no deadline); default: the client's."""
    max_retries: int | None
    """Attempts redone before anything was received; default: the client's."""


class RequestOptions(CallOptions, total=False):
    """:class:`CallOptions` of a call that sends a JSON body."""

    extra_body: Mapping[str, Any] | None
    """Merged into the JSON body last: for parameters not declared here."""


# -- chat completions ---------------------------------------------------------------------


class ChatOptions(RequestOptions, total=False):
    """:class:`RequestOptions` of a chat completion."""

    conversation_id: str | None
    """Sent as xAI's ``x-grok-conv-id`` header (prompt caching); default: the client's."""


class StreamOptions(TypedDict, total=False):
    """What a chunk stream (``create(..., stream=True)``) keeps."""

    accumulate: bool
    """Merge the chunks, as they are read, for ``get_final_completion()`` (default
    ``True``; the text is kept at about its own size). ``False`` keeps nothing:
    ``get_final_completion()`` then raises ``NotAccumulatedError``."""


class ChatCompletionParams(ChatOptions, total=False):
    """``POST /chat/completions``: every parameter but ``stream``, ``response_format``
    and ``tools`` (which ``stream()`` and ``parse()`` take as types too)."""

    model: Required[str]
    messages: Required[Iterable[Any]]
    audio: Mapping[str, Any] | None
    frequency_penalty: float | None
    logit_bias: Mapping[str, int | float] | Mapping[int, int | float] | None
    logprobs: bool | None
    max_completion_tokens: int | None
    max_tokens: int | None
    metadata: Mapping[str, str] | None
    modalities: list[str] | None
    n: int | None
    parallel_tool_calls: bool | None
    prediction: Mapping[str, Any] | None
    presence_penalty: float | None
    prompt_cache_key: str | None
    reasoning_effort: str | None
    safety_identifier: str | None
    search_parameters: Mapping[str, Any] | None
    """xAI's Live Search (retired by xAI: its API answers 410)."""
    seed: int | None
    service_tier: str | None
    stop: str | list[str] | None
    store: bool | None
    stream_options: Mapping[str, Any] | None
    temperature: float | None
    tool_choice: str | Mapping[str, Any] | None
    top_logprobs: int | None
    top_p: float | None
    user: str | None
    verbosity: str | None
    web_search_options: Mapping[str, Any] | None


class ChatCompletionCreateParams(ChatCompletionParams, StreamOptions, total=False):
    """``create()``'s parameters: :class:`ChatCompletionParams` with the JSON forms of
    ``response_format`` and ``tools``, and what a stream keeps."""

    response_format: Mapping[str, Any] | None
    tools: Iterable[Mapping[str, Any]] | None


NOT_SENT = frozenset(
    ChatOptions.__optional_keys__ | StreamOptions.__optional_keys__
)  # xstream's options of a chat completion: none of them goes in the body

# -- the Responses API ----------------------------------------------------------------------


class ResponseWarmParams(RequestOptions, total=False):
    """What warms a WebSocket session up (``session.warm``): every parameter of
    ``POST /responses`` but ``input``, ``stream`` and ``text_format``."""

    model: Required[str]
    background: bool | None
    conversation: str | Mapping[str, Any] | None
    include: list[str] | None
    instructions: str | None
    max_output_tokens: int | None
    max_tool_calls: int | None
    metadata: Mapping[str, str] | None
    parallel_tool_calls: bool | None
    previous_response_id: str | None
    prompt: Mapping[str, Any] | None
    prompt_cache_key: str | None
    reasoning: Mapping[str, Any] | None
    safety_identifier: str | None
    search_parameters: Mapping[str, Any] | None
    service_tier: str | None
    store: bool | None
    stream_options: Mapping[str, Any] | None
    temperature: float | None
    text: Mapping[str, Any] | None
    tool_choice: str | Mapping[str, Any] | None
    tools: Iterable[Any] | None
    top_logprobs: int | None
    top_p: float | None
    truncation: str | None
    user: str | None


class ResponseParams(ResponseWarmParams, total=False):
    """``POST /responses``: every parameter but ``stream`` and ``text_format``."""

    input: Required[Any]
    """A string, or a list of input items (dicts or Structs)."""


ResponseCreateParams = ResponseParams


# -- any event stream -------------------------------------------------------------------------


class SSEOptions(TypedDict, total=False):
    """``client.sse(method, url, ...)``: any event stream."""

    json: Any
    """Sent as the JSON body."""
    params: Mapping[str, str] | None
    """The query string."""
    headers: Mapping[str, str] | None
    timeout: TimeoutTypes
    reconnect: bool | None
    """Open the stream again after a drop (default: for GET only)."""
    max_reconnects: int
    """Attempts in a row without a new event (default 5)."""
    max_retries: int | None
    last_event_id: str | None
    """Resume after this event id on the first request."""


def check_keywords(given: Mapping[str, Any], declared: type, call: str) -> None:
    """Refuse keywords ``declared`` (a TypedDict) does not have, as Python refuses an
    unknown keyword: a ``TypeError`` naming it, with the closest declared name.

    >>> check_keywords({"max_retires": 1}, CallOptions, "create")
    Traceback (most recent call last):
    TypeError: create() got an unexpected keyword argument 'max_retires' (did you mean 'max_retries'?)
    """
    names: frozenset[str] = _NAMES.get(declared) or _names(declared)
    unknown = given.keys() - names
    if not unknown:
        return
    name = sorted(unknown)[0]
    import difflib  # only on the way to an error

    close = difflib.get_close_matches(name, names, n=1)
    hint = (
        f" (did you mean {close[0]!r}?)"
        if close
        else "; a parameter this version does not declare goes in extra_body={...}"
        if "extra_body" in names
        else ""
    )
    raise TypeError(f"{call}() got an unexpected keyword argument {name!r}{hint}")


_NAMES: dict[type, frozenset[str]] = {}


def _names(declared: Any) -> frozenset[str]:
    names = frozenset(declared.__required_keys__ | declared.__optional_keys__)
    _NAMES[declared] = names
    return names
