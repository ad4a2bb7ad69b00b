"""The transport: the one place a request is sent, retried and its failures mapped.

Every request xstream makes (chat completions, the Responses API, any event
stream, streamed or not, async or through the sync facade) is a
:class:`Request` sent by a :class:`Transport`. The transport owns:

* URL building and headers (the API key goes only to ``base_url``'s origin);
* the connection pool (its own ``aiohttp.ClientSession``, or the caller's);
* retries before anything was received, and the deadline of each attempt;
* the translation of aiohttp and OS exceptions into xstream's, done here and
  nowhere else (``raise Mapped(...) from exc``, as httpx's transports do);
* refused answers: their (bounded) bodies read and parsed into status errors;
* redaction: every message built from server or OS text has the request's
  credentials blanked out.

It knows nothing of chat, events or streams: those read the body it returns
(see :mod:`xstream._streams.engine`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import platform
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from .._config.retries import retry_delay, status_is_retryable
from .._config.timeouts import DEFAULT_TIMEOUT, NOT_GIVEN, Timeout, resolve_timeout
from .._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    ConfigurationError,
    ProtocolError,
    StreamError,
    TotalTimeoutError,
    XStreamError,
    deadline_error,
    error_message,
    status_error_class,
    stream_error,
)
from .._sse.decoder import DEFAULT_MAX_EVENT_BYTES
from .._telemetry.telemetry import Telemetry
from .._version import __version__
from .errors import (
    ERROR_BODY_LIMIT,
    READ_ERRORS,
    body_error,
    decode_body,
    error_payload,
    headers_of,
    not_streamed,
    read_prefix,
    send_error,
)
from .pool import connector_class, forget_reuse, reuse_flag, slot, stale, watch
from .proxy import Proxies
from .raw import note_opened
from .request import Opened, Request, Secrets, head_window, window
from .returns import Returns

__all__ = ["USER_AGENT", "Transport"]

log = logging.getLogger("xstream")

_E = TypeVar("_E", bound=BaseException)
_T = TypeVar("_T")

USER_AGENT = (
    f"xstream/{__version__} python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)


async def _closer(session: aiohttp.ClientSession) -> AsyncGenerator[None]:
    try:
        yield
    finally:
        if not session.closed:
            await session.close()


def close_at_loop_end(session: aiohttp.ClientSession) -> AsyncGenerator[None]:
    """Close ``session`` on its loop if its client is never closed, as the OpenAI
    SDK's client allows, without aiohttp's "Unclosed client session/connector".

    The session is held by a started async generator, which asyncio closes for
    us in the loop: when the generator is dropped with its pool (the client was
    garbage-collected), or at ``loop.shutdown_asyncgens()`` (``asyncio.run``
    ending with the client still alive); its ``finally`` closes the session."""
    guard = _closer(session)
    with contextlib.suppress(StopIteration):
        guard.asend(None).send(None)  # runs to the yield: asyncio now tracks it
    return guard


class _Pool:
    """The connection pool behind a transport and every transport derived from it
    (:meth:`Transport.derive`): one session, opened on first use when it is ours,
    and the proxies its requests go through."""

    __slots__ = ("closed", "guard", "max_connections", "owned", "proxies", "returns", "session")

    def __init__(
        self, session: aiohttp.ClientSession | None, max_connections: int, proxies: Proxies
    ) -> None:
        self.session = session
        self.owned = session is None
        self.closed = False
        self.guard: AsyncGenerator[None] | None = None  # closes our session if we are not
        self.max_connections = max_connections
        self.proxies = proxies
        self.returns = Returns()  # connections on their way back


class Transport:
    """Sends :class:`Request` objects over one connection pool.

    ``base_url`` (when set) is what relative paths are joined to, and the only
    origin that gets ``auth_headers``. ``session`` is the caller's pool, never
    closed here; without one, the transport opens its own on first use and
    ``aclose()`` closes it. ``timeout``, ``max_retries`` and
    ``max_event_bytes`` are the defaults of every request sent through it.
    ``telemetry``: where the GenAI calls that :meth:`trace` marks are recorded
    (``None``: nowhere).
    Requests on its own pool go through ``proxy`` (a URL) when given, else
    (with ``trust_env``) through the proxies the environment names (see
    :mod:`xstream._transport.proxy`).
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        auth_headers: Mapping[str, str] | None = None,
        default_headers: Mapping[str, str] | None = None,
        user_agent: str | None = USER_AGENT,
        session: aiohttp.ClientSession | None = None,
        max_connections: int = 1000,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        hints: Mapping[int, str] | None = None,
        telemetry: Telemetry | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.telemetry = telemetry
        self.auth_headers = dict(auth_headers or {})
        self.default_headers = dict(default_headers or {})
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_event_bytes = max_event_bytes
        self.hints = dict(hints or {})
        proxies = Proxies(proxy, trust_env=trust_env and session is None)
        self._pool = _Pool(session, max_connections, proxies)
        self._secrets = Secrets(self.auth_headers, proxies)  # every request's, shared
        self._derived = False  # shares another transport's pool, which it never closes
        self._closed = False

    # ------------------------------------------------------------ the pool

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pool requests go through (created on first use when it is ours)."""
        pool = self._pool
        if (self._closed or pool.closed) and pool.owned:
            raise APIConnectionError("this client is closed")
        if pool.session is None:
            pool.session = aiohttp.ClientSession(
                connector=connector_class()(limit=pool.max_connections),
                timeout=aiohttp.ClientTimeout(total=None),  # deadlines are ours: see _timeouts
            )
            pool.guard = close_at_loop_end(pool.session)
        return pool.session

    def draining(self, task: asyncio.Task[None]) -> None:
        """A stream's connection comes back to the pool when ``task`` ends; the next
        request waits a moment for it (see :mod:`~xstream._transport.returns`)."""
        self._pool.returns.track(task)

    def derive(
        self,
        *,
        base_url: str | None = None,
        auth_headers: Mapping[str, str] | None = None,
        default_headers: Mapping[str, str] | None = None,
        timeout: Timeout | None = None,
        max_retries: int | None = None,
        max_event_bytes: int | None = None,
    ) -> Transport:
        """A transport with other defaults (those given) over this one's pool.

        Its ``aclose()`` leaves the pool open; this transport's ``aclose()`` (the
        one that built the pool) closes it for both.
        """
        derived = copy.copy(self)  # the pool object is shared, not copied
        derived._derived, derived._closed = True, False
        if base_url is not None:
            derived.base_url = base_url.rstrip("/")
        derived.auth_headers = dict(self.auth_headers if auth_headers is None else auth_headers)
        derived._secrets = Secrets(derived.auth_headers, self._pool.proxies)
        derived.default_headers = dict(
            self.default_headers if default_headers is None else default_headers
        )
        derived.hints = dict(self.hints)
        if timeout is not None:
            derived.timeout = timeout
        if max_retries is not None:
            derived.max_retries = max_retries
        if max_event_bytes is not None:
            derived.max_event_bytes = max_event_bytes
        return derived

    def detach(self) -> None:
        """Take no more requests (on xstream's own pool), leaving the pool as it is."""
        self._closed = True

    async def aclose(self) -> None:
        """Close the pool this transport opened (a session passed in stays open;
        a derived transport leaves its parent's pool open)."""
        self.detach()
        pool = self._pool
        if self._derived or not pool.owned:
            return
        pool.closed = True
        session, pool.session = pool.session, None
        guard, pool.guard = pool.guard, None
        if guard is not None:
            await guard.aclose()  # closes the session
        if session is not None and not session.closed:
            await session.close()

    # ------------------------------------------------------------ building

    def build(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        stream: bool,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: Any = NOT_GIVEN,
        max_retries: int | None = None,
    ) -> Request:
        """A request to ``url`` (a path under ``base_url``, or absolute), with the
        transport's deadlines unless ``timeout`` (a Timeout, seconds or None) is given,
        and its retries unless ``max_retries`` is.

        Headers, later ones winning: content type and accept, the API key (only
        for ``base_url``'s origin), the user agent, the default headers, then
        ``headers``. An event stream also asks caches not to hold it.
        """
        full = self.url(url)
        sent: dict[str, str] = {}
        if body is not None:
            sent["Content-Type"] = "application/json"
        sent["Accept"] = "text/event-stream" if stream else "application/json"
        if self.auth_headers and self._same_origin(full):
            sent.update(self.auth_headers)
        if self.user_agent:
            sent["User-Agent"] = self.user_agent
        if stream:
            sent["Cache-Control"] = "no-cache"
        sent.update(self.default_headers)
        sent.update(headers or {})
        if max_retries is not None and max_retries < 0:
            raise ConfigurationError("max_retries must be >= 0")
        return Request(
            method.upper(),
            full,
            headers=sent,
            body=body,
            stream=stream,
            params=params,
            timeout=resolve_timeout(timeout, self.timeout),
            max_retries=self.max_retries if max_retries is None else max_retries,
            secrets=self._secrets,
            hints=self.hints,
        )

    def url(self, url: str) -> str:
        """``url`` when absolute, else joined to ``base_url``."""
        if url.startswith(("http://", "https://")) or self.base_url is None:
            return url
        return f"{self.base_url}/{url.lstrip('/')}"

    def _same_origin(self, url: str) -> bool:
        base = self.base_url
        if base is None:
            return False
        if url.startswith(base) and url[len(base) : len(base) + 1] in ("", "/", "?"):
            return True  # a path under base_url (every API call): no URL to parse
        return URL(url).origin() == URL(base).origin()

    def trace(
        self,
        request: Request,
        *,
        model: str,
        params: Mapping[str, Any],
        stream: bool,
        conversation_id: str | None = None,
    ) -> None:
        """Mark ``request`` as one GenAI call (a span and metrics, when telemetry
        records anything): from :meth:`open` until its answer is read, or its
        stream ends."""
        telemetry = self.telemetry
        if telemetry is not None:
            request.operation = telemetry.start(
                url=request.url,
                model=model,
                params=params,
                stream=stream,
                body=request.body,
                redact=request.redacts(),  # (not request.redact: no cycle through it)
                conversation_id=conversation_id,
            )

    # ------------------------------------------------------------ sending

    def room(self, timeout: Timeout) -> slot:
        """A call's turn for a free connection (at most ``timeout.total``), taken before
        its request is built: ``started = await turn.enter()`` (see :class:`slot`)."""
        return slot(self.session, timeout.total)

    async def open(
        self, request: Request, *, last_event_id: str = "", started: float | None = None
    ) -> Opened:
        """:meth:`send` with the request's retries. ``request.started``: ``started`` (when
        the call began, its turn in the pool included), or now; ``request.sent``: now."""
        now = asyncio.get_running_loop().time()
        request.started, request.sent = (now if started is None else started), now
        request.attempts = 0
        retries, op = request.max_retries, request.operation
        token = None if op is None else op.attach()
        try:
            response, left = await self.send(
                request, retries=retries, last_event_id=last_event_id, started=request.started
            )
        except BaseException as exc:
            if op is not None:
                op.end(error=exc)
            raise
        finally:
            if op is not None:
                op.detach(token)
        note_opened(response, retries - left)  # for with_raw_response (see _raw)
        return Opened(request, response, left)

    async def send(
        self,
        request: Request,
        *,
        retries: int,
        last_event_id: str = "",
        started: float | None = None,
    ) -> tuple[aiohttp.ClientResponse, int]:
        """Send ``request``, retrying what is safe (nothing was received yet);
        return a 2xx response and the retries left.

        For a streamed request, a 2xx answer must be an event stream (HTTP 204 passes,
        released: it has no body). Non-2xx answers raise ``APIStatusError``
        subclasses; transport errors ``APIConnectionError``/``APITimeoutError``.
        ``total`` counts from ``started`` (loop time; default now) and bounds
        everything: every attempt, every error body, every backoff, which is
        not slept when it would end past the deadline.
        """
        loop = asyncio.get_running_loop()
        started = loop.time() if started is None else started
        total = request.timeout.total
        attempt = 0
        while True:
            try:
                response = await self.attempt(request, last_event_id, started=started)
                if request.stream:
                    await self.check_event_stream(response, request, started=started)
                return response, retries - attempt
            except APIStatusError as exc:
                headers = headers_of(exc) or {}
                retryable = status_is_retryable(exc.status_code, headers)
                delay = retry_delay(attempt, headers)
                error: APIError = exc
            except APIConnectionError as exc:
                # invalid HTTP came back: the server answered something; not asked again
                retryable = not isinstance(exc, TotalTimeoutError | ProtocolError)
                delay, error = retry_delay(attempt), exc
            except XStreamError as exc:
                request.scrub(exc)  # in place: the traceback stays
                raise
            if attempt >= retries or not retryable or delay is None:
                raise request.tried(request.scrub(error), loop.time())
            if total is not None and loop.time() + delay >= started + total:
                log.debug(
                    "not retrying %s: the backoff would end past the total deadline", request.where
                )
                raise request.tried(request.scrub(error), loop.time())
            log.debug(
                "retrying %s %s in %.2f s after %s",
                request.method,
                request.where,
                delay,
                request.redact(str(error)),
            )
            attempt += 1
            if request.operation is not None:
                request.operation.retry(error, delay)
            await asyncio.sleep(delay)

    async def attempt(
        self,
        request: Request,
        last_event_id: str = "",
        *,
        started: float | None = None,
        phase: str = "first_event",
    ) -> aiohttp.ClientResponse:
        """One attempt: a 2xx response (a 204 released), else a mapped error.

        The wait for the response (headers, and the body of a refused one) is
        bounded by the ``phase`` deadline (``first_event``, or ``idle`` for a
        reconnect) from now, and by ``total`` from ``started``.
        """
        headers = request.headers
        if last_event_id:
            headers = {**headers, "Last-Event-ID": last_event_id}
        t = request.timeout
        now = asyncio.get_running_loop().time()
        if phase == "first_event":
            base = now if started is None else started
            limit, name, seconds = head_window(t, base, now, stream=request.stream)
        else:
            limit, name, seconds = window(t, now if started is None else started, now, phase)
        connect = t.connect
        client_timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect)
        session = self.session
        request.attempts += 1  # counted once it can go out (a closed client raised above)
        await self._pool.returns.wait()  # a connection on its way back: reuse it
        proxy = self._pool.proxies.route(request.url)
        try:
            async with asyncio.timeout(limit):
                while True:
                    reused = reuse_flag(session)
                    try:
                        response = await session.request(
                            request.method,
                            request.url,
                            params=request.params,
                            data=request.body,
                            headers=headers,
                            timeout=client_timeout,
                            proxy=None if proxy is None else proxy.target,
                        )
                        break
                    except (aiohttp.ClientError, OSError) as exc:
                        if not (reused[0] and stale(exc)):
                            raise
                        # The server had closed this kept-alive connection: that is no
                        # server failure. Send again, on another connection, whatever
                        # max_retries says (each stale one is closed, so this ends).
                        log.debug(
                            "%s: a pooled connection was stale (%s); sending again",
                            request.where,
                            type(exc).__name__,
                        )
                    finally:
                        forget_reuse(session)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise send_error(exc, request, self._pool.proxies, name, seconds) from exc
        watch(response)
        if response.status == 407 and proxy is not None:  # the proxy's answer, not the API's
            response.close()
            raise APIConnectionError(
                f"the proxy {proxy.url} refused to forward to {request.where}: HTTP 407 "
                "Proxy Authentication Required (a login goes in the proxy URL: "
                "http://user:password@host:port)"
            )
        if response.status == 204:
            response.release()
            return response
        if not 200 <= response.status < 300:
            until = None if limit is None else now + limit
            raise await self.status_error(response, request, until=until, deadline=(name, seconds))
        return response

    # ------------------------------------------------------------ reading

    async def read_body(self, opened: Opened) -> bytes:
        """A whole non-streamed body, within the first_event deadline (from now) and
        the total one; the connection goes back to the pool (or is closed on failure)."""
        response, request = opened.response, opened.request
        now = asyncio.get_running_loop().time()
        limit, name, seconds = window(request.timeout, opened.started, now, "first_event")
        try:
            async with asyncio.timeout(limit):
                return await response.read()
        except TimeoutError as exc:
            response.close()
            raise deadline_error(
                name,
                f"the response from {request.where} did not complete within the {name} "
                f"deadline of {seconds} s",
                seconds=seconds,
            ) from exc
        except READ_ERRORS as exc:
            response.close()
            raise body_error(exc, request, delivered=0, noun="bytes", received=0) from exc
        finally:
            response.release()

    async def read_json(
        self, opened: Opened, decode: Callable[[bytes, aiohttp.ClientResponse], _T]
    ) -> _T:
        """A non-streamed answer read whole and decoded by ``decode`` (which raises
        for error bodies); every error it raises has the request's secrets blanked out.
        The request's operation (if traced) ends here, with the answer or the error."""
        op = opened.request.operation
        try:
            raw = await self.read_body(opened)
            try:
                result = decode(raw, opened.response)
            except XStreamError as exc:
                opened.request.scrub(exc)  # in place: the traceback stays
                raise
        except BaseException as exc:
            if op is not None:
                op.end(error=exc)
            raise
        if op is not None:
            op.end(result)
        return result

    async def status_error(
        self,
        response: aiohttp.ClientResponse,
        request: Request,
        *,
        until: float | None = None,
        deadline: tuple[str, float | None] = ("first_event", None),
    ) -> APIStatusError:
        """The exception for a non-2xx answer, its body read (bounded) and parsed.

        The body is waited for until ``until`` (loop time) at the latest: when the
        caller's ``deadline`` ends that wait, that deadline's error is raised."""
        raw, cut = await read_prefix(response, until)
        status = response.status
        if cut:
            name, seconds = deadline
            raise deadline_error(
                name,
                f"{request.where} answered HTTP {status}, but its body did not arrive within "
                f"the {name} deadline of {seconds} s",
                seconds=seconds,
            )
        body = request.redactor.redact_value(error_payload(raw))
        detail = error_message(body) or raw[:200].decode("utf-8", "replace").strip()
        hint = request.hints.get(status, "")
        message = request.redact(f"HTTP {status}: {detail or response.reason or ''}{hint}")
        cls = status_error_class(status)
        return cls(message, status_code=status, response=response, body=body)

    async def check_event_stream(
        self, response: aiohttp.ClientResponse, request: Request, *, started: float | None = None
    ) -> None:
        """Raise if a 2xx answer to a stream request is not an event stream, saying
        what came instead (or the error the body describes)."""
        ctype = response.headers.get("Content-Type", "")
        if response.status == 204 or not ctype or "text/event-stream" in ctype.lower():
            return
        now = asyncio.get_running_loop().time()
        limit, _, _ = window(
            request.timeout, now if started is None else started, now, "first_event"
        )
        json_answer = "json" in ctype.lower()
        size = self.max_event_bytes if json_answer else ERROR_BODY_LIMIT
        raw, _ = await read_prefix(response, None if limit is None else now + limit, size=size)
        body = decode_body(raw)
        if error_message(body) is not None:
            raise stream_error(body, response)
        if json_answer and isinstance(body, dict | list):
            raise not_streamed(request, raw, body, ctype)
        start = request.redact(raw[:200].decode("utf-8", "replace"))
        raise StreamError(
            f"asked for a stream but the server answered {ctype!r}, not text/event-stream; "
            f"the body starts with {start!r}"
        )
