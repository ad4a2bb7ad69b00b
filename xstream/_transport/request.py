"""A request as the transport sends it (and sends again): method, URL, headers,
body, whether it streams, its deadlines and when it started; the secrets no message
may show; and the deadline arithmetic every wait uses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import aiohttp
import msgspec

from .._config.timeouts import DEFAULT_TIMEOUT, Timeout
from .._exceptions import APIError, APITimeoutError
from .redact import Redactor

if TYPE_CHECKING:
    from .._telemetry.telemetry import Operation

__all__ = ["Opened", "Request", "Secrets", "earliest", "head_window", "header_secrets", "window"]

_E = TypeVar("_E", bound=BaseException)
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key")


def earliest(*limits: float | None) -> float | None:
    """The smallest of the limits that are set (``None`` when none is)."""
    present = [limit for limit in limits if limit is not None]
    return min(present) if present else None


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """The credentials in a set of headers (to blank out of messages)."""
    secrets: list[str] = []
    for name, value in headers.items():
        if name.lower() in _CREDENTIAL_HEADERS:
            secrets.append(value)
            token = value.partition(" ")[2]
            if token:
                secrets.append(token)
    return secrets


class Secrets:
    """The secrets of a transport's requests: its credentials and its proxies', read
    when a message needs them (one object per transport, not one per request)."""

    __slots__ = ("auth_headers", "proxies")

    def __init__(self, auth_headers: Mapping[str, str], proxies: Any) -> None:
        self.auth_headers = auth_headers
        self.proxies = proxies  # a Proxies: its .secrets

    def __iter__(self) -> Iterator[str]:
        yield from header_secrets(self.auth_headers)
        yield from self.proxies.secrets


class _Redacts:
    """What blanks a request's secrets (the ones given, and the credentials in its
    headers) out of a text, made from those alone: what a request's telemetry record
    keeps, with no reference back to the request. Its :class:`Redactor` is built on
    first use: most requests show nothing."""

    __slots__ = ("_headers", "_redactor", "_secrets")

    def __init__(self, secrets: Iterable[str], headers: Mapping[str, str]) -> None:
        self._secrets = secrets
        self._headers = headers
        self._redactor: Redactor | None = None

    @property
    def redactor(self) -> Redactor:
        redactor = self._redactor
        if redactor is None:
            secrets = [*self._secrets, *header_secrets(self._headers)]
            redactor = self._redactor = Redactor(secrets)
        return redactor

    def __call__(self, text: str) -> str:
        return self.redactor.redact(text)


class Request(msgspec.Struct, gc=False, eq=False):
    """Everything needed to send one request again: method, URL, headers, body,
    query, deadlines, and the secrets no message may show. Equal only to itself
    (and hashable), as each request is one sending.

    Untracked by the garbage collector: a stream holds its request while it waits for
    its next chunk, so thousands of waiting streams are that many objects fewer for
    every full collection. What it refers to never refers back to it: its
    telemetry record redacts with :meth:`redacts` (the secrets, not the request)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None
    stream: bool = False  # the answer is an event stream (checked as one; Accept says so)
    params: Mapping[str, str] | None = None
    timeout: Timeout = DEFAULT_TIMEOUT
    max_retries: int = 2
    secrets: Iterable[str] = ()  # read when a message needs them
    hints: Mapping[int, str] = msgspec.field(default_factory=dict)
    # loop times: its call began (its turn in the pool included: ``total`` counts
    # from it), and its first attempt went out (``first_event`` counts from it)
    started: float | None = None
    sent: float = 0.0
    attempts: int = 0  # how many times it was sent since open()
    _redacts: _Redacts | None = None  # made when a message needs it (rarely)
    operation: Operation | None = None  # recorded by OpenTelemetry, when on

    def redacts(self) -> _Redacts:
        """What blanks this request's secrets out of a text, holding the secrets and
        headers, not the request (what its telemetry record keeps: no cycle through it)."""
        redacts = self._redacts
        if redacts is None:
            redacts = self._redacts = _Redacts(self.secrets, self.headers)
        return redacts

    @property
    def redactor(self) -> Redactor:
        """What blanks this request's secrets (the ones given, and the credentials in
        its headers) out of a text; built on first use: most requests show nothing."""
        return self.redacts().redactor

    def redact(self, text: str) -> str:
        """``text`` with every secret of this request replaced by ``***``."""
        return self.redactor.redact(text)

    def scrub(self, error: _E) -> _E:
        """``error`` with this request's secrets blanked out (see :class:`Redactor`)."""
        return self.redactor.scrub(error)

    def tried(self, error: _E, now: float) -> _E:
        """``error`` noting how many attempts were made and over how long (the
        message says so when there was more than one, or a deadline passed)."""
        if not isinstance(error, APIError) or self.started is None or self.attempts < 1:
            return error
        elapsed = max(now - self.started, 0.0)
        error.attempts, error.elapsed = self.attempts, elapsed
        if self.attempts > 1 or isinstance(error, APITimeoutError):
            noun = "attempt" if self.attempts == 1 else "attempts"
            message = f"{error.message} ({self.attempts} {noun} over {elapsed:.1f} s)"
            error.message = message
            error.args = (message, *error.args[1:])
        return error

    @property
    def where(self) -> str:
        """The URL for messages and logs: no query string (it may hold a token)."""
        return self.redact(self.url.partition("?")[0])

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.where}>"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        """What rich shows: the method and the URL as ``repr`` does (a Struct's own
        would show every field, the headers and their API key included)."""
        return [("method", self.method), ("url", self.where)]


class Opened(NamedTuple):
    """A request whose answer is a 2xx response, as a stream starts from it."""

    request: Request
    response: aiohttp.ClientResponse
    retries_left: int

    @property
    def started(self) -> float:
        """Loop time the request's first attempt went out (``total`` counts from it)."""
        started = self.request.started
        assert started is not None, "a request is opened after it started"
        return started


def window(
    timeout: Timeout, started: float, now: float, phase: str
) -> tuple[float | None, str, float | None]:
    """How long the next wait may last, which deadline bounds it, and its value:
    the ``phase`` deadline (``first_event`` or ``idle``) from now, or what is left
    of ``total`` (counted from ``started``) when that is less."""
    seconds: float | None = getattr(timeout, phase)
    limit, name = seconds, phase
    if timeout.total is not None:
        left = max(started + timeout.total - now, 0.0)
        if limit is None or left < limit:
            limit, name, seconds = left, "total", timeout.total
    return limit, name, seconds


def head_window(
    timeout: Timeout, started: float, now: float, *, stream: bool
) -> tuple[float | None, str, float | None]:
    """The wait for a response's head: like :func:`window` for ``first_event``,
    but for a streamed request also within ``response`` when that ends first
    (the head of a stream comes at once; a non-streamed head comes with the answer)."""
    limit, name, seconds = window(timeout, started, now, "first_event")
    if stream and timeout.response is not None:
        head = window(timeout, started, now, "response")
        if limit is None or (head[0] is not None and head[0] <= limit):
            return head
    return limit, name, seconds
