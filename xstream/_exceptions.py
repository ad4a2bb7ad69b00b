"""Every exception xstream raises, in one tree.

The names follow the OpenAI SDK, so ``except openai.RateLimitError`` ports by
changing the import. Everything derives from :class:`XStreamError`::

    XStreamError
    ├── ConfigurationError            no API key, bad base URL, bad option
    ├── ToolArgumentsError            a tool call's arguments are not JSON / not its type
    ├── StructuredOutputError         an answer asked for as a type did not come as one
    │   ├── RefusalError                  the model refused (``refusal``)
    │   ├── OutputValidationError         not JSON, or not the type
    │   ├── LengthFinishReasonError       cut at the token limit
    │   └── ContentFilterFinishReasonError  stopped by the content filter
    ├── ToolRoundsExceededError       run_tools hit max_rounds
    ├── NotAccumulatedError           get_final_completion() of a stream that keeps nothing
    └── APIError                      the API, the wire or the stream failed
        ├── APIStatusError            a non-2xx answer: status_code, response, body
        │   ├── BadRequestError               400
        │   ├── AuthenticationError           401
        │   ├── PermissionDeniedError         403
        │   ├── NotFoundError                 404
        │   ├── ConflictError                 409
        │   ├── UnprocessableEntityError      422
        │   ├── RateLimitError                429
        │   └── InternalServerError           5xx
        ├── APIConnectionError        could not connect, or the connection broke
        │   ├── StreamDisconnectedError       the peer dropped the stream mid-way
        │   ├── ProtocolError                 the peer broke HTTP (framing, length, encoding)
        │   └── APITimeoutError               a deadline passed: ``deadline``, ``seconds``
        │       ├── ConnectTimeoutError           connecting
        │       ├── ResponseTimeoutError          waiting for the status line and headers
        │       ├── FirstEventTimeoutError        waiting for the first event
        │       ├── IdleTimeoutError              waiting for the next event
        │       └── TotalTimeoutError             the whole request
        └── StreamError               the event stream broke its contract
            ├── IncompleteStreamError         the body ended without ``[DONE]``
            ├── NotStreamedError              one whole JSON answer came instead of a stream
            ├── MalformedEventError           a payload that is not valid JSON for its type
            │   └── InvalidUTF8Error              ... because it is not even UTF-8
            ├── EventTooLargeError            an event over the size limit
            └── ServerStreamError             an error sent inside the stream (also an
                │                             APIStatusError, status read from the payload)
                ├── OverloadedError               ... saying the server is overloaded
                └── StreamRateLimitError          ... saying "rate limit" (also a RateLimitError)

Third-party exceptions (aiohttp, OSError, asyncio.TimeoutError) are translated
in exactly one place, the client's transport, and always ``raise ... from exc``.

No message built here ever contains the API key: messages are made from status
codes, server bodies and byte counts, never from request headers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # aiohttp stays out of the sans-IO decoder's import graph
    from aiohttp import ClientResponse

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ConnectTimeoutError",
    "EventTooLargeError",
    "FirstEventTimeoutError",
    "IdleTimeoutError",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidUTF8Error",
    "MalformedEventError",
    "NotAccumulatedError",
    "NotFoundError",
    "NotStreamedError",
    "OverloadedError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "ResponseTimeoutError",
    "ServerStreamError",
    "StreamDisconnectedError",
    "StreamError",
    "StreamRateLimitError",
    "ToolRoundsExceededError",
    "TotalTimeoutError",
    "UnprocessableEntityError",
    "XStreamError",
    "deadline_error",
    "malformed_event",
]


class XStreamError(Exception):
    """Base class of every exception raised by xstream."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt without calling __init__ (its arguments are keyword-only), from
        # the message and the attributes; the live HTTP response does not travel.
        state = {k: v for k, v in self.__dict__.items() if k != "response"}
        if "response" in self.__dict__:
            state["response"] = None
        return (_rebuild, (type(self), self.args, state))


class ConfigurationError(XStreamError, ValueError):
    """The client was set up wrongly (for instance: no API key was found)."""


class ToolRoundsExceededError(XStreamError):
    """``run_tools`` reached ``max_rounds`` requests and the model still called
    tools; ``messages`` holds the conversation so far (tool results included)."""

    def __init__(self, max_rounds: int, messages: list[Any]) -> None:
        super().__init__(f"the model was still calling tools after {max_rounds} rounds")
        self.max_rounds = max_rounds
        self.messages = messages


class NotAccumulatedError(XStreamError, RuntimeError):
    """``get_final_completion()`` of a chunk stream that keeps nothing: made with
    ``create(..., stream=True, accumulate=False)``, or relayed with ``to_sse()``.
    Keep the chunks (the default), or read the completion from the typed events
    stream (``chat.completions.stream(...)``), which keeps what it needs."""


class APIError(XStreamError):
    """The API, the connection or the event stream failed.

    ``message`` is the human-readable reason; ``body`` the decoded error
    payload when the server sent one; ``code``/``type``/``param`` are read from
    OpenAI-style (``{"error": {...}}``) and xAI-style (``{"code", "error"}``) bodies.
    ``attempts`` is how many times the request was sent, ``elapsed`` the seconds
    from the first attempt to this error (``None`` when it was not sent); the
    message says both when the request was sent more than once or timed out.
    """

    message: str
    body: object | None
    code: str | None
    type: str | None
    param: str | None
    attempts: int = 1
    elapsed: float | None = None

    def __init__(self, message: str, *, body: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.body = body
        err = _error_object(body)
        self.code = _str_or_none(err.get("code"))
        self.type = _str_or_none(err.get("type"))
        self.param = _str_or_none(err.get("param"))


class APIStatusError(APIError):
    """The server answered with a non-2xx status (or an in-stream error mapped to one)."""

    status_code: int
    response: ClientResponse | None
    request_id: str | None

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        response: ClientResponse | None = None,
        body: object | None = None,
    ) -> None:
        super().__init__(message, body=body)
        self.status_code = status_code
        self.response = response
        self.request_id = _request_id(response)


class BadRequestError(APIStatusError):
    """HTTP 400: the request was malformed (bad parameter, unknown model, ...)."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing, invalid or revoked."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the key may not use this model or endpoint."""


class NotFoundError(APIStatusError):
    """HTTP 404: wrong base URL, path or model."""


class ConflictError(APIStatusError):
    """HTTP 409."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: the request was well-formed but its content was refused."""


class RateLimitError(APIStatusError):
    """HTTP 429, or a rate-limit error sent inside the stream."""


class InternalServerError(APIStatusError):
    """HTTP 5xx: the server failed."""


class APIConnectionError(APIError):
    """The connection could not be made, or broke."""

    def __init__(self, message: str = "Connection error.") -> None:
        super().__init__(message)


class StreamDisconnectedError(APIConnectionError):
    """The peer closed the connection in the middle of a stream.

    Every event received before the drop was delivered first; ``events_received``
    says how many.
    """

    def __init__(self, message: str, *, events_received: int) -> None:
        super().__init__(message)
        self.events_received = events_received


class ProtocolError(APIConnectionError):
    """The server's answer is not valid HTTP: a bad status line or header, a broken
    chunked framing, a body that does not decompress, ...

    Raised as soon as the parser finds it, after every item received before it
    (``events_received`` says how many), never after a deadline. The connection
    is closed, never reused.
    """

    def __init__(self, message: str, *, events_received: int = 0) -> None:
        super().__init__(message)
        self.events_received = events_received


class APITimeoutError(APIConnectionError):
    """A deadline passed. ``deadline`` names which one, ``seconds`` its value,
    ``events_received`` how many events had arrived."""

    def __init__(
        self,
        message: str = "Request timed out.",
        *,
        deadline: str | None = None,
        seconds: float | None = None,
        events_received: int = 0,
    ) -> None:
        super().__init__(message)
        self.deadline = deadline
        self.seconds = seconds
        self.events_received = events_received


class ConnectTimeoutError(APITimeoutError):
    """The connection could not be opened within ``Timeout.connect``."""


class ResponseTimeoutError(APITimeoutError):
    """A streamed request's status line and headers did not come within
    ``Timeout.response`` of sending it (the server accepted, and never answered)."""


class FirstEventTimeoutError(APITimeoutError):
    """No event arrived within ``Timeout.first_event`` of sending the request."""


class IdleTimeoutError(APITimeoutError):
    """No event arrived within ``Timeout.idle`` of the previous one."""


class TotalTimeoutError(APITimeoutError):
    """The request, stream included, outlasted ``Timeout.total``."""


class StreamError(APIError):
    """The event stream broke its contract."""


class IncompleteStreamError(StreamError):
    """The body ended before ``data: [DONE]``: the answer may be cut short.

    Every chunk received before the end was delivered first. ``partial`` holds
    what arrived, as an object, when the stream builds one (a background
    Responses stream that could not be resumed: a ``Response`` of its items).
    """

    def __init__(self, message: str, *, events_received: int, partial: Any = None) -> None:
        super().__init__(message)
        self.events_received = events_received
        self.partial = partial


class NotStreamedError(StreamError):
    """Asked for a stream, the server answered with one whole JSON document instead
    (some OpenAI-compatible servers ignore ``"stream": true``).

    Nothing is lost: ``body`` is the decoded JSON, and ``completion`` the answer
    decoded as what the stream would have built (a ``ChatCompletion`` for chat, a
    ``Response`` for the Responses API), or ``None`` when it is not one.
    """

    def __init__(
        self, message: str, *, body: object, raw: bytes = b"", completion: Any = None
    ) -> None:
        super().__init__(message, body=body)
        self.raw = raw
        self.completion = completion


class MalformedEventError(StreamError):
    """An event's payload is not valid JSON for its type.

    ``position`` is the 0-based index of the event in the stream, ``payload``
    the start of the offending bytes (at most 200).
    """

    def __init__(self, message: str, *, position: int, payload: bytes) -> None:
        super().__init__(message)
        self.position = position
        self.payload = payload


class InvalidUTF8Error(MalformedEventError):
    """An event's payload is not valid UTF-8, so it cannot be JSON."""


class EventTooLargeError(StreamError):
    """An event (or one unterminated line) outgrew the decoder's buffer limit.

    ``limit`` is the limit in bytes. ``events`` holds the complete events
    that the same piece of input carried before the oversized one: hand them
    to the consumer before raising, so nothing received is lost.
    """

    def __init__(self, message: str, *, limit: int, events: list[Any] | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.events: list[Any] = events if events is not None else []


class ServerStreamError(StreamError, APIStatusError):
    """The server sent an error inside the stream (``data: {"error": ...}`` or ``event: error``).

    The HTTP status was 200; ``status_code`` is what the payload means (its
    numeric ``code`` when it has one, else read from its ``type``), so
    ``except APIStatusError`` handlers see a meaningful status.
    """


class OverloadedError(ServerStreamError):
    """The server said, inside the stream, that it is overloaded (``status_code`` 503)."""


class StreamRateLimitError(ServerStreamError, RateLimitError):
    """The server said, inside the stream, that a rate limit was hit (``status_code`` 429).

    Also a :class:`RateLimitError`, so one ``except RateLimitError`` covers both.
    """


# ---------------------------------------------------------------- helpers


def _rebuild(cls: type[XStreamError], args: tuple[Any, ...], state: dict[str, Any]) -> XStreamError:
    """Unpickle an error: ``BaseException.__new__`` sets ``args``, then the attributes."""
    error = cls.__new__(cls, *args)
    error.__dict__.update(state)
    return error


def _error_object(body: object) -> dict[str, Any]:
    """The dict holding code/type/message in an OpenAI- or xAI-style error body."""
    if not isinstance(body, dict):
        return {}
    inner = body.get("error")
    if isinstance(inner, dict):
        return inner
    return body


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def error_message(body: object) -> str | None:
    """The server's own message in an error body, if it has one.

    Reads ``{"error": {"message": ...}}`` (OpenAI), ``{"error": "..."}`` and
    ``{"code": ..., "error": "..."}`` (xAI), and ``{"message": ...}``.
    """
    if not isinstance(body, dict):
        return None
    inner = body.get("error")
    if isinstance(inner, str):
        return inner
    if isinstance(inner, dict) and isinstance(inner.get("message"), str):
        return str(inner["message"])
    if isinstance(body.get("message"), str):
        return str(body["message"])
    return None


def _request_id(response: ClientResponse | None) -> str | None:
    if response is None:
        return None
    for name in ("x-request-id", "request-id", "x-amzn-requestid"):
        value = response.headers.get(name)
        if value:
            return value
    return None


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status (``APIStatusError`` when none is specific)."""
    if status >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status, APIStatusError)


_STREAM_ERROR_STATUS = (
    ("rate_limit", 429),
    ("overloaded", 503),
    ("unavailable", 503),
    ("invalid_request", 400),
    ("authentication", 401),
    ("permission", 403),
    ("not_found", 404),
)


def stream_error(body: object, response: ClientResponse | None) -> ServerStreamError:
    """The typed exception for an error payload received inside a stream."""
    err = _error_object(body)
    message = error_message(body) or "the server sent an error inside the stream"
    code, kind = err.get("code"), str(err.get("type") or "")
    status = 0
    if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
        status = int(code)
    hint = f"{kind} {code or ''}".lower()
    for word, mapped in _STREAM_ERROR_STATUS:
        if not status and word in hint:
            status = mapped
    status = status if 400 <= status <= 599 else 500
    cls: type[ServerStreamError] = ServerStreamError
    if status == 429:
        cls = StreamRateLimitError
    elif "overloaded" in hint or status in (503, 529):
        cls = OverloadedError
    return cls(
        f"error inside the stream: {message}", status_code=status, response=response, body=body
    )


def malformed_event(
    raw: bytes, exc: BaseException, *, position: int, subject: str, expected: str
) -> MalformedEventError:
    """The error for an event payload that does not decode as ``expected``.

    Whether the payload is invalid UTF-8 is decided from its bytes, not from the
    exception a decoder raised: msgspec 0.22 raised ``UnicodeDecodeError`` where
    0.23 raises ``msgspec.DecodeError``, and other decoders differ again.
    ``subject`` names the event for the message (``"event #3 of the stream"``).
    """
    payload = raw[:200]
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        error: MalformedEventError = InvalidUTF8Error(
            f"{subject} is not valid UTF-8 (byte {bad.start} of its data, "
            f"{raw[bad.start : bad.start + 4]!r}); it starts with {payload!r}",
            position=position,
            payload=payload,
        )
    else:
        error = MalformedEventError(
            f"{subject} is not {expected} ({exc}); it starts with {payload!r}",
            position=position,
            payload=payload,
        )
    error.__cause__ = exc
    return error


def deadline_error(
    name: str, message: str, *, seconds: float | None, events_received: int = 0
) -> APITimeoutError:
    """The timeout error for the deadline called ``name`` (``connect``,
    ``first_event``, ``idle``, ``total``)."""
    cls = _DEADLINE_CLASSES.get(name, APITimeoutError)
    return cls(message, deadline=name, seconds=seconds, events_received=events_received)


_DEADLINE_CLASSES: dict[str, type[APITimeoutError]] = {
    "connect": ConnectTimeoutError,
    "response": ResponseTimeoutError,
    "first_event": FirstEventTimeoutError,
    "idle": IdleTimeoutError,
    "total": TotalTimeoutError,
}


# Public names are shown as ``xstream.RateLimitError`` in tracebacks and reprs (and
# pickled by that name), not by the private module that defines them.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "xstream"
del _name, _obj
