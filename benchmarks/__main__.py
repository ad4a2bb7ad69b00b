"""Run the whole benchmark suite: ``python -m benchmarks [--quick]``.

Each benchmark runs in its own process, one after the other (so that none disturbs
another's numbers), with a time limit. Its tables go to stdout and to
``<results>/<name>.md``; afterwards the headline ratios of all of them are collected
into ``<results>/summary.md`` and drawn in ``<results>/ratios.png``.

A full run writes to ``benchmarks/results/``; a ``--quick`` smoke run (smaller
inputs, fewer repeats) writes to ``benchmarks/results/quick/`` so it never
overwrites the full results.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import (
    RESULTS,
    ROOT,
    SMOKE_NOTE,
    Ratio,
    chart,
    load_ratios,
    load_stamps,
    machine_info,
    save_ratios,
)
from benchmarks.server import child_env

# name -> time limit in seconds (full run, quick run)
SUITE: dict[str, tuple[float, float]] = {
    "bench_sse": (240, 60),
    "bench_decode": (150, 60),
    "bench_e2e": (240, 60),
    "bench_concurrent": (1200, 90),
    "bench_paced": (900, 90),
    "bench_startup": (240, 60),
    "bench_accumulate": (240, 60),
    "bench_events": (300, 60),
    "bench_relay": (240, 60),
    "bench_ws": (240, 60),
}


def run_one(name: str, quick: bool, results: Path) -> tuple[bool, float]:
    """Run ``python -m benchmarks.<name>``; its output passes straight through."""
    command = [sys.executable, "-m", f"benchmarks.{name}"]
    if quick:
        command.append("--quick")
    if name == "bench_sse":
        command += ["--output", str(results / "bench_sse.md")]
    else:
        command += ["--results", str(results)]
    limit = SUITE[name][1 if quick else 0]
    print(f"\n<!-- {' '.join(command[1:])} (limit {limit:.0f} s) -->\n", flush=True)
    started = time.perf_counter()
    # A session of its own, so that a timeout stops the benchmark and its children.
    process = subprocess.Popen(command, cwd=ROOT, env=child_env(), start_new_session=True)
    try:
        code = process.wait(limit)
    except subprocess.TimeoutExpired:
        print(f"{name}: over its {limit:.0f} s limit, stopped", file=sys.stderr)
        code = -1
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return code == 0, time.perf_counter() - started


_SSE_TARGET = re.compile(
    r"^\| (16 KiB pieces: xstream ≥ (\S+)x (openai|httpx-sse)) \| LF \| ([\d.]+)x \| ([^|]+) \|$"
)


def sse_ratios(results: Path) -> None:
    """bench_sse reports its targets in markdown only: take the LF corpus's ratio
    targets from its report for the chart."""
    path = results / "bench_sse.md"
    if not path.exists():
        return
    ratios = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _SSE_TARGET.match(line)
        if match:
            label, goal, _, value, verdict = match.groups()
            smoke_run = verdict == "smoke run"
            ratios.append(Ratio(f"framing (LF), {label}", float(value), float(goal), smoke_run))
    save_ratios("bench_sse", ratios, results)


def summary(results: Path, timings: dict[str, tuple[bool, float]], total: float) -> list[str]:
    ratios = load_ratios(results)
    lines = [
        "# Benchmark summary",
        "",
        *([SMOKE_NOTE, ""] if any(r.smoke for _, r in ratios) else []),
        *machine_info(),
        "- ratios measured at: " + "; ".join(load_stamps(results)),
        "",
        "Every ratio is oriented so that higher is better for xstream; the details and the "
        "peers' absolute numbers are in each benchmark's report.",
        "",
        "| benchmark | target | measured | met |",
        "|---|---|---:|:---:|",
    ]
    for name, ratio in ratios:
        lines.append(
            f"| {name} | {ratio.label} ({ratio.goal}) | {ratio.value:.2f} | {ratio.verdict} |"
        )
    lines += ["", "| benchmark | finished | seconds |", "|---|:---:|---:|"]
    for name, (ok, seconds) in timings.items():
        lines.append(f"| {name} | {'yes' if ok else 'NO'} | {seconds:.0f} |")
    lines += ["", f"Total: {total:.0f} s."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run every benchmark, then the summary")
    parser.add_argument("--quick", action="store_true", help="a smoke run, under a minute")
    parser.add_argument(
        "--only", help=f"comma-separated subset of {','.join(SUITE)} (default: all)"
    )
    parser.add_argument(
        "--results", type=Path, help=f"output directory (default {RESULTS}, quick: .../quick)"
    )
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(SUITE)
    if set(names) - set(SUITE):
        parser.error(f"unknown benchmarks: {', '.join(sorted(set(names) - set(SUITE)))}")
    results: Path = args.results or (RESULTS / "quick" if args.quick else RESULTS)
    results.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    timings: dict[str, tuple[bool, float]] = {}
    for name in names:
        (results / f"{name}.ratios.json").unlink(missing_ok=True)  # no stale ratios
        timings[name] = run_one(name, args.quick, results)
    sse_ratios(results)
    total = time.perf_counter() - started
    text = "\n".join(summary(results, timings, total)) + "\n"
    print("\n" + text)
    (results / "summary.md").write_text(text, encoding="utf-8")
    png = chart(results)
    print(f"written: {results / 'summary.md'}" + (f", {png}" if png else ""), file=sys.stderr)
    return 0 if all(ok for ok, _ in timings.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
