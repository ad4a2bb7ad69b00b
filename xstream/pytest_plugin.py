"""xstream's pytest plugin: fixtures for the tests of code that uses xstream.

Installing xstream registers it (entry point ``pytest11``), so the fixtures are
there in every test, with no ``conftest.py``:

* ``xstream_server``: a started :class:`~xstream.testing.MockServer` on
  127.0.0.1, stopped after the test; script it with ``enqueue(Reply(...))`` and
  read ``requests``. Async: needs pytest-asyncio (auto or strict mode alike).
* ``xstream_client``: an :class:`~xstream.AsyncClient` bound to
  ``xstream_server`` (API key ``TEST_API_KEY``), closed after the test.
* ``xstream_sync_server``: a MockServer on a thread of its own
  (``MockServer.running_in_thread()``), for blocking code; no pytest-asyncio.
* ``xstream_sync_client``: an :class:`~xstream.Client` bound to it, closed after.

::

    async def test_retried(xstream_server, xstream_client):
        xstream_server.enqueue(Reply(status=503), Reply(text="Hello"))
        ...

Nothing heavy is imported until a test asks for a fixture, so the plugin costs
nothing in test runs that never use it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._client import AsyncClient
    from ._sync.client import Client
    from .testing import MockServer

__all__ = [
    "TEST_API_KEY",
    "xstream_client",
    "xstream_server",
    "xstream_sync_client",
    "xstream_sync_server",
]

TEST_API_KEY = "xstream-test-key"
"""The API key the fixtures' clients send (the mock server takes any)."""


async def _server() -> AsyncIterator[MockServer]:
    from .testing import MockServer

    async with MockServer() as srv:
        yield srv


async def _client(xstream_server: MockServer) -> AsyncIterator[AsyncClient]:
    from ._client import AsyncClient

    async with AsyncClient(TEST_API_KEY, base_url=xstream_server.base_url) as client:
        yield client


def _async_fixture(function: Any, name: str) -> Any:
    """``function`` as a pytest-asyncio fixture, marked as one explicitly so that
    strict mode takes it too; without pytest-asyncio, a fixture that says so."""
    try:
        import pytest_asyncio
    except ImportError:

        def missing() -> None:
            pytest.fail(
                f"the {name} fixture is async and needs pytest-asyncio "
                "(pip install pytest-asyncio); xstream_sync_server and "
                "xstream_sync_client work without it",
                pytrace=False,
            )

        return pytest.fixture(missing, name=name)
    return pytest_asyncio.fixture(function, name=name)


xstream_server = _async_fixture(_server, "xstream_server")
xstream_client = _async_fixture(_client, "xstream_client")


@pytest.fixture
def xstream_sync_server() -> Iterator[MockServer]:
    """A MockServer on its own thread, for blocking code; stopped after the test."""
    from .testing import MockServer

    with MockServer.running_in_thread() as srv:
        yield srv


@pytest.fixture
def xstream_sync_client(xstream_sync_server: MockServer) -> Iterator[Client]:
    """A blocking :class:`~xstream.Client` bound to ``xstream_sync_server``."""
    from ._sync.client import Client

    with Client(TEST_API_KEY, base_url=xstream_sync_server.base_url) as client:
        yield client
