"""The states of a stream, and every way from one to another (h11's ``_state.py`` is
the model): everything that changes a stream's state lives here.

A stream (:class:`~xstream._streams.engine.StreamEngine`) is in one state at a time::

    READING ──item──► STREAMING
       │                 │
       ├──── end ────────┴──► ENDED ──released──► DONE
       │                 │      └─────draining──► DRAINING
       ├── body_ended ───┴──────────────────────► DONE
       └──── close ──────┴──► CLOSED      (from ENDED too; DONE and DRAINING stay)

* ``READING``: nothing was handed out yet, so a failure may send the request again.
* ``STREAMING``: items reached the caller; a failure is raised after them (or the
  kind resumes the stream), never retried: nothing can be duplicated.
* ``ENDED``: the kind read its end marker; the connection is to be given back.
* ``DRAINING``: done; a task reads the rest of the body, then releases the connection.
* ``DONE``: done; the connection went back to the pool.
* ``CLOSED``: left early, or failed; the connection was closed.

What belongs to one connection and not to the stream (whether its body began, a
transport error met after salvaging its bytes) is not a state of the stream.
"""

from __future__ import annotations

import enum

__all__ = ["FINISHED", "OPEN", "StreamState", "next_state"]


class StreamState(enum.IntEnum):
    """In the order a stream goes through them: ``state <= STREAMING`` is open (more
    may be read), ``state >= DRAINING`` finished (integer tests, for the read path)."""

    READING = 0
    STREAMING = 1
    ENDED = 2
    DRAINING = 3
    DONE = 4
    CLOSED = 5


READING = StreamState.READING
STREAMING = StreamState.STREAMING
ENDED = StreamState.ENDED
DRAINING = StreamState.DRAINING
DONE = StreamState.DONE
CLOSED = StreamState.CLOSED

OPEN = frozenset({READING, STREAMING})  # more may be read
FINISHED = frozenset({DRAINING, DONE, CLOSED})  # no more batches

# (state, event) -> the next state. A pair missing here is a bug in xstream.
_TRANSITIONS: dict[tuple[StreamState, str], StreamState] = {
    (READING, "item"): STREAMING,
    (READING, "end"): ENDED,
    (STREAMING, "end"): ENDED,
    (ENDED, "end"): ENDED,  # a second marker in the same read
    (ENDED, "released"): DONE,
    (ENDED, "draining"): DRAINING,
    (READING, "body_ended"): DONE,
    (STREAMING, "body_ended"): DONE,
    (READING, "close"): CLOSED,
    (STREAMING, "close"): CLOSED,
    (ENDED, "close"): CLOSED,
    (DRAINING, "close"): DRAINING,  # the drain task owns the connection now
    (DONE, "close"): DONE,
    (CLOSED, "close"): CLOSED,
}


def next_state(state: StreamState, event: str) -> StreamState:
    """The state after ``event`` (``item``, ``end``, ``released``, ``draining``,
    ``body_ended``, ``close``) in ``state``."""
    try:
        return _TRANSITIONS[state, event]
    except KeyError:
        raise RuntimeError(f"xstream bug: a stream in state {state.name} got {event!r}") from None
