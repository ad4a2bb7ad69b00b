"""``client.responses.connect()``, blocking: the async :class:`ResponsesSession`
run on the client's loop thread, its turns handed back as blocking streams."""

from __future__ import annotations

import functools
from typing import Unpack

from .._models.params import ResponseParams, ResponseWarmParams
from .._models.responses import Response
from .._streams.ws_session import ResponsesSession
from .portal import LoopThread
from .streams import SyncResponseStream

__all__ = ["SyncResponsesSession"]


class SyncResponsesSession:
    """One WebSocket to ``/responses``, blocking; see :class:`ResponsesSession`.

    >>> with client.responses.connect() as session:  # doctest: +SKIP
    ...     print(session.create(model="grok-4", input="Hi").get_final_response().output_text)
    """

    def __init__(self, loop: LoopThread, session: ResponsesSession) -> None:
        self._loop = loop
        self._session = session

    def __repr__(self) -> str:
        return repr(self._session)

    def __enter__(self) -> SyncResponsesSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def previous_response_id(self) -> str | None:
        """The id the next turn chains to (the last completed turn's)."""
        return self._session.previous_response_id

    @property
    def reconnects(self) -> int:
        """How many times the session opened a new socket."""
        return self._session.reconnects

    def close(self) -> None:
        """Close the socket (a turn in flight ends with an error)."""
        self._loop.run(self._session.aclose)

    def create(self, **params: Unpack[ResponseParams]) -> SyncResponseStream:
        """Send ``response.create``; the turn's events (see :meth:`ResponsesSession.create`)."""
        stream = self._loop.run(functools.partial(self._session.create, **params))
        return SyncResponseStream(self._loop, stream)

    def warm(self, **params: Unpack[ResponseWarmParams]) -> Response:
        """Send ``generate: false`` (see :meth:`ResponsesSession.warm`)."""
        response: Response = self._loop.run(functools.partial(self._session.warm, **params))
        return response
