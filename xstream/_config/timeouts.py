"""Deadlines for a request and its stream.

aiohttp's default ``ClientTimeout(total=300)`` cuts every stream at five
minutes, however healthy; a read timeout between *bytes* never fires on a
peer that trickles one byte a minute. xstream instead bounds what a user
actually waits for: the connection, the start of the response, the first
event, the gap between two events, and (optionally) the whole exchange.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["DEFAULT_TIMEOUT", "NOT_GIVEN", "Timeout", "TimeoutTypes", "resolve_timeout"]


class Timeout(msgspec.Struct, frozen=True, kw_only=True):
    """Separate, optional deadlines in seconds (``None`` = no limit).

    * ``connect``: to open the TCP/TLS connection.
    * ``response``: from sending a *streamed* request to its status line and
      headers. xAI sends them at once, even while a reasoning model thinks, so
      a server that accepts and never answers fails in seconds, not after
      ``first_event``. (A non-streamed answer's head comes with the whole
      answer: ``first_event`` bounds it.) Set it to ``None`` for a server that
      holds its headers back until the first token.
    * ``first_event``: from sending the request to the first event of the stream
      (for ``stream=False``: to the start of the response). Reasoning models
      think before they answer, so the default is generous.
    * ``idle``: the longest gap between two events. Bytes that never complete an
      event (a trickling peer, keep-alive comments) do not reset it.
    * ``total``: the whole request, stream included. Off by default: a long
      answer is not an error.

    A call that waits its turn for a free connection (all ``max_connections``
    busy) has not been sent yet: only ``total`` counts that wait, the others
    start when the request goes out.

    >>> Timeout(idle=30.0).idle
    30.0
    """

    connect: float | None = 10.0
    response: float | None = 20.0
    first_event: float | None = 600.0
    idle: float | None = 120.0
    total: float | None = None

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        """A ``Timeout`` from what users pass: a Timeout, a number of seconds
        (every per-phase limit set to it, like the OpenAI SDK's ``timeout=``),
        or ``None`` (no limits at all)."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(connect=None, response=None, first_event=None, idle=None, total=None)
        seconds = float(value)
        if seconds <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        return cls(connect=seconds, response=seconds, first_event=seconds, idle=seconds, total=None)


TimeoutTypes = Timeout | float | None

DEFAULT_TIMEOUT = Timeout()


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()
"""``timeout=`` not given: use the client's (``None`` means no limits at all)."""


def resolve_timeout(value: Any, default: Timeout) -> Timeout:
    """The deadlines of one call: ``default`` unless ``value`` was given."""
    return default if value is NOT_GIVEN else Timeout.coerce(value)
