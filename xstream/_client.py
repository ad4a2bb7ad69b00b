"""AsyncClient: configuration, one transport, and the resources on top of it.

The client holds no protocol logic of its own: it checks its options, builds
the :class:`~xstream._transport.Transport` (the API key, the pool, the
defaults) and hands it to the resources, ``chat.completions``,
``responses`` and ``sse``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import aiohttp

from ._config.timeouts import DEFAULT_TIMEOUT, NOT_GIVEN, Timeout, TimeoutTypes, resolve_timeout
from ._exceptions import ConfigurationError
from ._resources.chat import AsyncChat
from ._resources.responses import AsyncResponses
from ._resources.sse import AsyncSSE
from ._sse.decoder import DEFAULT_MAX_EVENT_BYTES
from ._telemetry.telemetry import Telemetry
from ._transport.transport import Transport

__all__ = ["DEFAULT_BASE_URL", "AsyncClient"]

DEFAULT_BASE_URL = "https://api.x.ai/v1"

_STATUS_HINTS = {
    401: " (the API key was refused: check XAI_API_KEY or api_key=)",
    403: " (this key may not use this model or endpoint)",
    404: " (check base_url and the model name)",
}


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
    use and closed by ``aclose()`` / ``async with``. ``conversation_id`` is sent
    with every chat completion as xAI's ``x-grok-conv-id`` (prompt caching).
    ``telemetry``: OpenTelemetry spans and metrics of every chat completion and
    Responses call, recorded when a tracer or meter provider is set (``True``,
    the default: the global providers; a :class:`Telemetry` for others, or to
    capture message content; ``False``: never).

    Its own session goes through ``proxy`` (``"http://user:password@host:port"``)
    when given, else (unless ``trust_env=False``) through ``HTTP_PROXY`` /
    ``HTTPS_PROXY`` minus ``NO_PROXY``, read when the client is built. :meth:`with_options` makes a client with other
    defaults over the same pool.
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
        conversation_id: str | None = None,
        telemetry: Telemetry | bool = True,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("XAI_API_KEY")
        if not key:
            raise ConfigurationError(
                "no API key: pass api_key=... or set the XAI_API_KEY environment variable"
            )
        if proxy is not None and session is not None:
            raise ConfigurationError(
                "proxy= configures xstream's own session; with session=, the proxy is "
                "your session's (pass proxy= to its requests, or trust_env=True)"
            )
        transport = Transport(
            base_url=_checked_url(base_url or os.environ.get("XAI_BASE_URL") or DEFAULT_BASE_URL),
            auth_headers=_auth(key),
            default_headers=default_headers,
            session=session,
            max_connections=max_connections,
            timeout=resolve_timeout(timeout, DEFAULT_TIMEOUT),
            max_retries=_checked_retries(max_retries),
            max_event_bytes=max_event_bytes,
            hints=_STATUS_HINTS,
            telemetry=_telemetry(telemetry),
            proxy=proxy,
            trust_env=trust_env,
        )
        self._use(transport, conversation_id)

    def _use(self, transport: Transport, conversation_id: str | None) -> None:
        self._transport = transport
        self.chat = AsyncChat(transport, conversation_id=conversation_id)
        self.responses = AsyncResponses(transport)
        self.sse = AsyncSSE(transport)

    def with_options(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: TimeoutTypes = NOT_GIVEN,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        max_event_bytes: int | None = None,
        conversation_id: str | None = None,
    ) -> AsyncClient:
        """A client with other defaults (those given) over this client's connection pool.

        ``default_headers`` are merged over this client's; the rest replace
        its values. The new client shares the pool and its proxies: closing
        it leaves the pool open, closing this client closes the pool for both.

        >>> fast = client.with_options(timeout=10, max_retries=0)  # doctest: +SKIP
        >>> completion = await fast.chat.completions.create(model="grok-4", messages=[...])
        """
        transport = self._transport.derive(
            base_url=None if base_url is None else _checked_url(base_url),
            auth_headers=None if api_key is None else _auth(api_key),
            default_headers={**self.default_headers, **(default_headers or {})},
            timeout=None if timeout is NOT_GIVEN else resolve_timeout(timeout, self.timeout),
            max_retries=None if max_retries is None else _checked_retries(max_retries),
            max_event_bytes=max_event_bytes,
        )
        derived = type(self).__new__(type(self))
        derived._use(transport, conversation_id or self.chat.completions.conversation_id)
        return derived

    # ------------------------------------------------------------ options

    @property
    def base_url(self) -> str:
        assert self._transport.base_url is not None
        return self._transport.base_url

    @property
    def timeout(self) -> Timeout:
        """The default deadlines of every call (``timeout=`` per call overrides them)."""
        return self._transport.timeout

    @timeout.setter
    def timeout(self, value: TimeoutTypes) -> None:
        self._transport.timeout = Timeout.coerce(value)

    @property
    def max_retries(self) -> int:
        return self._transport.max_retries

    @max_retries.setter
    def max_retries(self, value: int) -> None:
        self._transport.max_retries = _checked_retries(value)

    @property
    def max_event_bytes(self) -> int:
        return self._transport.max_event_bytes

    @property
    def default_headers(self) -> dict[str, str]:
        return self._transport.default_headers

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session xstream opened (a session you passed stays open). A client
        made by :meth:`with_options` leaves the pool open for the client it came from."""
        await self._transport.aclose()

    close = aclose

    def __repr__(self) -> str:  # never the key
        return f"<xstream.AsyncClient base_url={self.base_url!r}>"


def _telemetry(option: Telemetry | bool) -> Telemetry | None:
    if isinstance(option, Telemetry):
        return option
    if option is True:
        return Telemetry()
    if option is False:
        return None
    raise ConfigurationError(
        f"telemetry must be True, False or an xstream.Telemetry, got {option!r}"
    )


def _auth(key: str) -> dict[str, str]:
    if not key:
        raise ConfigurationError("the API key is empty")
    return {"Authorization": f"Bearer {key}"}


def _checked_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"base_url must start with http:// or https://, got {url!r}")
    return url


def _checked_retries(value: int) -> int:
    if value < 0:
        raise ConfigurationError("max_retries must be >= 0")
    return value
