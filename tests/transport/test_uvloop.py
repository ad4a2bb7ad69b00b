"""The transport under uvloop, which many services run on.

uvloop's transports look a protocol's ``data_received`` up once, when the connection
is made, so a method set on the connection later is never called; its clock ticks
in milliseconds. :func:`test_the_transport_cases_pass_under_uvloop` runs the suites
that hold the transport's rules (what arrived before a framing fault is delivered,
the pool's queue, the deadlines, the telemetry's times) again, in a process whose
every event loop is uvloop's (the sync client's private one included).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.conftest import LOOP, run_again

uvloop = pytest.importorskip("uvloop", reason="uvloop does not run on this platform")

HERE = Path(__file__).parent
SUITES = [
    HERE / "test_framing_faults.py",
    HERE / "test_pool_queue.py",
    HERE / "test_deadlines.py",
    HERE.parent / "telemetry" / "test_telemetry.py",
    Path(__file__),
]


if LOOP != "uvloop":

    def test_the_transport_cases_pass_under_uvloop() -> None:
        env = {"XSTREAM_TEST_LOOP": "uvloop"}
        result = run_again(*map(str, SUITES), "-rA", env=env, timeout=240)
        assert result.returncode == 0, result.stdout[-3000:]
        assert "PASSED tests/transport/test_uvloop.py::test_this_run_is_on_uvloop" in result.stdout
        assert not re.search(r"\d+ (failed|skipped|error)", result.stdout), result.stdout[-800:]

else:  # the run under uvloop

    async def test_this_run_is_on_uvloop() -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
