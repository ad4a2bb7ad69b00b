"""Shared reporting for the end-to-end benchmarks: machine info, markdown tables,
headline ratios saved as JSON, and the ratio bar chart (``results/ratios.png``).

Every benchmark saves its headline ratios to ``<results>/<name>.ratios.json``, each
one oriented so that **higher is better for xstream** (a time or a memory figure is
given as peer / xstream), with the commit and date it was measured at.
``python -m benchmarks.report [--results DIR]`` redraws the chart from whatever JSON
files are there, stamped with their commits and dates, not today's.

A ratio may have no target (``target=None``): it is shown for information, in grey,
never as a miss.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("xstream-llm", "openai", "httpx", "httpx2", "httpx-sse", "aiohttp", "msgspec", "anyio")


# ---------------------------------------------------------------- numbers


@dataclass(frozen=True)
class Spread:
    """The median of repeated measurements and their range."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        data = list(values)
        return cls(statistics.median(data), min(data), max(data))

    def fmt(self, spec: str = ",.0f", unit: str = "") -> str:
        return (
            f"{self.median:{spec}}{unit} ({self.low:{spec}} .. {self.high:{spec}})"
            if len({self.low, self.high}) > 1
            else f"{self.median:{spec}}{unit}"
        )


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linear between the closest ranks."""
    data = sorted(values)
    if not data:
        return float("nan")
    k = (len(data) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


SMOKE_NOTE = (
    "**Smoke run** (`--quick`): smaller inputs and fewer repeats, to see that everything "
    "runs. The targets are for full runs, so a smoke run gives no verdict against them."
)


def smoke() -> bool:
    """Whether this benchmark process is a ``--quick`` smoke run (``python -m benchmarks
    --quick`` passes the flag on to each benchmark)."""
    return "--quick" in sys.argv[1:]


@dataclass(frozen=True)
class Ratio:
    """A headline ratio, higher is better for xstream, and the target it is held to
    (``None``: shown for information, no target). A ratio of a smoke run is held to
    no target: its inputs are not those the target is for."""

    label: str
    value: float
    target: float | None
    smoke: bool = False

    @property
    def met(self) -> bool | None:
        """Whether the target is met; ``None`` when there is no target (or a smoke run)."""
        if self.target is None or self.smoke:
            return None
        return self.value >= self.target

    @property
    def verdict(self) -> str:
        """``yes``, ``NO``, ``—`` (no target), or ``smoke run``, for the tables."""
        if self.smoke and self.target is not None:
            return "smoke run"
        return {True: "yes", False: "NO", None: "—"}[self.met]

    @property
    def goal(self) -> str:
        if self.target is None:
            return "no target"
        return f"full runs: ≥ {self.target:.2f}" if self.smoke else f"≥ {self.target:.2f}"


def as_run(ratios: Sequence[Ratio]) -> list[Ratio]:
    """``ratios`` marked as this process's run: smoke ones when it is ``--quick``."""
    quick = smoke()
    return [replace(r, smoke=r.smoke or quick) for r in ratios]


def targets_table(ratios: Sequence[Ratio], shown: Sequence[str] | None = None) -> list[str]:
    """``| target | measured | met |`` rows; ``shown`` replaces the measured column's text
    (it should state the same ratio, oriented the same way, as the chart)."""
    ratios = as_run(ratios)
    lines = [SMOKE_NOTE, ""] if any(r.smoke for r in ratios) else []
    lines += ["| target | measured | met |", "|---|---:|:---:|"]
    for i, ratio in enumerate(ratios):
        text = shown[i] if shown is not None else f"{ratio.value:.2f}x"
        lines.append(f"| {ratio.label} ({ratio.goal}) | {text} | {ratio.verdict} |")
    return lines


def table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> list[str]:
    """A markdown table; ``align`` is one letter per column (``l`` or ``r``, default ``r``
    except the first column)."""
    aligns = align or "l" + "r" * (len(header) - 1)
    sep = "|" + "|".join("---" if a == "l" else "---:" for a in aligns) + "|"
    out = ["| " + " | ".join(header) + " |", sep]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


# ---------------------------------------------------------------- provenance


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def code_version() -> str:
    """The commit, and a digest of the package sources (every .py under xstream/)."""
    digest = hashlib.sha256()
    package = ROOT / "xstream"
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return f"{commit()}, xstream/*.py sha256 {digest.hexdigest()[:12]}"


@functools.cache
def commit() -> str:
    """``commit abc1234``, ``+ local changes`` when the package or the benchmarks differ
    from it (other people change the tree while the suite runs)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        # what the suite writes (results/) is not a change to what it measures
        dirty = git("status", "--porcelain", "--", "xstream", "benchmarks", ":!benchmarks/results")
    except (OSError, subprocess.SubprocessError):
        return "commit unknown"
    return f"commit {head}" + (" + local changes" if dirty else "")


@functools.cache
def measured_at() -> str:
    """At what code and on what day this process measures: the stamp of every table
    and chart (``commit abc1234, 2026-12-01``)."""
    return f"{commit()}, {_now().strftime('%Y-%m-%d')}"


@functools.cache
def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def machine_info() -> list[str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    packages = ", ".join(f"{d} {_version(d)}" for d in PACKAGES)
    return [
        f"- measured: {measured_at()} ({_now().strftime('%H:%M')} UTC)",
        f"- code: {code_version()}",
        f"- platform: {platform.platform()}",
        f"- CPU: {cpu}, {os.cpu_count()} logical CPUs",
        f"- Python: {sys.version.split()[0]} ({platform.python_implementation()})",
        f"- packages: {packages}",
        "- load average (1, 5, 15 min) when the report was written: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
        + " (other processes on this machine add noise; the clients take turns, so that it"
        " spreads over all of them)",
    ]


# ---------------------------------------------------------------- output


def emit(name: str, lines: Sequence[str], results: Path | None) -> None:
    """Print the report; write ``<results>/<name>.md`` when ``results`` is given."""
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    if results is not None:
        results.mkdir(parents=True, exist_ok=True)
        path = results / f"{name}.md"
        path.write_text(text, encoding="utf-8")
        print(f"written to {path}", file=sys.stderr)


def save_ratios(name: str, ratios: Sequence[Ratio], results: Path | None) -> None:
    """``<results>/<name>.ratios.json``: the ratios and when, at what commit, they were measured."""
    if results is None:
        return
    results.mkdir(parents=True, exist_ok=True)
    data = {"measured": measured_at(), "ratios": [asdict(r) for r in as_run(ratios)]}
    (results / f"{name}.ratios.json").write_text(json.dumps(data, indent=1), encoding="utf-8")


# The order in which benchmarks appear in the chart.
ORDER = (
    "bench_sse",
    "bench_e2e",
    "bench_concurrent",
    "bench_paced",
    "bench_startup",
    "bench_accumulate",
    "bench_events",
    "bench_relay",
    "bench_ws",
)


def _ratio_files(results: Path) -> list[Path]:
    return sorted(
        results.glob("*.ratios.json"),
        key=lambda p: (ORDER.index(p.name[:-12]) if p.name[:-12] in ORDER else len(ORDER), p.name),
    )


def _read(path: Path) -> tuple[str, list[dict[str, Any]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, list):  # written before ratios carried their stamp
        return "commit and date not recorded", data
    return str(data["measured"]), data["ratios"]


def load_ratios(results: Path) -> list[tuple[str, Ratio]]:
    found: list[tuple[str, Ratio]] = []
    for path in _ratio_files(results):
        for item in _read(path)[1]:
            found.append((path.name[: -len(".ratios.json")], Ratio(**item)))
    return found


def load_stamps(results: Path) -> list[str]:
    """When and at what commit the saved ratios were measured (each once, in order)."""
    return list(dict.fromkeys(_read(path)[0] for path in _ratio_files(results)))


COLORS = {True: "#2e7d32", False: "#c62828", None: "#78909c"}  # met, missed, no target


def chart(results: Path) -> Path | None:
    """Draw every saved ratio as a horizontal bar, log scale, target marked."""
    ratios = load_ratios(results)
    if not ratios:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.label}" if r.target is not None else f"{r.label} (no target)" for _, r in ratios]
    values = [r.value for _, r in ratios]
    colors = bar_colors([r for _, r in ratios])
    targets = [r.target for _, r in ratios if r.target is not None]
    height = 1.0 + 0.42 * len(ratios)
    fig, ax = plt.subplots(figsize=(11, height))
    y = list(range(len(ratios)))[::-1]
    ax.barh(y, values, color=colors, height=0.6)
    for yi, (_, r) in zip(y, ratios, strict=True):
        if r.target is not None:
            ax.plot([r.target, r.target], [yi - 0.38, yi + 0.38], color="black", linewidth=2)
        right = max(r.value, r.target or r.value)
        ax.text(right * 1.04, yi, f"{r.value:.2f}x", va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xscale("log")
    ax.axvline(1.0, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("ratio, higher is better for xstream (log scale); black tick = target")
    title = "xstream vs peers, same run: green target met, red missed, grey no target"
    if any(r.smoke for _, r in ratios):
        title = "SMOKE RUN (--quick): no verdicts; targets (black ticks) are for full runs"
    ax.set_title(title)
    ax.set_xlim(min(0.5, min(values) / 1.5), max(*values, *targets) * 3)
    fig.text(0.01, 0.005, chart_stamp(results), fontsize=7, color="#455a64", va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = results / "ratios.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bar_colors(ratios: Sequence[Ratio]) -> list[str]:
    """Green when the target is met, red when missed, grey when there is none."""
    return [COLORS[r.met] for r in ratios]


def chart_stamp(results: Path) -> str:
    """The chart's footer: the commit(s) and date(s) its ratios were measured at."""
    return "measured at " + "; ".join(load_stamps(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="redraw results/ratios.png")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    path = chart(args.results)
    print(path or "no *.ratios.json found", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
