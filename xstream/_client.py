"""AsyncClient: configuration, one transport, and the resources on top of it.

The client holds no protocol logic of its own: it checks its options, builds
the :class:`~xstream._transport.Transport` (the API key, the pool, the
defaults) and hands it to the resources, ``chat.completions``,
``responses`` and ``sse``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Self, TypedDict, Unpack

import aiohttp

from ._config.timeouts import DEFAULT_TIMEOUT, NOT_GIVEN, Timeout, TimeoutTypes, resolve_timeout
from ._exceptions import ConfigurationError
from ._models.params import check_keywords
from ._resources.api import AsyncAPI
from ._resources.chat import AsyncChat
from ._resources.responses import AsyncResponses
from ._resources.sse import AsyncSSE
from ._sse.decoder import DEFAULT_MAX_EVENT_BYTES
from ._telemetry.telemetry import Telemetry
from ._transport.transport import Transport

__all__ = [
    "DEFAULT_BASE_URL",
    "AsyncClient",
    "ClientOptions",
    "DerivedClientOptions",
    "detach",
    "pipeline",
]

DEFAULT_BASE_URL = "https://api.x.ai/v1"
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_CONNECTIONS = 1000

_STATUS_HINTS = {
    401: " (the API key was refused: check XAI_API_KEY or api_key=)",
    403: " (this key may not use this model or endpoint)",
    404: " (check base_url and the model name)",
}


class DerivedClientOptions(TypedDict, total=False):
    """``with_options(...)``: what a derived client may change."""

    api_key: str | None
    base_url: str | None
    timeout: TimeoutTypes
    max_retries: int | None
    default_headers: Mapping[str, str] | None
    max_event_bytes: int | None
    conversation_id: str | None


class ClientOptions(TypedDict, total=False):
    """The options of ``AsyncClient(...)`` and ``Client(...)`` (besides ``api_key``)."""

    base_url: str | None
    """Default ``$XAI_BASE_URL``, else ``https://api.x.ai/v1``."""
    timeout: TimeoutTypes
    max_retries: int
    """Default 2."""
    default_headers: Mapping[str, str] | None
    max_event_bytes: int
    """The largest event accepted (default 16 MiB)."""
    max_connections: int
    """The pool's size (default 1,000)."""
    conversation_id: str | None
    telemetry: Telemetry | bool
    """``True`` (default): the global OpenTelemetry providers; a Telemetry; ``False``."""
    proxy: str | None
    trust_env: bool
    """Read ``HTTP(S)_PROXY`` / ``NO_PROXY`` (default True)."""


class AsyncClientOptions(ClientOptions, total=False):
    """``AsyncClient(...)`` also takes your own session (its pool; never closed by xstream)."""

    session: aiohttp.ClientSession | None


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
        session: aiohttp.ClientSession | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        check_keywords(options, ClientOptions, "AsyncClient")
        key = api_key if api_key is not None else os.environ.get("XAI_API_KEY")
        if not key:
            raise ConfigurationError(
                "no API key: pass api_key=... or set the XAI_API_KEY environment variable"
            )
        proxy = options.get("proxy")
        if proxy is not None and session is not None:
            raise ConfigurationError(
                "proxy= configures xstream's own session; with session=, the proxy is "
                "your session's (pass proxy= to its requests, or trust_env=True)"
            )
        base_url = options.get("base_url") or os.environ.get("XAI_BASE_URL") or DEFAULT_BASE_URL
        transport = Transport(
            base_url=_checked_url(base_url),
            auth_headers=_auth(key),
            default_headers=options.get("default_headers"),
            session=session,
            max_connections=options.get("max_connections", DEFAULT_MAX_CONNECTIONS),
            timeout=resolve_timeout(options.get("timeout", NOT_GIVEN), DEFAULT_TIMEOUT),
            max_retries=_checked_retries(options.get("max_retries", DEFAULT_MAX_RETRIES)),
            max_event_bytes=options.get("max_event_bytes", DEFAULT_MAX_EVENT_BYTES),
            hints=_STATUS_HINTS,
            telemetry=_telemetry(options.get("telemetry", True)),
            proxy=proxy,
            trust_env=options.get("trust_env", True),
        )
        self._use(AsyncAPI(transport, conversation_id=options.get("conversation_id")))

    def _use(self, api: AsyncAPI) -> None:
        self._api = api
        self._transport = api.transport
        self.chat = AsyncChat(api)
        self.responses = AsyncResponses(api)
        self.sse = AsyncSSE(api)

    def with_options(self, **options: Unpack[DerivedClientOptions]) -> Self:
        """A client with other defaults (those given) over this client's connection pool.

        ``default_headers`` are merged over this client's; the rest replace
        its values. The new client shares the pool and its proxies: closing
        it leaves the pool open, closing this client closes the pool for both.

        >>> fast = client.with_options(timeout=10, max_retries=0)  # doctest: +SKIP
        >>> completion = await fast.chat.completions.create(model="grok-4", messages=[...])
        """
        check_keywords(options, DerivedClientOptions, "with_options")
        base_url, api_key = options.get("base_url"), options.get("api_key")
        timeout, max_retries = options.get("timeout", NOT_GIVEN), options.get("max_retries")
        transport = self._transport.derive(
            base_url=None if base_url is None else _checked_url(base_url),
            auth_headers=None if api_key is None else _auth(api_key),
            default_headers={**self.default_headers, **(options.get("default_headers") or {})},
            timeout=None if timeout is NOT_GIVEN else resolve_timeout(timeout, self.timeout),
            max_retries=None if max_retries is None else _checked_retries(max_retries),
            max_event_bytes=options.get("max_event_bytes"),
        )
        derived = type(self).__new__(type(self))
        derived._use(self._api.derive(transport, options.get("conversation_id")))
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

    async def __aenter__(self) -> Self:
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


def pipeline(client: AsyncClient) -> AsyncAPI:
    """The request pipeline ``client``'s resources send through (the sync facade
    runs it on its loop thread)."""
    return client._api


def detach(client: AsyncClient) -> None:
    """``client`` takes no more requests, its pool left as it is (the ``close()`` of
    a client made by ``with_options``, from the sync facade)."""
    client._transport.detach()


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
