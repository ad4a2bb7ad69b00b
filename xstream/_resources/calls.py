"""What each resource call sends, built without I/O: a :class:`Call`.

A resource method (async, or its generated blocking twin) checks its keywords,
builds a ``Call`` here and hands it to the request pipeline
(:class:`~xstream._resources.api.AsyncAPI`), which sends it and either decodes
the answer (``answer``) or makes the stream (``stream_cls``). Everything that
decides what goes on the wire for a call lives here, once for both clients.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import aiohttp
import msgspec

from .._config.timeouts import NOT_GIVEN
from .._exceptions import APIError, error_message, stream_error
from .._models.chat import (
    COMPLETION_DECODER,
    ChatCompletion,
    decode_lenient,
    encode_request,
    message_list,
)
from .._models.params import (
    NOT_SENT,
    CallOptions,
    ChatCompletionCreateParams,
    ChatCompletionParams,
    RequestOptions,
    ResponseParams,
    SSEOptions,
    check_keywords,
)
from .._models.responses import Response, as_input
from .._protocol.chat_state import ChatCompletionStreamState
from .._protocol.response_state import ResponseStreamState
from .._protocol.schema import is_type, response_tools_param, tools_param
from .._protocol.schema import response_format as schema_response_format
from .._streams.chat import AsyncStream
from .._streams.events import DEFAULT_MAX_RECONNECTS, EventStream, event_decoder
from .._streams.responses import ResponseStream, decode_response
from .._transport.errors import decode_body

__all__ = [
    "Call",
    "chat_call",
    "chat_stream_call",
    "deferred_call",
    "read_whole",
    "response_call",
    "response_id_call",
    "response_parsed_call",
    "sse_call",
]

Answer = Callable[[bytes, aiohttp.ClientResponse], Any]


class Call:
    """One call as the pipeline sends it: the request (``method``, ``path``,
    ``body``, whether it ``stream``s, ``headers``, query ``params``, ``timeout``,
    ``max_retries``), what reads the answer (``answer`` for one read whole,
    ``stream_cls(transport, opened, **stream_options)`` for a stream), and what
    telemetry records (``trace``: the GenAI call's model and parameters, or what makes
    them: a tuple ``(function, *arguments)``, called when the request is built; one
    object, where a ``functools.partial`` is three, per call waiting its turn)."""

    __slots__ = (
        "answer",
        "body",
        "headers",
        "last_event_id",
        "max_retries",
        "method",
        "params",
        "path",
        "stream",
        "stream_cls",
        "stream_options",
        "timeout",
        "trace",
    )

    def __init__(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        stream: bool = False,
        options: CallOptions | Mapping[str, Any] = {},  # noqa: B006 - read only
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        answer: Answer | None = None,
        stream_cls: Any = None,
        stream_options: Mapping[str, Any] = {},
        trace: dict[str, Any] | tuple[Any, ...] | None = None,
        last_event_id: str = "",
    ) -> None:
        self.method = method
        self.path = path
        self.body = body
        self.stream = stream
        extra = options.get("extra_headers")
        self.headers = {**(headers or {}), **extra} if extra else headers
        self.params = params
        self.timeout = options.get("timeout", NOT_GIVEN)
        self.max_retries = options.get("max_retries")
        self.answer = answer if answer is not None else _json
        self.stream_cls = stream_cls
        self.stream_options = stream_options
        self.trace = trace
        self.last_event_id = last_event_id

    def __repr__(self) -> str:
        return f"<Call {self.method} {self.path} stream={self.stream}>"


# -- chat completions ---------------------------------------------------------------------


def chat_call(
    params: Mapping[str, Any],
    *,
    stream: bool,
    deferred: bool = False,
    conversation_id: str | None = None,
    accumulate: bool | None = None,
    method: str = "create",
) -> Call:
    """``POST chat/completions``: ``params`` are ``create()``'s keywords (checked);
    ``conversation_id`` the client's default."""
    check_keywords(params, ChatCompletionCreateParams, method)
    sent = {k: v for k, v in params.items() if k not in NOT_SENT and k not in ("model", "messages")}
    if deferred:
        sent["deferred"] = True
    extra_body = params.get("extra_body")
    model: str = params["model"]
    body = encode_request(
        model, params["messages"], stream=stream, params=sent, extra_body=extra_body
    )
    conversation = params.get("conversation_id") or conversation_id
    return Call(
        "POST",
        "chat/completions",
        body=body,
        stream=stream,
        options=params,
        headers={"x-grok-conv-id": conversation} if conversation else None,
        answer=_deferred_id if deferred and not stream else _completion,
        stream_cls=AsyncStream,
        stream_options=_ACCUMULATE
        if (params.get("accumulate", True) if accumulate is None else accumulate)
        else _NO_ACCUMULATE,
        # made when the request is built, and only when traced: a call waiting its turn
        # for a connection holds what it sends, not also what telemetry would record
        trace=(_chat_trace, params, stream, deferred, conversation),
    )


_ACCUMULATE: Mapping[str, Any] = MappingProxyType({"accumulate": True})
_NO_ACCUMULATE: Mapping[str, Any] = MappingProxyType({"accumulate": False})


def _chat_trace(
    params: Mapping[str, Any], stream: bool, deferred: bool, conversation: str | None
) -> dict[str, Any]:
    """What telemetry records of a chat call: its model and the parameters sent."""
    sent = {k: v for k, v in params.items() if k not in NOT_SENT and k not in ("model", "messages")}
    if deferred:
        sent["deferred"] = True
    extra_body = params.get("extra_body")
    return {
        "model": params["model"],
        "params": {**sent, **extra_body} if extra_body else sent,
        "stream": stream,
        "conversation_id": conversation,
    }


def chat_stream_call(
    params: Mapping[str, Any],
    response_format: Any,
    tools: Iterable[Any] | None,
    *,
    conversation_id: str | None = None,
    method: str = "stream",
) -> tuple[Call, Callable[[], ChatCompletionStreamState[Any]]]:
    """``stream()`` / ``parse()``: the call (``response_format`` and ``tools`` as the
    API takes them: types become schemas) and what makes the state that parses the
    answer with them."""
    check_keywords(params, ChatCompletionParams, method)
    sent = dict(params)
    sent["messages"] = message_list(params["messages"])
    kind = None
    if response_format is not None:
        if is_type(response_format):
            kind = response_format
            sent["response_format"] = schema_response_format(response_format)
        else:
            sent["response_format"] = response_format
    declared = tools_param(tools) if tools is not None else None  # types become FunctionTools once
    if declared is not None:
        sent["tools"] = declared
    streamed = method != "parse"
    call = chat_call(
        sent,
        stream=streamed,
        conversation_id=conversation_id,
        accumulate=not streamed,  # the events' state merges the chunks
        method=method,
    )
    return call, lambda: ChatCompletionStreamState(response_format=kind, tools=declared)


def deferred_call(request_id: str, options: CallOptions) -> Call:
    """``GET chat/deferred-completion/{request_id}`` (202 until it is ready)."""
    path = f"chat/deferred-completion/{urllib.parse.quote(request_id, safe='')}"
    return Call("GET", path, options=options, answer=_completion)


def read_whole(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """``with_raw_response`` is for answers read whole: no stream, no deferred."""
    if params.get("stream") or params.get("deferred"):
        raise ValueError(
            "with_raw_response is for answers read whole: a stream has its HTTP response "
            "as stream.response, a deferred completion its request_id"
        )
    return {k: v for k, v in params.items() if k != "stream"}


def _completion(raw: bytes, response: aiohttp.ClientResponse) -> ChatCompletion:
    """Decode a non-streamed answer (an error body raises)."""
    try:
        completion = COMPLETION_DECODER.decode(raw)
    except ValueError as exc:
        completion = _refused_completion(raw, response, exc)
    if not completion.choices and error_message(decode_body(raw)) is not None:
        raise stream_error(decode_body(raw), response)
    return completion


def _refused_completion(
    raw: bytes, response: aiohttp.ClientResponse, exc: ValueError
) -> ChatCompletion:
    """A body the strict decoder refused: nulls where defaults belong, or an error."""
    if isinstance(exc, msgspec.ValidationError):
        with contextlib.suppress(ValueError):
            return decode_lenient(raw, ChatCompletion)
    body = decode_body(raw)
    if error_message(body) is not None:
        raise stream_error(body, response) from exc
    raise APIError(
        f"the response is not a chat completion ({exc}); it starts with {raw[:200]!r}",
        body=body,
    ) from exc


def _deferred_id(raw: bytes, response: aiohttp.ClientResponse) -> str:
    """The ``request_id`` of a deferred completion's first answer."""
    answer = decode_body(raw)
    request_id = answer.get("request_id") if isinstance(answer, dict) else None
    if not isinstance(request_id, str) or not request_id:
        raise APIError(
            f"a deferred completion was asked for; the answer has no request_id: {str(answer)[:200]}",
            body=answer,
        )
    return request_id


def _json(raw: bytes, response: aiohttp.ClientResponse) -> Any:
    return decode_body(raw)


# -- the Responses API ----------------------------------------------------------------------

_RESPONSE_OPTIONS = RequestOptions.__optional_keys__  # how it is sent, not what


def response_call(
    params: Mapping[str, Any],
    *,
    stream: bool,
    text_format: Any = None,
    method: str = "create",
) -> Call:
    """``POST responses``: ``params`` are ``create()``'s keywords (checked);
    ``text_format`` a type whose strict schema becomes ``text.format``; ``tools``
    types become the API's flat function tools."""
    check_keywords(params, ResponseParams, method)
    given = params["input"]
    if isinstance(given, Iterator):
        given = list(given)  # an iterator of items, read once here
    body: dict[str, Any] = {"model": params["model"], "input": as_input(given)}
    if stream:
        body["stream"] = True
    tools = params.get("tools")
    if tools is not None:
        body["tools"] = response_tools_param(tools)
    body.update(
        (name, value)
        for name, value in params.items()
        if value is not None and name not in _RESPONSE_OPTIONS and name not in body
    )
    if text_format is not None:
        text = dict(body.get("text") or {})
        schema = schema_response_format(text_format)["json_schema"]
        text["format"] = {"type": "json_schema", **schema}
        body["text"] = text
    extra_body = params.get("extra_body")
    if extra_body:
        body.update(extra_body)
    return Call(
        "POST",
        "responses",
        body=msgspec.json.encode(body),
        stream=stream,
        options=params,
        answer=_response,
        stream_cls=ResponseStream,
        stream_options={"background": bool(params.get("background"))},
        trace={"model": body["model"], "params": body, "stream": stream},
    )


def response_parsed_call(
    params: Mapping[str, Any], text_format: Any, *, method: str
) -> tuple[Call, Callable[[], ResponseStreamState[Any]]]:
    """``stream()`` / ``parse()``: the call (``tools`` as the API takes them, once)
    and what makes the state that parses the answer with them."""
    sent = dict(params)
    tools = params.get("tools")
    declared = response_tools_param(tools) if tools is not None else None
    if declared is not None:
        sent["tools"] = declared
    call = response_call(sent, stream=method != "parse", text_format=text_format, method=method)
    return call, lambda: ResponseStreamState(text_format=text_format, tools=declared)


def response_id_call(
    method: str,
    response_id: str,
    options: CallOptions,
    *,
    stream: bool = False,
    starting_after: int | None = None,
) -> Call:
    """``GET`` / ``DELETE responses/{id}``: a stored response, its events again
    (``stream``), or its deletion."""
    check_keywords(options, CallOptions, method.lower())
    query = {"stream": "true"} if stream else {}
    if starting_after is not None:
        query["starting_after"] = str(starting_after)
    return Call(
        method,
        f"responses/{_path_id(response_id)}",
        stream=stream,
        options=options,
        params=query or None,
        answer=_response if method == "GET" else _json,
        stream_cls=ResponseStream,
        stream_options={"background": True},
    )


def _path_id(response_id: str) -> str:
    """An id as one path segment (an id with ``/`` or ``?`` must not change the URL)."""
    if not response_id or not isinstance(response_id, str):
        raise ValueError(f"response_id must be a non-empty string, got {response_id!r}")
    return urllib.parse.quote(response_id, safe="")


def _response(raw: bytes, response: aiohttp.ClientResponse) -> Response:
    """Decode a non-streamed response (an error body, or a failed response, raises)."""
    try:
        result = decode_response(raw)
    except ValueError as exc:
        body = decode_body(raw)
        if error_message(body) is not None:
            raise stream_error(body, response) from exc
        raise APIError(
            f"the answer is not a response object ({exc}); it starts with {raw[:200]!r}",
            body=body,
        ) from exc
    if not result.id and not result.output and error_message(decode_body(raw)) is not None:
        raise stream_error(decode_body(raw), response)
    if result.status == "failed" and result.error is not None:
        raise stream_error({"error": msgspec.to_builtins(result.error)}, response)
    return result


# -- any event stream -------------------------------------------------------------------------


def sse_call(method: str, url: str, type: Any, options: SSEOptions) -> Call:
    """Any event stream: ``options`` are ``sse()``'s keywords (checked)."""
    check_keywords(options, SSEOptions, "sse")
    json = options.get("json")
    max_reconnects = options.get("max_reconnects", DEFAULT_MAX_RECONNECTS)
    if max_reconnects < 0:
        raise ValueError("max_reconnects must be >= 0")
    reconnect = options.get("reconnect")
    last_event_id = options.get("last_event_id") or ""
    return Call(
        method,
        url,
        body=None if json is None else msgspec.json.encode(json),
        stream=True,
        options={
            "timeout": options.get("timeout", NOT_GIVEN),
            "max_retries": options.get("max_retries"),
        },
        headers=options.get("headers"),
        params=options.get("params"),
        stream_cls=EventStream,
        stream_options={
            "decode": None if type is None else event_decoder(type),
            "reconnect": method.upper() == "GET" if reconnect is None else reconnect,
            "max_reconnects": max_reconnects,
            "last_event_id": last_event_id,
        },
        last_event_id=last_event_id,
    )
