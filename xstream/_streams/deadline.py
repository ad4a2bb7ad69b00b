"""A stream's deadline timer: one timer per stream, not one per read.

The engine (:mod:`xstream._streams.engine`) arms it at the deadline in force
(``first_event``, then ``idle`` since the last event, or ``total``); when it fires it
looks at the deadline in force then, and re-arms, or ends the read that waits.
"""

from __future__ import annotations

import weakref
from typing import Any

import aiohttp

from .._transport.errors import READ_ERRORS

__all__ = ["NEVER", "READ_FAILURES", "DeadlinePassed", "deadline_check"]

NEVER = float("inf")


class DeadlinePassed(Exception):
    """Set on a response's reader by the deadline timer: ends the read waiting on it."""


READ_FAILURES = (DeadlinePassed, *READ_ERRORS)  # what a read raises that is not a bug


def deadline_check(ref: weakref.ref[Any], content: aiohttp.StreamReader) -> None:
    """The deadline timer fired: end the read waiting on ``content`` if the deadline in
    force has passed, else move the timer to it. (A weak reference: a pending timer
    never keeps a dropped stream, and its connection, alive.)"""
    stream = ref()
    if stream is None:
        return
    stream._timer = None
    stream._timer_at = NEVER
    stream._settled = False
    if stream._waiting is not content:  # no read waiting: the next one arms it again
        return
    deadline = stream._deadline()[0]
    if deadline is None:
        return
    if stream._loop.time() < deadline:
        stream._arm(deadline, content)
        return
    content.set_exception(DeadlinePassed())
