"""Raw responses: an answer read whole, together with the HTTP response it came in.

``client.chat.completions.with_raw_response.create(...)`` (and the same on
``client.responses``) runs the ordinary call, on the ordinary request path; the
only difference is that, while it runs, the transport notes the 2xx response
it opened (:func:`note_opened`, in a context variable: concurrent calls, each
in its own task, never see each other's). The payload types stay as they are.
"""

from __future__ import annotations

from collections.abc import Awaitable
from contextvars import ContextVar
from typing import Generic, TypeVar

import aiohttp
from multidict import CIMultiDictProxy

from .._exceptions import _request_id

__all__ = ["RawResponse", "note_opened", "read_raw"]

_T = TypeVar("_T")

_OPENED: ContextVar[list[tuple[aiohttp.ClientResponse, int]] | None] = ContextVar(
    "xstream_opened", default=None
)


def note_opened(response: aiohttp.ClientResponse, retries_taken: int) -> None:
    """Called by the transport for every request it opened: kept when a raw call is
    listening in this context, else nothing."""
    opened = _OPENED.get()
    if opened is not None:
        opened.append((response, retries_taken))


class RawResponse(Generic[_T]):
    """A result with the HTTP response it was read from.

    >>> raw = await client.chat.completions.with_raw_response.create(  # doctest: +SKIP
    ...     model="grok-4", messages=[{"role": "user", "content": "Hi"}])
    >>> raw.status_code, raw.request_id, raw.headers["content-type"]
    (200, 'req_123', 'application/json')
    >>> completion = raw.parse()  # the ChatCompletion create() returns

    ``http_response`` is aiohttp's response; its body was read to the end and
    its connection went back to the pool.
    """

    __slots__ = ("_parsed", "http_response", "retries_taken")

    def __init__(
        self, http_response: aiohttp.ClientResponse, parsed: _T, *, retries_taken: int
    ) -> None:
        self.http_response = http_response
        self.retries_taken = retries_taken  # attempts redone before this answer came
        self._parsed = parsed

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The response headers (case-insensitive)."""
        return self.http_response.headers

    @property
    def status_code(self) -> int:
        return self.http_response.status

    @property
    def request_id(self) -> str | None:
        """The server's id of this request (``x-request-id`` or ``request-id``), for support."""
        return _request_id(self.http_response)

    def parse(self) -> _T:
        """The result the ordinary call returns (a ``ChatCompletion``, a ``Response``, ...)."""
        return self._parsed

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status_code}] request_id={self.request_id!r}>"


async def read_raw(call: Awaitable[_T]) -> RawResponse[_T]:
    """Await ``call`` (an ordinary resource call) and return its result with the
    response the transport opened for it (the first, for calls that send several)."""
    token = _OPENED.set([])
    try:
        result = await call
        opened = _OPENED.get() or []
    finally:
        _OPENED.reset(token)
    if not opened:  # pragma: no cover - every resource call opens a request
        raise RuntimeError("the call sent no request")
    response, retries_taken = opened[0]
    return RawResponse(response, result, retries_taken=retries_taken)
