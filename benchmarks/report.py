"""Shared reporting for the end-to-end benchmarks: machine info, markdown tables,
headline ratios saved as JSON, and the ratio bar chart (``results/ratios.png``).

Every benchmark saves its headline ratios to ``<results>/<name>.ratios.json``, each
one oriented so that **higher is better for xstream** (a time or a memory figure is
given as peer / xstream). ``python -m benchmarks.report [--results DIR]`` redraws the
chart from whatever JSON files are there.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("xstream", "openai", "httpx", "httpx2", "httpx-sse", "aiohttp", "msgspec", "anyio")


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


@dataclass(frozen=True)
class Ratio:
    """A headline ratio, higher is better for xstream, and the target it is held to."""

    label: str
    value: float
    target: float

    @property
    def met(self) -> bool:
        return self.value >= self.target


def targets_table(ratios: Sequence[Ratio], shown: Sequence[str] | None = None) -> list[str]:
    """``| target | measured | met |`` rows; ``shown`` replaces the measured column's text."""
    lines = ["| target | measured | met |", "|---|---:|:---:|"]
    for i, ratio in enumerate(ratios):
        text = shown[i] if shown is not None else f"{ratio.value:.2f}x"
        lines.append(f"| {ratio.label} | {text} | {'yes' if ratio.met else 'NO'} |")
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
    """The commit, and a digest of the package sources (the tree may be dirty)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "xstream").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return f"commit {commit} (tree may be dirty), xstream/*.py sha256 {digest.hexdigest()[:12]}"


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
    if results is None:
        return
    results.mkdir(parents=True, exist_ok=True)
    data = [asdict(r) for r in ratios]
    (results / f"{name}.ratios.json").write_text(json.dumps(data, indent=1), encoding="utf-8")


# The order in which benchmarks appear in the chart.
ORDER = ("bench_sse", "bench_e2e", "bench_concurrent", "bench_startup", "bench_accumulate")


def load_ratios(results: Path) -> list[tuple[str, Ratio]]:
    found: list[tuple[str, Ratio]] = []
    files = sorted(
        results.glob("*.ratios.json"),
        key=lambda p: (ORDER.index(p.name[:-12]) if p.name[:-12] in ORDER else len(ORDER), p.name),
    )
    for path in files:
        for item in json.loads(path.read_text(encoding="utf-8")):
            found.append((path.name[: -len(".ratios.json")], Ratio(**item)))
    return found


def chart(results: Path) -> Path | None:
    """Draw every saved ratio as a horizontal bar, log scale, target marked."""
    ratios = load_ratios(results)
    if not ratios:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.label}" for _, r in ratios]
    values = [r.value for _, r in ratios]
    colors = ["#2e7d32" if r.met else "#c62828" for _, r in ratios]
    height = 0.5 + 0.42 * len(ratios)
    fig, ax = plt.subplots(figsize=(11, height))
    y = list(range(len(ratios)))[::-1]
    ax.barh(y, values, color=colors, height=0.6)
    for yi, (_, r) in zip(y, ratios, strict=True):
        ax.plot([r.target, r.target], [yi - 0.38, yi + 0.38], color="black", linewidth=2)
        ax.text(max(r.value, r.target) * 1.04, yi, f"{r.value:.2f}x", va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xscale("log")
    ax.axvline(1.0, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("ratio, higher is better for xstream (log scale); black tick = target")
    ax.set_title("xstream vs peers, measured in the same run (green: target met, red: missed)")
    ax.set_xlim(min(0.5, min(values) / 1.5), max(*values, *(r.target for _, r in ratios)) * 1.6)
    fig.tight_layout()
    path = results / "ratios.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="redraw results/ratios.png")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    path = chart(args.results)
    print(path or "no *.ratios.json found", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
