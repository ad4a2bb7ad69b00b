"""A real, local, OpenAI-compatible chat completions server for tests and demos.

:class:`MockServer` is an ``aiohttp.web`` server on 127.0.0.1 (an ephemeral port
by default) that answers ``POST /v1/chat/completions`` (and
``/chat/completions``) the way the xAI API does: a ``chat.completion`` JSON
body, or with ``"stream": true`` a ``text/event-stream`` of
``chat.completion.chunk`` events ending in ``data: [DONE]``. Each request
follows a :class:`Reply` script, which can also bend the framing (CRLF, odd
write sizes, keep-alive comments) and inject faults (a dropped connection, a
stall, an error event, an oversized line...), so the client can be tested
against real sockets instead of mocks::

    from xstream.testing import MockServer, Reply

    async def test_retry_after_503() -> None:
        async with MockServer() as srv:
            srv.enqueue(Reply(status=503), Reply(text="Hello", chunk_size=2))
            ...  # point the client at srv.base_url and stream
            assert len(srv.requests) == 2

Sync code (and the CLI's offline demo) runs it on its own thread::

    with MockServer.running_in_thread() as srv:
        print(srv.base_url)

``from xstream.testing import mock_server`` in a ``conftest.py`` gives a
pytest-asyncio fixture that yields a started server. Importing this module
needs neither pytest nor pytest-asyncio: the fixture is built on first access.

Inside: :mod:`.script` (what a :class:`Reply` answers), :mod:`.wire` (how a
stream is framed, broken and written), :mod:`.server` (:class:`MockServer`)
and :mod:`.responses` (the Responses API).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# `name as name`: importable from here though not in __all__, as before the split
# (the private ones are pieces the tests reach for).
from .redis import RedisServer
from .responses import MockResponses as MockResponses
from .script import DEFAULT_ERROR_PAYLOAD as DEFAULT_ERROR_PAYLOAD
from .script import DEFAULT_TEXT, RecordedRequest, Reply, ToolCallScript
from .script import _build_payloads as _build_payloads
from .script import _resolve as _resolve
from .server import MockServer, _mock_server, serve
from .wire import _build_plan as _build_plan
from .wire import _encode_events as _encode_events
from .wire import _Writer as _Writer

__all__ = [
    "DEFAULT_TEXT",
    "MockServer",
    "RecordedRequest",
    "RedisServer",
    "Reply",
    "ToolCallScript",
    "mock_server",
    "serve",
]

if TYPE_CHECKING:
    mock_server: Any  # built lazily by __getattr__ below


def __getattr__(name: str) -> Any:
    # The fixture is built on first access, so importing this module never
    # imports pytest (the CLI's demo uses the server too).
    if name == "mock_server":
        import pytest_asyncio

        fixture = pytest_asyncio.fixture(_mock_server, name="mock_server")
        globals()["mock_server"] = fixture
        return fixture
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
