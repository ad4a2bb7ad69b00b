"""Responses over one WebSocket against chained HTTP requests: a 20-turn loop.

Each turn streams a response from the built-in server (``xstream.testing``), reads
every event, then "runs a tool" (nothing: the loop measures the transport) and
chains the next turn with ``previous_response_id``. The built-in server delays
every WebSocket upgrade by ``--setup-ms`` (a simulated round trip for the
connection setup); HTTP requests reuse pooled keep-alive connections, and the
first one's setup is not delayed (the server has no hook for it): so the
comparison favours HTTP. ``python -m benchmarks.bench_ws [--quick] [--results DIR]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import xstream
from benchmarks.report import emit
from xstream.testing import MockServer, Reply

NAME = "bench_ws"
TURNS = 20


async def http_loop(client: xstream.AsyncClient) -> float:
    started = time.perf_counter()
    previous: str | None = None
    for turn in range(TURNS):
        stream = await client.responses.create(
            model="grok-4", input=f"turn {turn}", previous_response_id=previous, stream=True
        )
        previous = (await stream.get_final_response()).id
    return time.perf_counter() - started


async def ws_loop(client: xstream.AsyncClient) -> float:
    started = time.perf_counter()
    async with client.responses.connect() as session:
        for turn in range(TURNS):
            stream = await session.create(model="grok-4", input=f"turn {turn}")
            await stream.get_final_response()
    return time.perf_counter() - started


async def measure(repeats: int, setup: float) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"http": [], "ws": []}
    async with MockServer(default=Reply(text="Calling the tool now. " * 8, chunk_size=16)) as srv:
        srv.ws_setup_delay = setup
        for _ in range(repeats):  # alternated, so that a noisy neighbour slows both alike
            async with xstream.AsyncClient("sk-bench", base_url=srv.base_url) as client:
                times["http"].append(await http_loop(client))
            async with xstream.AsyncClient("sk-bench", base_url=srv.base_url) as client:
                times["ws"].append(await ws_loop(client))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--setup-ms", type=float, default=30.0)
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 15
    times = asyncio.run(measure(repeats, args.setup_ms / 1000))
    http, ws = statistics.median(times["http"]), statistics.median(times["ws"])
    lines = [
        f"## {TURNS}-turn Responses loop: WebSocket session vs chained HTTP",
        "",
        f"Built-in server, {args.setup_ms:g} ms per WebSocket upgrade, {repeats} runs "
        "alternated, medians. The OpenAI SDK's `responses.connect()` is not measured.",
        "",
        "| transport | median (ms) | per turn (ms) |",
        "|---|---|---|",
        f"| chained HTTP (keep-alive) | {http * 1000:.1f} | {http * 1000 / TURNS:.2f} |",
        f"| WebSocket session | {ws * 1000:.1f} | {ws * 1000 / TURNS:.2f} |",
        "",
        f"HTTP / WebSocket: {http / ws:.2f}x",
    ]
    emit(NAME, lines, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
