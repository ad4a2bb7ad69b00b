"""Many streams at once: 1,000 concurrent streams of 200 chunks through one client.

Each (client, repeat) runs in a fresh worker process (``--worker``), so the peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is that client's alone. The worker
builds one client, reads one warm-up stream, then starts every stream at once
(``asyncio.gather``) and reads them all to ``[DONE]``. Reported:

* **chunks/s**: all chunks of all streams / wall time from launching the streams to the
  last one ending.
* **time to first chunk** and **time to last chunk**, p50 and p99 over the streams, both
  measured from the launch instant. Every body is ready on the server at once, so
  these are waiting times that the client's own work (and the one shared server
  process) adds: with 1,000 streams on one event loop, a stream waits while the
  others are being parsed.
* **longest gap, p99**: per stream, the longest wait between two chunks delivered to
  the consumer; the 99th percentile over streams.
* **client CPU µs per chunk**, RSS after the warm-up stream (imports, client, pool) and
  the peak RSS of the worker process.

Run ``python -m benchmarks.bench_concurrent --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.clients import (
    API_KEY,
    MESSAGES,
    MODEL,
    REQUEST_BODY,
    chunk_decoder,
)
from benchmarks.report import (
    RESULTS,
    Ratio,
    Spread,
    emit,
    machine_info,
    percentile,
    save_ratios,
    table,
    targets_table,
)
from benchmarks.server import ROOT, ServerProcess, child_env, running_server

NAME = "bench_concurrent"
CLIENTS = ("xstream", "openai", "floor", "floor-pool")
POOL = 1000  # xstream's default pool, given to openai and to the floor-pool
WORKER_TIMEOUT = 900.0  # openai at 10,000 streams takes minutes

# per stream: (chunks, seconds to first chunk, seconds to last chunk, longest gap)
StreamTimes = tuple[int, float, float, float]


# ---------------------------------------------------------------- the worker process


async def _read_sdk_stream(client: Any, t0: float) -> StreamTimes:
    """One stream through an SDK with the OpenAI shape (xstream or openai)."""
    perf = time.perf_counter
    stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    n = 0
    first = last = 0.0
    gap = 0.0
    async for chunk in stream:
        now = perf()
        _ = chunk.choices[0].delta.content
        if n == 0:
            first = now
        elif now - last > gap:
            gap = now - last
        last = now
        n += 1
    return n, first - t0, last - t0, gap


async def _read_floor_stream(session: Any, url: str, t0: float) -> StreamTimes:
    """One stream by hand: aiohttp bytes, ``bytes.find`` framing, msgspec decode."""
    decode = _FLOOR_DECODE[0]
    perf = time.perf_counter
    n = 0
    first = last = 0.0
    gap = 0.0
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
    async with session.post(url, data=REQUEST_BODY, headers=headers) as response:
        response.raise_for_status()
        rest = b""
        async for data in response.content.iter_any():
            buffer = rest + data if rest else data
            start = 0
            while True:
                end = buffer.find(b"\n\n", start)
                if end < 0:
                    break
                payload = buffer[start + 6 : end]
                start = end + 2
                if payload == b"[DONE]":
                    return n, first - t0, last - t0, gap
                _ = decode(payload).choices[0].delta.content
                now = perf()
                if n == 0:
                    first = now
                elif now - last > gap:
                    gap = now - last
                last = now
                n += 1
            rest = buffer[start:]
    return n, first - t0, last - t0, gap


_FLOOR_DECODE: list[Any] = []


def _current_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _worker(kind: str, base_url: str, streams: int) -> dict[str, Any]:
    t0 = 0.0
    if kind == "xstream":
        import xstream

        client: Any = xstream.AsyncClient(api_key=API_KEY, base_url=base_url, max_retries=0)

        def one() -> Any:
            return _read_sdk_stream(client, t0)

        async def close() -> None:
            await client.aclose()
    elif kind == "openai":
        import openai

        try:
            import httpx2 as http_lib  # openai 3.x
        except ImportError:  # openai 1.x and 2.x use httpx
            import httpx as http_lib  # type: ignore[no-redef]
        # The same pool size as xstream's default (1,000): with 10,000 streams both queue.
        # (A pool as large as the streams has openai open 10,000 connections at once,
        # and the connects time out: httpx's 5 s connect timeout, ConnectTimeout.)
        pool = min(streams, POOL)
        limits = http_lib.Limits(max_connections=pool, max_keepalive_connections=pool)
        client = openai.AsyncOpenAI(
            api_key=API_KEY,
            base_url=base_url,
            max_retries=0,
            # Its default 5 s connect (and pool) timeout fails under 10,000 streams: its
            # own loop is too busy to finish handshakes in time. No limit, to measure it.
            timeout=http_lib.Timeout(None),
            http_client=openai.DefaultAsyncHttpxClient(
                limits=limits, timeout=http_lib.Timeout(None)
            ),
        )

        def one() -> Any:
            return _read_sdk_stream(client, t0)

        async def close() -> None:
            await client.close()
    else:
        import aiohttp

        _FLOOR_DECODE.append(chunk_decoder())
        # the floor opens a connection per stream; the floor-pool shares xstream's pool size
        # (aiohttp then queues built requests for a connection: what its memory costs)
        limit = streams if kind == "floor" else min(streams, POOL)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        url = f"{base_url}/chat/completions"

        def one() -> Any:
            return _read_floor_stream(session, url, t0)

        async def close() -> None:
            await session.close()

    try:
        warm = await one()  # imports done lazily, first connection, pool set up
        gc.collect()
        rss_base = _current_rss_kib()
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        times: list[StreamTimes] = await asyncio.gather(*(one() for _ in range(streams)))
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    finally:
        await close()
    return {
        "warm_chunks": warm[0],
        "times": times,
        "wall": wall,
        "cpu": cpu,
        "rss_base_kib": rss_base,
        "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


# ---------------------------------------------------------------- the parent


@dataclass
class WorkerRun:
    wall: float
    cpu: float
    chunks: int
    first: list[float]
    last: list[float]
    gaps: list[float]
    rss_base_mib: float
    rss_peak_mib: float


def run_worker(kind: str, server: ServerProcess, streams: int, chunks: int) -> WorkerRun:
    command = [
        sys.executable,
        "-m",
        "benchmarks.bench_concurrent",
        "--worker",
        kind,
        "--url",
        server.base_url(chunks),
        "--streams",
        str(streams),
    ]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
    data = json.loads(done.stdout)
    times: list[StreamTimes] = [tuple(t) for t in data["times"]]
    if data["warm_chunks"] != chunks or len(times) != streams:
        raise AssertionError(f"{kind}: {len(times)} streams, warm-up {data['warm_chunks']}")
    for n, *_ in times:
        if n != chunks:
            raise AssertionError(f"{kind}: a stream received {n} chunks, expected {chunks}")
    return WorkerRun(
        wall=data["wall"],
        cpu=data["cpu"],
        chunks=streams * chunks,
        first=[t[1] for t in times],
        last=[t[2] for t in times],
        gaps=[t[3] for t in times],
        rss_base_mib=data["rss_base_kib"] / 1024,
        rss_peak_mib=data["rss_peak_kib"] / 1024,
    )


def measure(
    server: ServerProcess, runs: dict[str, int], streams: int, chunks: int
) -> dict[str, list[WorkerRun]]:
    """``runs[kind]`` fresh-process runs per client, the clients taking turns."""
    out: dict[str, list[WorkerRun]] = {kind: [] for kind in runs}
    for i in range(max(runs.values())):
        for kind, repeats in runs.items():
            if i >= repeats:
                continue
            print(f"  run {i + 1}/{repeats}: {kind}, {streams} x {chunks}", file=sys.stderr)
            out[kind].append(run_worker(kind, server, streams, chunks))
    return out


def _ms(runs: list[WorkerRun], pick: str, q: float) -> Spread:
    return Spread.of(percentile(getattr(r, pick), q) * 1000 for r in runs)


def results_table(measured: dict[str, list[WorkerRun]]) -> list[str]:
    rows = []
    for kind, runs in measured.items():
        rows.append(
            [
                kind,
                Spread.of(r.chunks / r.wall for r in runs).fmt(),
                Spread.of(r.cpu / r.chunks * 1e6 for r in runs).fmt(".2f"),
                _ms(runs, "first", 50).fmt(",.0f"),
                _ms(runs, "first", 99).fmt(",.0f"),
                _ms(runs, "last", 50).fmt(",.0f"),
                _ms(runs, "last", 99).fmt(",.0f"),
                _ms(runs, "gaps", 99).fmt(",.0f"),
                Spread.of(r.rss_base_mib for r in runs).fmt(".0f"),
                Spread.of(r.rss_peak_mib for r in runs).fmt(".0f"),
            ]
        )
    return table(
        [
            "client",
            "chunks/s",
            "client CPU µs/chunk",
            "first chunk p50, ms",
            "first chunk p99, ms",
            "last chunk p50, ms",
            "last chunk p99, ms",
            "longest gap p99, ms",
            "RSS before, MiB",
            "peak RSS, MiB",
        ],
        rows,
    )


def headline(measured: dict[str, list[WorkerRun]], streams: int) -> list[Ratio]:
    if "xstream" not in measured or "openai" not in measured:
        return []
    rate = {k: Spread.of(r.chunks / r.wall for r in runs).median for k, runs in measured.items()}
    rss = {k: Spread.of(r.rss_peak_mib for r in runs).median for k, runs in measured.items()}
    return [
        Ratio(
            f"{streams:,} streams: xstream / openai.AsyncOpenAI chunks/s",
            rate["xstream"] / rate["openai"],
            25,
        ),
        Ratio(
            f"{streams:,} streams: openai / xstream peak RSS", rss["openai"] / rss["xstream"], 1.0
        ),
        # issue 28's target: 100 MB (95.4 MiB) at 10,000 streams
        Ratio(f"{streams:,} streams: 100 MB / xstream peak RSS", 1e8 / 2**20 / rss["xstream"], 1.0),
        *(
            # plain aiohttp at the same pool size: what the transport itself costs
            [
                Ratio(
                    f"{streams:,} streams: floor-pool / xstream peak RSS",
                    rss["floor-pool"] / rss["xstream"],
                    None,
                )
            ]
            if "floor-pool" in rss
            else []
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100 streams of 100 chunks, 1 run")
    parser.add_argument("--streams", type=int, help="concurrent streams (default 10000)")
    parser.add_argument("--chunks", type=int, help="chunks per stream (default 100)")
    parser.add_argument(
        "--repeats", type=int, help="fresh-process runs per client (default 3, quick 1)"
    )
    parser.add_argument(
        "--slow-repeats",
        type=int,
        help="runs for openai, about 2 minutes each at the defaults (default 1)",
    )
    parser.add_argument("--clients", help=f"comma-separated subset of {','.join(CLIENTS)}")
    parser.add_argument(
        "--results", type=Path, help=f"where to write {NAME}.md (default {RESULTS}; quick: none)"
    )
    parser.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    streams = args.streams or (100 if args.quick else 10_000)
    if args.worker:
        result = asyncio.run(_worker(args.worker, args.url, streams))
        json.dump(result, sys.stdout)
        return 0

    chunks = args.chunks or 100
    repeats = args.repeats or (1 if args.quick else 3)
    slow_repeats = args.slow_repeats or 1  # a run of openai at 10,000 streams: ~2 minutes
    clients = args.clients.split(",") if args.clients else list(CLIENTS)
    if set(clients) - set(CLIENTS):
        parser.error(f"unknown clients: {', '.join(sorted(set(clients) - set(CLIENTS)))}")
    results: Path | None = args.results or (None if args.quick else RESULTS)
    started = time.perf_counter()
    print(f"{NAME}: starting the server ({chunks}-chunk bodies) ...", file=sys.stderr)
    with running_server([chunks]) as server:
        runs = {kind: slow_repeats if kind == "openai" else repeats for kind in clients}
        measured = measure(server, runs, streams, chunks)
    ratios = headline(measured, streams)
    command = " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"# Many streams at once: {streams:,} concurrent streams of {chunks} chunks, one client",
        "",
        *machine_info(),
        f"- run: `python -m benchmarks.bench_concurrent {command}` — median of {repeats} "
        f"fresh-process runs per client, {slow_repeats} for openai (a run of it takes "
        "about 2 minutes at 10,000 streams); slowest .. fastest in brackets",
        "",
        f"One client per worker process starts {streams:,} streams at once and reads each to "
        f"`[DONE]` ({streams * chunks:,} chunks in all; every stream must deliver exactly "
        f"{chunks}). The server is the separate `benchmarks/server.py` process. xstream uses its "
        f"default pool (aiohttp, limit 1,000 connections); openai gets the same pool size, "
        f"`http_client=openai.DefaultAsyncHttpxClient(limits=Limits(max_connections="
        f"{min(streams, POOL)}, ...), timeout=Timeout(None))` (with its default 5 s connect "
        "timeout its connects time out under 10,000 streams); "
        "the floor is raw aiohttp (limit = streams) with `bytes.find` framing and msgspec; "
        f"*floor-pool* is the same loop over a pool of {min(streams, POOL):,} connections, as "
        "xstream's: plain aiohttp's own memory for this workload at xstream's pool size. "
        "Times are from the instant all streams were launched; *longest gap* is, per stream, "
        "the longest wait between two chunks, p99 over the streams. *RSS before* is taken "
        "after imports, the client and one warm-up stream; *peak RSS* is `ru_maxrss`. "
        "xstream hands the consumer every chunk one network read completed: when a stream's "
        "whole body (about 80 KiB here) arrives in one read, its first and last chunks come "
        "together and its longest gap is 0 ms.",
        "",
        *results_table(measured),
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
