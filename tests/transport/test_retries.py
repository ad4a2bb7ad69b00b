"""Retry policy: which statuses, how long to wait, what the server may override."""

from __future__ import annotations

import email.utils
import logging
import time

import pytest

import xstream
from tests.conftest import KEY
from xstream._config.retries import MAX_DELAY, MAX_RETRY_AFTER, retry_delay, status_is_retryable
from xstream.testing import MockServer, Reply


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(status: int) -> None:
    assert status_is_retryable(status, {})


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    assert not status_is_retryable(status, {})


def test_the_server_has_the_last_word() -> None:
    assert status_is_retryable(400, {"x-should-retry": "true"})
    assert not status_is_retryable(503, {"x-should-retry": "false"})


def test_retry_after_seconds_ms_and_http_date() -> None:
    assert retry_delay(0, {"retry-after": "2"}) == 2.0
    assert retry_delay(0, {"retry-after": "0.5"}) == 0.5
    assert retry_delay(0, {"retry-after-ms": "120", "retry-after": "9"}) == 0.12
    date = email.utils.formatdate(time.time() + 5, usegmt=True)
    delay = retry_delay(0, {"retry-after": date})
    assert delay is not None and 3.5 <= delay <= 5.5


def test_a_wait_over_the_cap_is_refused_not_slept() -> None:
    assert retry_delay(0, {"retry-after": str(MAX_RETRY_AFTER + 1)}) is None


@pytest.mark.parametrize("value", ["soon", "-3", ""])
def test_unusable_retry_after_falls_back_to_backoff(value: str) -> None:
    delay = retry_delay(0, {"retry-after": value})
    assert delay is not None and 0.375 <= delay <= 0.5


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    delays = [retry_delay(attempt) for attempt in range(10)]
    assert all(d is not None for d in delays)
    assert delays[0] < delays[2] < delays[4]  # type: ignore[operator]
    assert max(delays) <= MAX_DELAY  # type: ignore[type-var]
    assert len({retry_delay(3) for _ in range(20)}) > 1  # jittered


async def test_each_retry_is_logged_at_debug_with_its_reason(
    server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.enqueue(Reply(status=503, headers={"Retry-After": "0"}), Reply())
    caplog.set_level(logging.DEBUG, logger="xstream")
    async with xstream.AsyncClient(KEY, base_url=server.base_url) as client:
        await client.chat.completions.create(model="m", messages=[])
    records = [r for r in caplog.records if r.name == "xstream"]
    assert len(records) == 1 and records[0].levelno == logging.DEBUG
    assert "503" in records[0].getMessage()
    assert KEY not in caplog.text
