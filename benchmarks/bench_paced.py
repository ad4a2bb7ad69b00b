"""A gateway's workload: thousands of streams at once, each paced like a model's answer.

A server process sends every stream one seed-shaped chunk every ``--interval`` seconds
(50 ms: 20 chunks/s a stream, so 1,000 streams are 20,000 chunks/s), each chunk stamped
with the instant it was written (``CLOCK_MONOTONIC``, the same clock in every process of
this machine). Each client reads all the streams through one client object in a worker
process of its own; almost every network read then carries one chunk, so per-read costs
count, as they do in a service that relays model answers. Measured per client:

* **CPU per chunk**: the worker's CPU time (``time.process_time``) / the chunks received,
  in the steady state (from the moment every stream has its first chunk to the moment
  the first one ends: the reading alone), and over the whole run (connections and
  requests included).
* **delivery lag**: server write -> the consumer's loop body, p50 and p99 over every chunk.
* **loop stalls**: a task that sleeps 5 ms and measures how late it wakes, in the steady
  state: the worst, and how many wake-ups were more than 10 ms late (what the client's work does to every other
  coroutine of the service).
* **garbage-collection pauses** in the steady state: the longest, and how many took over
  10 ms (``gc.callbacks``, free when no collection runs). A collection runs inside
  whatever callback allocated last, so it is the one stall a single client callback
  makes on its own; the loop-lag stalls above also count the loop's backlog.
* **peak RSS** of the worker.

The floor is plain aiohttp reads split on blank lines with one msgspec decode per chunk.
Clients take turns, repeated; medians. Then the floor and xstream again with uvloop as
the event loop (when it is installed: the test extra has it), held to no target: the
default loop is the one the targets are for. Run ``python -m benchmarks.bench_paced --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from array import array
from pathlib import Path
from typing import Any

import msgspec

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.clients import API_KEY, MESSAGES, MODEL, REQUEST_BODY
from benchmarks.corpus import chunk_payloads
from benchmarks.report import (
    RESULTS,
    Ratio,
    emit,
    machine_info,
    percentile,
    save_ratios,
    table,
    targets_table,
)
from benchmarks.server import ROOT, child_env

NAME = "bench_paced"
CLIENTS = ("floor", "xstream", "openai")
_FP = b'"system_fingerprint":"fp_d18fc9fb64"'


# ---------------------------------------------------------------- the pacing server


def _template() -> tuple[bytes, bytes]:
    payload = chunk_payloads(2)[1]
    assert _FP in payload, payload
    head, tail = payload.split(_FP)
    return b"data: " + head + b'"system_fingerprint":"fp_', b'"' + tail + b"\n\n"


class _Paced(asyncio.Protocol):
    """HTTP/1.1 by hand (keep-alive, chunked): every POST gets ``chunks`` chunks, one
    per ``interval``, the first after a random part of it (streams out of phase)."""

    def __init__(self, interval: float, chunks: int) -> None:
        self.interval = interval
        self.chunks = chunks
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.head, self.tail = _template()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        length = 0
        for line in head.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length :]
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        loop = asyncio.get_running_loop()
        loop.call_later(random.random() * self.interval, self._send, 0)

    def _send(self, sent: int) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if sent == self.chunks:
            data = b"data: [DONE]\n\n"
            transport.write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(data), data))
            return
        data = self.head + b"%019d" % time.monotonic_ns() + self.tail
        transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        asyncio.get_running_loop().call_later(self.interval, self._send, sent + 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def _serve(interval: float, chunks: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Paced(interval, chunks), "127.0.0.1", 0, backlog=8192
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.buffer.read)  # until the parent is done
    server.close()


# ---------------------------------------------------------------- the client worker


class _FloorDelta(msgspec.Struct):
    content: str | None = None


class _FloorChoice(msgspec.Struct):
    delta: _FloorDelta


class _FloorChunk(msgspec.Struct):
    """What the floor decodes: the text, and the stamp the lag is read from."""

    choices: list[_FloorChoice]
    system_fingerprint: str | None = None


class _Lags:
    """Every chunk's delivery lag, and the steady state's CPU window: from the moment
    every stream has its first chunk (connections and requests done) to the moment the
    first stream ends, so the CPU per chunk is the reading's alone."""

    def __init__(self, streams: int) -> None:
        self.lags = array("d")
        self.chunks = 0
        self.streams = streams
        self.started = 0
        self.window: list[tuple[float, int]] = []  # (process time, chunks) at its ends

    def first(self) -> None:
        self.started += 1
        if self.started == self.streams:
            self.window.append((time.process_time(), self.chunks))

    def ended(self) -> None:
        if len(self.window) == 1:
            self.window.append((time.process_time(), self.chunks))

    def see(self, fingerprint: str | None) -> None:
        now = time.monotonic_ns()
        self.chunks += 1
        if fingerprint:
            self.lags.append((now - int(fingerprint[3:])) / 1e6)


class _Pauses:
    """The garbage collector's pauses (ms) in the steady state (``gc.callbacks``)."""

    def __init__(self, lags: _Lags) -> None:
        self.lags = lags
        self.pauses = array("d")
        self.began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.began = time.perf_counter()
        elif len(self.lags.window) == 1:
            self.pauses.append((time.perf_counter() - self.began) * 1e3)


async def _monitor(stop: asyncio.Event, late: array[float], lags: _Lags) -> None:
    """How late a 5 ms sleep wakes up, in the steady state (the connections' set-up
    is a burst every client has, and not the reading's)."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.005)
        if len(lags.window) == 1:
            late.append((loop.time() - before - 0.005) * 1e3)


async def _read_sdk_stream(client: Any, lags: _Lags) -> None:
    """One stream through an SDK with the OpenAI shape (xstream or openai)."""
    stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    first = True
    async for chunk in stream:
        _ = chunk.choices[0].delta.content
        lags.see(chunk.system_fingerprint)
        if first:
            first = False
            lags.first()
    lags.ended()


async def _worker(kind: str, base_url: str, streams: int) -> dict[str, Any]:
    lags = _Lags(streams)
    if kind == "xstream":
        import xstream

        # As many connections as streams (the floor's pool too), and a connect deadline that
        # 4,000 connections opened at once on a saturated 2-core machine can meet.
        client: Any = xstream.AsyncClient(
            api_key=API_KEY,
            base_url=base_url,
            max_retries=0,
            max_connections=streams,
            timeout=xstream.Timeout(connect=300),
        )

        def one() -> Any:
            return _read_sdk_stream(client, lags)

        close = client.aclose
    elif kind == "openai":
        import openai

        try:
            import httpx2 as http_lib  # openai 3.x
        except ImportError:
            import httpx as http_lib  # type: ignore[no-redef]
        limits = http_lib.Limits(max_connections=streams, max_keepalive_connections=streams)
        client = openai.AsyncOpenAI(
            api_key=API_KEY,
            base_url=base_url,
            max_retries=0,
            timeout=http_lib.Timeout(None),
            http_client=openai.DefaultAsyncHttpxClient(
                limits=limits, timeout=http_lib.Timeout(None)
            ),
        )

        def one() -> Any:
            return _read_sdk_stream(client, lags)

        close = client.close
    else:
        import aiohttp

        decode = msgspec.json.Decoder(_FloorChunk).decode
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=streams),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        url = f"{base_url}/chat/completions"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}

        async def one() -> None:
            first = True
            async with session.post(url, data=REQUEST_BODY, headers=headers) as response:
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
                            lags.ended()
                            return
                        chunk = decode(payload)
                        _ = chunk.choices[0].delta.content
                        lags.see(chunk.system_fingerprint)
                        if first:
                            first = False
                            lags.first()
                    rest = buffer[start:]

        close = session.close

    late: array[float] = array("d")
    stop = asyncio.Event()
    pauses = _Pauses(lags)
    gc.callbacks.append(pauses)
    try:
        gc.collect()
        monitor = asyncio.ensure_future(_monitor(stop, late, lags))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one() for _ in range(streams)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        stop.set()
        await monitor
    finally:
        gc.callbacks.remove(pauses)
        await close()
    ordered = sorted(lags.lags)
    stalls = sorted(late)
    (cpu_a, chunks_a), (cpu_b, chunks_b) = lags.window
    return {
        "chunks": lags.chunks,
        "cpu": cpu,
        "steady_cpu_per_chunk": (cpu_b - cpu_a) / max(chunks_b - chunks_a, 1) * 1e6,
        "steady_chunks": chunks_b - chunks_a,
        "wall": wall,
        "lag_p50": percentile(ordered, 50),
        "lag_p99": percentile(ordered, 99),
        "stall_max": stalls[-1] if stalls else 0.0,
        "stalls_10ms": sum(1 for s in stalls if s > 10),
        "gc_max": max(pauses.pauses, default=0.0),
        "gc_10ms": sum(1 for p in pauses.pauses if p > 10),
        "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# ---------------------------------------------------------------- the parent


def run_worker(kind: str, port: int, streams: int, loop: str = "asyncio") -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.bench_paced", "--worker", kind,
               "--url", f"http://127.0.0.1:{port}/v1", "--streams", str(streams),
               "--loop", loop]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure(
    streams: int,
    chunks: int,
    interval: float,
    repeats: int,
    clients: tuple[str, ...],
    loop: str = "asyncio",
) -> dict[str, list[dict[str, Any]]]:
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_paced", "--serve",
         "--interval", str(interval), "--chunks", str(chunks)],
        cwd=ROOT, env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        runs: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
        for _ in range(repeats):
            for kind in clients:  # taking turns, so noise spreads over all of them
                run = run_worker(kind, port, streams, loop)
                if run["chunks"] != streams * chunks:
                    raise AssertionError(f"{kind}: {run['chunks']} chunks of {streams * chunks}")
                runs[kind].append(run)
                print(f"{NAME}: {streams} streams, {kind} ({loop}): {_brief(run)}", file=sys.stderr)
        return runs
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(10)


def _brief(run: dict[str, Any]) -> str:
    return (
        f"{run['steady_cpu_per_chunk']:.1f} µs/chunk ({run['cpu'] / run['chunks'] * 1e6:.1f} "
        f"with the set-up), lag p50 {run['lag_p50']:.1f} ms "
        f"p99 {run['lag_p99']:.1f} ms, stalls>10ms {run['stalls_10ms']}, "
        f"worst {run['stall_max']:.1f} ms, GC pauses>10ms {run['gc_10ms']} "
        f"(longest {run['gc_max']:.1f} ms), RSS {run['rss_peak_mib']:.0f} MiB"
    )


HEADER = [
    "loop",
    "streams",
    "client",
    "CPU µs/chunk, steady",
    "CPU µs/chunk, with set-up",
    "share of a core",
    "lag p50, ms",
    "lag p99, ms",
    "worst loop stall, ms",
    "stalls > 10 ms",
    "longest GC pause, ms",
    "GC pauses > 10 ms",
    "peak RSS, MiB",
]


def _median(runs: list[dict[str, Any]], key: str) -> float:
    if key == "cpu_per_chunk":
        return statistics.median(r["steady_cpu_per_chunk"] for r in runs)
    if key == "setup_cpu_per_chunk":
        return statistics.median(r["cpu"] / r["chunks"] * 1e6 for r in runs)
    return statistics.median(float(r[key]) for r in runs)


def _ratios(what: str, runs: dict[str, list[dict[str, Any]]]) -> list[tuple[Ratio, str]]:
    """The paced targets at one stream count, each with how it is shown."""
    floor, ours = runs["floor"], runs["xstream"]
    cpu = _median(floor, "cpu_per_chunk") / _median(ours, "cpu_per_chunk")
    p99 = _median(floor, "lag_p99") / _median(ours, "lag_p99")
    p50 = _median(ours, "lag_p50") - _median(floor, "lag_p50")
    # "lag p50 within 1 ms of the floor's": (the floor's p50 + 1 ms) / xstream's >= 1
    near = (_median(floor, "lag_p50") + 1.0) / max(_median(ours, "lag_p50"), 0.1)
    pause, floor_pause = _median(ours, "gc_max"), _median(floor, "gc_max")
    # "no stall over 10 ms caused by xstream": the pause beyond the floor's, whose
    # process holds the same aiohttp and asyncio objects, at most 10 ms
    beyond = (floor_pause + 10) / max(pause, 0.1)
    return [
        (Ratio(f"{what}: floor / xstream CPU per chunk", cpu, 1.0), f"{cpu:.2f}x"),
        (Ratio(f"{what}: floor / xstream lag p99", p99, 1 / 1.5), f"{p99:.2f}x"),
        (
            Ratio(f"{what}: (floor lag p50 + 1 ms) / xstream's", near, 1.0),
            f"{near:.2f}x (xstream {p50:+.1f} ms vs the floor)",
        ),
        (
            Ratio(f"{what}: 10 ms / xstream's longest GC pause", 10 / max(pause, 0.1), 1.0),
            f"{10 / max(pause, 0.1):.2f}x ({pause:.1f} ms; the floor's {floor_pause:.1f} ms)",
        ),
        (
            Ratio(f"{what}: (floor's longest GC pause + 10 ms) / xstream's", beyond, 1.0),
            f"{beyond:.2f}x (xstream {pause - floor_pause:+.1f} ms vs the floor)",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="200 streams, 1 repeat")
    parser.add_argument("--streams", type=int, action="append", help="default 1000 and 4000")
    parser.add_argument("--seconds", type=float, default=10.0, help="each stream's length")
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument(
        "--loops",
        default="asyncio,uvloop",
        help="the clients' event loops; uvloop (when installed) is measured for the floor "
        "and xstream, with no targets: the default loop is the one held to them",
    )
    parser.add_argument("--loop", default="asyncio", help=argparse.SUPPRESS)  # a worker's
    parser.add_argument("--results", type=Path)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--chunks", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.interval, args.chunks))
        return 0
    if args.worker:
        run = asyncio.run
        if args.loop == "uvloop":
            import uvloop

            run = uvloop.run
        print(json.dumps(run(_worker(args.worker, args.url, args.streams[0]))))
        return 0
    counts = args.streams or ([200] if args.quick else [1000, 4000])
    seconds = 3.0 if args.quick else args.seconds
    repeats = args.repeats or (1 if args.quick else 3)
    chunks = max(1, round(seconds / args.interval))
    clients = tuple(c for c in args.clients.split(",") if c)
    results: Path | None = args.results or (None if args.quick else RESULTS)
    started = time.perf_counter()
    rows: list[list[str]] = []
    ratios: list[Ratio] = []
    shown: list[str] = []
    loops = [x for x in args.loops.split(",") if x]
    if "uvloop" in loops and importlib.util.find_spec("uvloop") is None:
        loops.remove("uvloop")
        print(f"{NAME}: uvloop is not installed: the default loop only", file=sys.stderr)
    steady: dict[tuple[str, int], float] = {}  # xstream's CPU per chunk, by loop and count
    for loop in loops:
        for streams in counts:
            # the OpenAI SDK saturates long before 4,000 streams: measured at the first
            # count only, and on the default loop only
            present = tuple(
                c for c in clients if c != "openai" or (streams == counts[0] and loop == "asyncio")
            )
            runs = measure(streams, chunks, args.interval, repeats, present, loop)
            for kind in present:
                r = runs[kind]
                rows.append([
                    loop, f"{streams:,}", kind, f"{_median(r, 'cpu_per_chunk'):.1f}",
                    f"{_median(r, 'setup_cpu_per_chunk'):.1f}",
                    f"{_median(r, 'cpu') / _median(r, 'wall') * 100:.0f} %",
                    f"{_median(r, 'lag_p50'):.1f}", f"{_median(r, 'lag_p99'):.1f}",
                    f"{_median(r, 'stall_max'):.1f}", f"{_median(r, 'stalls_10ms'):.0f}",
                    f"{_median(r, 'gc_max'):.1f}", f"{_median(r, 'gc_10ms'):.0f}",
                    f"{_median(r, 'rss_peak_mib'):.0f}",
                ])  # fmt: skip
            if "xstream" in runs:
                steady[loop, streams] = _median(runs["xstream"], "cpu_per_chunk")
            if "floor" in runs and "xstream" in runs:
                got = _ratios(f"paced {streams:,}", runs)
                if loop != "asyncio":  # shown, held to no target
                    got = [(Ratio(f"{r.label} ({loop})", r.value, None), t) for r, t in got]
                ratios += [r for r, _ in got]
                shown += [t for _, t in got]
    for streams in counts:  # what uvloop changes for xstream
        if ("asyncio", streams) in steady and ("uvloop", streams) in steady:
            change = steady["asyncio", streams] / steady["uvloop", streams]
            ratios.append(
                Ratio(f"paced {streams:,}: xstream CPU per chunk, asyncio / uvloop", change, None)
            )
            shown.append(f"{change:.2f}x")
    command = " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# A gateway's workload: paced streams",
        "",
        *machine_info(),
        f"- run: `python -m benchmarks.bench_paced {command}` — each stream {chunks} chunks, "
        f"one every {args.interval * 1e3:.0f} ms; median of {repeats} runs per client, "
        "clients taking turns",
        "",
        *table(HEADER, rows),
        "",
        "## Targets",
        "",
        *targets_table(ratios, shown),
        "",
        f"Total benchmark time: {time.perf_counter() - started:.0f} s.",
    ]
    emit(NAME, lines, results)
    save_ratios(NAME, ratios, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
