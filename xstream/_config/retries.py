"""When to retry a request, and how long to wait first.

A request is sent again only before its response started (a connection refused
or reset, no head within the deadline), or when the server says it may be: HTTP
408, 409, 429 and 5xx, and an overloaded/rate-limit error sent in the stream
before any chunk reached the caller. Once a response's head or any body byte
came, a drop, broken framing or silence is raised: the server may be generating
that answer and is never asked for it twice, and a retry can never duplicate or
splice output. The server has the last word through ``x-should-retry`` and
``Retry-After``.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

__all__ = ["MAX_RETRY_AFTER", "retry_delay", "status_is_retryable"]

INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
MAX_RETRY_AFTER = 60.0  # a server asking for longer is not worth blocking on: raise instead

_RETRYABLE = frozenset({408, 409, 429})


def status_is_retryable(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an HTTP error status is worth another attempt."""
    verdict = headers.get("x-should-retry", "").strip().lower()
    if verdict == "true":
        return True
    if verdict == "false":
        return False
    return status in _RETRYABLE or status >= 500


def retry_delay(attempt: int, headers: Mapping[str, str] | None = None) -> float | None:
    """Seconds to wait before retry number ``attempt`` (0-based).

    ``retry-after-ms`` and ``Retry-After`` (seconds or an HTTP date) win when
    present and sane; ``None`` means the server asked for more than
    ``MAX_RETRY_AFTER``, so the caller should give up rather than hang.
    Otherwise: exponential backoff with jitter, capped at ``MAX_DELAY``.
    """
    asked = _server_delay(headers) if headers else None
    if asked is not None:
        return asked if asked <= MAX_RETRY_AFTER else None
    base: float = min(INITIAL_DELAY * 2.0**attempt, MAX_DELAY)
    return base * (1 - 0.25 * random.random())  # jitter: spread a thundering herd


def _server_delay(headers: Mapping[str, str]) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000
        except ValueError:
            value = -1
        if value >= 0:
            return value
    after = headers.get("retry-after")
    if not after:
        return None
    after = after.strip()
    try:
        value = float(after)
    except ValueError:
        parsed = email.utils.parsedate_tz(after)
        if parsed is None:
            return None
        value = float(email.utils.mktime_tz(parsed)) - time.time()
        return max(value, 0.0)
    return value if value >= 0 else None
