"""What every stream counts: bytes, retries, timings (the kinds add their own)."""

from __future__ import annotations

import msgspec

__all__ = ["BaseStats"]


class BaseStats(msgspec.Struct, kw_only=True):
    """What every stream counts (times in seconds, from the first request).

    ``bytes``: received, all connections together; ``retries``: attempts redone
    before the first item; ``elapsed``: time to the last event;
    ``time_to_first_byte``; ``max_gap``: the longest wait between two reads
    that completed events; ``done``: the stream ended normally.
    """

    bytes: int = 0
    retries: int = 0
    elapsed: float = 0.0
    time_to_first_byte: float | None = None
    max_gap: float = 0.0
    done: bool = False
