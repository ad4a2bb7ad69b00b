"""A stream's deadline timer: one timer per stream, not one per read.

The engine (:mod:`xstream._streams.engine`) arms it at the deadline in force
(``first_event``, then ``idle`` since the last event, or ``total``); when it fires it
looks at the deadline in force then, and re-arms, or ends the read that waits.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import weakref
from typing import Any

import aiohttp
import msgspec

from .._transport.errors import READ_ERRORS

__all__ = ["NEVER", "READ_FAILURES", "DeadlinePassed", "arm", "deadline_check"]

NEVER = float("inf")


class DeadlinePassed(Exception):
    """Set on a response's reader by the deadline timer: ends the read waiting on it."""


READ_FAILURES = (DeadlinePassed, *READ_ERRORS)  # what a read raises that is not a bug


_THREAD = threading.local()  # .context: the one every timer of this thread runs in


class _Armed(msgspec.Struct, gc=False):
    """A timer's argument: the stream (weakly) and the reader of the read it may end.
    One untracked object, so that the timer's arguments tuple is untracked too: an
    object less per stream for every full collection to visit."""

    stream: weakref.ref[Any]
    content: aiohttp.StreamReader


def arm(
    loop: asyncio.AbstractEventLoop, when: float, stream: Any, content: Any
) -> asyncio.TimerHandle:
    """``stream``'s deadline timer, at ``when`` (loop time), for the read on ``content``.

    It runs in an empty context, one per thread (what it does needs no context
    variable), so that a timer does not copy the context of the task that armed it:
    an object less per stream for the garbage collector. (Callbacks of one thread
    never run nested, so the one context is never entered twice.)"""
    context = getattr(_THREAD, "context", None)
    if context is None:
        context = _THREAD.context = contextvars.Context()
    armed = _Armed(weakref.ref(stream), content)
    return loop.call_at(when, deadline_check, armed, context=context)


def deadline_check(armed: _Armed) -> None:
    """The deadline timer fired: end the read waiting on ``armed.content`` if the
    deadline in force has passed, else move the timer to it. (A weak reference: a
    pending timer never keeps a dropped stream, and its connection, alive.)"""
    stream = armed.stream()
    if stream is None:
        return
    content = armed.content
    stream._timer = None
    stream._timer_at = NEVER
    stream._settled = False
    if stream._waiting is not content:  # no read waiting: the next one arms it again
        return
    deadline = stream._deadline()[0]
    if deadline is None:
        return
    if stream._loop.time() < deadline:
        stream._arm(deadline, content)  # (in this same context: not entered twice)
        return
    content.set_exception(DeadlinePassed())
