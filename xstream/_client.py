"""AsyncClient: one aiohttp session, request building, error mapping, retries.

This is the one place where aiohttp and OS exceptions are translated into
xstream's (``raise Mapped(...) from exc``); the stream does the same for the
reads it owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
from collections.abc import Iterable, Mapping
from typing import Any, Literal, overload

import aiohttp
import msgspec

from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    ConfigurationError,
    ConnectTimeoutError,
    FirstEventTimeoutError,
    error_message,
    stream_error,
)
from ._events import client_sse
from ._http import ErrorMapper, decode_body, earliest, read_body
from ._responses import AsyncResponses
from ._retries import retry_delay, status_is_retryable
from ._sse import DEFAULT_MAX_EVENT_BYTES
from ._stream import AsyncStream
from ._timeouts import DEFAULT_TIMEOUT, Timeout, TimeoutTypes
from ._types import (
    COMPLETION_DECODER,
    ChatCompletion,
    ChatCompletionChunk,
    decode_lenient,
    encode_request,
)
from ._version import __version__

__all__ = ["DEFAULT_BASE_URL", "AsyncClient"]

log = logging.getLogger("xstream")

DEFAULT_BASE_URL = "https://api.x.ai/v1"
_USER_AGENT = (
    f"xstream/{__version__} python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()


class AsyncClient:
    """An async client for xAI and any OpenAI-compatible API.

    >>> async with AsyncClient() as client:                  # doctest: +SKIP
    ...     stream = await client.chat.completions.create(
    ...         model="grok-2-latest", messages=[{"role": "user", "content": "Hi"}], stream=True)
    ...     async for chunk in stream:
    ...         print(chunk.choices[0].delta.content or "", end="")

    ``api_key`` defaults to ``$XAI_API_KEY``, ``base_url`` to ``$XAI_BASE_URL``
    or ``https://api.x.ai/v1``. Pass your own ``session`` to share a connection
    pool; xstream then never closes it. Its own session is created on first
    use and closed by ``aclose()`` / ``async with``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        max_connections: int = 1000,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("XAI_API_KEY")
        if not key:
            raise ConfigurationError(
                "no API key: pass api_key=... or set the XAI_API_KEY environment variable"
            )
        url = base_url or os.environ.get("XAI_BASE_URL") or DEFAULT_BASE_URL
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"base_url must start with http:// or https://, got {url!r}")
        if max_retries < 0:
            raise ConfigurationError("max_retries must be >= 0")
        self._api_key = key
        self._errors = ErrorMapper([key], _STATUS_HINTS)
        self.base_url = url.rstrip("/")
        self.timeout = DEFAULT_TIMEOUT if timeout is NOT_GIVEN else Timeout.coerce(timeout)
        self.max_retries = max_retries
        self.max_event_bytes = max_event_bytes
        self.default_headers = dict(default_headers or {})
        self._max_connections = max_connections
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self.chat = AsyncChat(self)
        self.responses = AsyncResponses(self)

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session xstream opened (a session you passed stays open)."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    close = aclose

    sse = client_sse  # any event stream, with resume: see _events.py

    def __repr__(self) -> str:  # never the key
        return f"<xstream.AsyncClient base_url={self.base_url!r}>"

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed and self._owns_session:
            raise APIConnectionError("this client is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=aiohttp.ClientTimeout(total=None),  # deadlines are ours: see _timeouts
            )
        return self._session

    # ------------------------------------------------------------ requests

    def _headers(self, stream: bool, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
            "User-Agent": _USER_AGENT,
        }
        headers.update(self.default_headers)
        if extra:
            headers.update(extra)
        return headers

    async def _send(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: Timeout,
        retries: int,
    ) -> tuple[aiohttp.ClientResponse, int]:
        """POST ``body``; retry what is safe; return a 2xx response and retries left.

        Non-2xx answers become ``APIStatusError`` subclasses; transport errors
        ``APIConnectionError``/``APITimeoutError``, raised from the original.
        """
        session = self._get_session()
        url = f"{self.base_url}/{path.lstrip('/')}"
        client_timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout.connect, sock_connect=timeout.connect
        )
        attempt = 0
        while True:
            try:
                async with asyncio.timeout(earliest(timeout.first_event, timeout.total)):
                    response = await session.post(
                        url, data=body, headers=headers, timeout=client_timeout
                    )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                error = self._transport_error(exc, timeout)
                if attempt >= retries:
                    raise error from exc
                delay = retry_delay(attempt) or 0.0
                log.debug("retrying %s in %.2f s after %s", path, delay, error)
            else:
                if 200 <= response.status < 300:
                    return response, retries - attempt
                error = await self._status_error(response)
                retryable = status_is_retryable(response.status, response.headers)
                delay_or_none = retry_delay(attempt, _lower(response.headers))
                if attempt >= retries or not retryable or delay_or_none is None:
                    raise error
                delay = delay_or_none
                log.debug("retrying %s in %.2f s after HTTP %d", path, delay, response.status)
            attempt += 1
            await asyncio.sleep(delay)

    def _transport_error(self, exc: BaseException, timeout: Timeout) -> APIError:
        if isinstance(exc, aiohttp.ConnectionTimeoutError) or (
            isinstance(exc, aiohttp.ServerTimeoutError) and "connect" in str(exc).lower()
        ):
            return ConnectTimeoutError(
                f"could not connect to {self.base_url} within {timeout.connect} s",
                deadline="connect",
                seconds=timeout.connect,
            )
        if isinstance(exc, TimeoutError):
            seconds = earliest(timeout.first_event, timeout.total)
            return FirstEventTimeoutError(
                f"no response from {self.base_url} within {seconds} s",
                deadline="first_event",
                seconds=seconds,
            )
        return APIConnectionError(
            f"could not reach {self.base_url}: {type(exc).__name__}: {self._redact(str(exc))}"
        )

    async def _status_error(self, response: aiohttp.ClientResponse) -> APIStatusError:
        return await self._errors.status_error(response)

    async def _check_event_stream(self, response: aiohttp.ClientResponse) -> None:
        await self._errors.check_event_stream(response)

    def _redact(self, text: str) -> str:
        return self._errors.redact(text)


class AsyncChat:
    """``client.chat``: holds ``completions``."""

    def __init__(self, client: AsyncClient) -> None:
        self.completions = AsyncCompletions(client)


class AsyncCompletions:
    """``client.chat.completions``: ``create``."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: Literal[False] = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: Literal[True],
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> AsyncStream[ChatCompletionChunk]: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: bool,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]: ...

    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        **params: Any,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        """Create a chat completion; with ``stream=True``, an ``AsyncStream`` of chunks.

        API parameters (``temperature``, ``tools``, ``stream_options``, ...)
        pass through as keyword arguments; unset ones are not sent. Per call:
        ``extra_headers``, ``extra_body`` (merged into the JSON last) and
        ``timeout`` (a number of seconds or a :class:`Timeout`).
        """
        client = self._client
        deadlines = client.timeout if timeout is NOT_GIVEN else Timeout.coerce(timeout)
        body = encode_request(model, messages, stream=stream, params=params, extra_body=extra_body)
        headers = client._headers(stream, extra_headers)
        loop = asyncio.get_running_loop()
        started = loop.time()
        response, retries_left = await client._send(
            "chat/completions", body, headers, deadlines, client.max_retries
        )
        if not stream:
            return await _read_completion(response, deadlines)
        await client._check_event_stream(response)

        async def reopen(retries: int) -> aiohttp.ClientResponse:
            response, _ = await client._send("chat/completions", body, headers, deadlines, retries)
            await client._check_event_stream(response)
            return response

        return AsyncStream(
            response,
            timeout=deadlines,
            started=started,
            max_event_bytes=client.max_event_bytes,
            retries_left=retries_left,
            reopen=reopen,
        )


async def _read_completion(response: aiohttp.ClientResponse, timeout: Timeout) -> ChatCompletion:
    """Read and decode a non-streamed answer, within the first_event/total deadline."""
    raw = await read_body(response, timeout)
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


_STATUS_HINTS = {
    401: " (the API key was refused: check XAI_API_KEY or api_key=)",
    403: " (this key may not use this model or endpoint)",
    404: " (check base_url and the model name)",
}


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
