"""End to end over loopback: one long stream, read by each client in turn.

A separate server process (:mod:`benchmarks.server`) sends a pre-built body of
``chat.completion.chunk`` events shaped like ``bench_sse``'s corpus; this process
reads it with each client of :mod:`benchmarks.clients`. Reported per client:
chunks per second of wall time, and **client CPU microseconds per chunk**
(``time.process_time()`` of this process, every thread included; the server's CPU is
in its own process and not counted). Run ``python -m benchmarks.bench_e2e --help``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.clients import ONE_STREAM, OPTIONAL, Run, SyncRunner
from benchmarks.report import (
    RESULTS,
    Ratio,
    Spread,
    emit,
    machine_info,
    save_ratios,
    table,
    targets_table,
)
from benchmarks.server import ServerProcess, running_server

NAME = "bench_e2e"
SLOW = frozenset({"openai-async", "openai-sync"})  # read a shorter stream: the rate is the point
WARMUP_CHUNKS = 200


@dataclass
class Measured:
    chunks: int
    runs: list[Run]
    server_cpu: list[float]  # server CPU seconds during each run

    @property
    def rate(self) -> Spread:
        return Spread.of(self.chunks / r.wall for r in self.runs)

    @property
    def cpu_us(self) -> Spread:
        return Spread.of(r.cpu / self.chunks * 1e6 for r in self.runs)

    @property
    def server_share(self) -> Spread:
        return Spread.of(100 * s / r.wall for s, r in zip(self.server_cpu, self.runs, strict=True))


def measure(server: ServerProcess, sizes: dict[str, int], repeats: int) -> dict[str, Measured]:
    """Every client reads its stream ``repeats`` times, taking turns within each repeat."""
    runners = {name: ONE_STREAM[name] for name in sizes}
    for name, run in runners.items():  # warm up: lazy imports, first connections
        _checked(name, run, server.base_url(WARMUP_CHUNKS), WARMUP_CHUNKS)
    out = {name: Measured(sizes[name], [], []) for name in runners}
    for i in range(repeats):
        for name, run in runners.items():
            print(f"  run {i + 1}/{repeats}: {name}, {sizes[name]:,} chunks", file=sys.stderr)
            before = server.stats()["cpu"]
            result = _checked(name, run, server.base_url(sizes[name]), sizes[name])
            out[name].runs.append(result)
            out[name].server_cpu.append(server.stats()["cpu"] - before)
    return out


def _checked(name: str, run: SyncRunner, base_url: str, expected: int) -> Run:
    gc.collect()  # every run starts from the same heap; the collector stays on during it
    result = run(base_url)
    if result.chunks != expected:
        raise AssertionError(f"{name} received {result.chunks} chunks, expected {expected}")
    return result


def profile(server: ServerProcess, chunks: int, names: list[str]) -> None:
    """Print where the xstream clients' time goes (cProfile, by own time)."""
    import cProfile
    import pstats

    for name in names:
        if not name.startswith("xstream"):
            continue
        profiler = cProfile.Profile()
        profiler.runcall(ONE_STREAM[name], server.base_url(chunks))
        print(f"\n### cProfile: {name}, {chunks:,} chunks (slower than unprofiled)\n")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def results_table(measured: dict[str, Measured]) -> list[str]:
    xs = measured.get("xstream-async") or next(iter(measured.values()))
    rows = []
    for name, m in measured.items():
        rows.append(
            [
                name,
                f"{m.chunks:,}",
                m.rate.fmt(),
                m.cpu_us.fmt(".2f"),
                m.server_share.fmt(".0f", " %"),
                f"{xs.rate.median / m.rate.median:.2f}x",
                f"{xs.cpu_us.median / m.cpu_us.median:.2f}",
            ]
        )
    return table(
        [
            "client",
            "chunks per run",
            "chunks/s",
            "client CPU µs/chunk",
            "server CPU, % of wall",
            "xstream-async rate / this",
            "xstream-async CPU / this",
        ],
        rows,
    )


def headline(measured: dict[str, Measured]) -> list[Ratio]:
    """The targets; one whose clients were not all measured (``--clients``) is left out."""
    rate = {name: m.rate.median for name, m in measured.items()}
    cpu = {name: m.cpu_us.median for name, m in measured.items()}
    wanted = [
        (
            "e2e: xstream async / openai.AsyncOpenAI chunks/s",
            rate,
            "xstream-async",
            "openai-async",
            25,
        ),
        (
            "e2e: xstream async / httpx+httpx-sse+json chunks/s",
            rate,
            "xstream-async",
            "httpx-sse",
            2.5,
        ),
        # issue 28, "bulk: <= 1.1x the floor": floor / xstream >= 1 / 1.1 (was 1.25x, 0.8)
        ("e2e: floor CPU / xstream async CPU per chunk", cpu, "floor", "xstream-async", 1 / 1.1),
        ("e2e: xstream sync / xstream async chunks/s", rate, "xstream-sync", "xstream-async", 0.9),
        ("e2e: xstream sync / openai.OpenAI chunks/s", rate, "xstream-sync", "openai-sync", 10),
    ]
    return [
        Ratio(label, values[top] / values[bottom], goal)
        for label, values, top, bottom, goal in wanted
        if top in values and bottom in values
    ]


def _shown(ratios: list[Ratio], measured: dict[str, Measured]) -> list[str]:
    shown = []
    for r in ratios:
        if r.label.startswith("e2e: floor CPU"):
            xs, fl = measured["xstream-async"].cpu_us.median, measured["floor"].cpu_us.median
            shown.append(f"{r.value:.2f}x (floor {fl:.2f} µs / xstream {xs:.2f} µs per chunk)")
        else:
            shown.append(f"{r.value:.2f}x")
    return shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short streams, 2 repeats")
    parser.add_argument(
        "--chunks", type=int, help="chunks per stream (default 100000, quick 20000)"
    )
    parser.add_argument(
        "--slow-chunks", type=int, help="chunks for the openai clients (default 10000, quick 2000)"
    )
    parser.add_argument("--repeats", type=int, help="runs per client (default 5, quick 2)")
    parser.add_argument(
        "--results", type=Path, help=f"where to write {NAME}.md (default {RESULTS}; quick: none)"
    )
    parser.add_argument(
        "--clients",
        help=f"comma-separated subset of {','.join(ONE_STREAM)} (default: all but "
        f"{', '.join(sorted(OPTIONAL))})",
    )
    parser.add_argument(
        "--profile", action="store_true", help="then print cProfile output for the xstream clients"
    )
    args = parser.parse_args(argv)
    default = [name for name in ONE_STREAM if name not in OPTIONAL]
    clients = args.clients.split(",") if args.clients else default
    unknown = set(clients) - set(ONE_STREAM)
    if unknown:
        parser.error(f"unknown clients: {', '.join(sorted(unknown))}")
    chunks = args.chunks or (20_000 if args.quick else 100_000)
    slow = args.slow_chunks or (2_000 if args.quick else 10_000)
    repeats = args.repeats or (2 if args.quick else 5)
    results: Path | None = args.results or (None if args.quick else RESULTS)
    sizes = {name: slow if name in SLOW else chunks for name in clients}

    started = time.perf_counter()
    print(
        f"{NAME}: starting the server ({chunks:,} and {slow:,} chunk bodies) ...", file=sys.stderr
    )
    with running_server(sorted({chunks, slow, WARMUP_CHUNKS})) as server:
        measured = measure(server, sizes, repeats)
        if args.profile:
            profile(server, chunks, clients)
    ratios = headline(measured)
    shown = _shown(ratios, measured)
    lines = [
        "# End to end over loopback: one long stream",
        "",
        *machine_info(),
        f"- run: `python -m benchmarks.bench_e2e {' '.join(argv if argv is not None else sys.argv[1:])}`"
        f" — median of {repeats} runs per client (slowest .. fastest in brackets)",
        "",
        f"The server (`benchmarks/server.py`, a separate process) sends {chunks:,} chunk events "
        f"(about {chunks * 0.42 / 1024:,.0f} MiB) and `data: [DONE]`; the openai clients read "
        f"a {slow:,}-chunk prefix of the same stream instead, to bound the run time (the rate "
        "is what is compared). Every run must deliver exactly its chunk count. Client CPU is "
        "`time.process_time()` of the client process (all its threads) over the run; the last "
        "columns divide xstream-async's median by each client's.",
        "",
        *results_table(measured),
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
