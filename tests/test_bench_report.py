"""The benchmark report's own logic: targets, colours, and the stamp on every table and chart.

(Drawing the chart needs matplotlib, from the ``bench`` extra; what it draws is decided here.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from benchmarks import report
from benchmarks.report import Ratio


def test_a_ratio_without_a_target_is_grey_never_red() -> None:
    ratios = [Ratio("met", 2.0, 1.0), Ratio("missed", 0.5, 1.0), Ratio("shown", 0.1, None)]
    assert [r.met for r in ratios] == [True, False, None]
    assert report.bar_colors(ratios) == [report.COLORS[True], report.COLORS[False], "#78909c"]
    assert report.COLORS[None] not in (report.COLORS[True], report.COLORS[False])
    table = report.targets_table(ratios)
    assert table[2:] == [
        "| met (≥ 1.00) | 2.00x | yes |",
        "| missed (≥ 1.00) | 0.50x | NO |",
        "| shown (no target) | 0.10x | — |",
    ]


def test_saved_ratios_carry_their_commit_and_date(tmp_path: Path) -> None:
    report.save_ratios("bench_x", [Ratio("a", 3.0, 2.0), Ratio("b", 1.0, None)], tmp_path)
    data = json.loads((tmp_path / "bench_x.ratios.json").read_text())
    assert re.fullmatch(r"commit \w+( \+ local changes)?, \d{4}-\d\d-\d\d", data["measured"])
    assert report.load_ratios(tmp_path) == [
        ("bench_x", Ratio("a", 3.0, 2.0)),
        ("bench_x", Ratio("b", 1.0, None)),
    ]
    assert report.chart_stamp(tmp_path) == f"measured at {data['measured']}"


def test_the_chart_stamp_is_that_of_the_ratios_not_of_today(tmp_path: Path) -> None:
    old = {
        "measured": "commit 1a3d1a7, 2026-11-24",
        "ratios": [{"label": "a", "value": 2, "target": 1}],
    }
    (tmp_path / "bench_e2e.ratios.json").write_text(json.dumps(old))
    legacy = [{"label": "b", "value": 1, "target": 1}]  # written before ratios had stamps
    (tmp_path / "bench_sse.ratios.json").write_text(json.dumps(legacy))
    assert report.load_stamps(tmp_path) == [
        "commit and date not recorded",  # bench_sse comes first in the chart's order
        "commit 1a3d1a7, 2026-11-24",
    ]
    assert "2026-11-24" in report.chart_stamp(tmp_path)
    assert [name for name, _ in report.load_ratios(tmp_path)] == ["bench_sse", "bench_e2e"]


def test_every_report_starts_with_when_and_at_what_commit() -> None:
    info = report.machine_info()
    assert info[0].startswith(f"- measured: {report.measured_at()} (")
    assert info[1].startswith(f"- code: {report.commit()}, xstream/*.py sha256 ")


def test_a_smoke_ratio_gets_no_verdict_and_says_why() -> None:
    ratios = [Ratio("missed", 0.5, 1.0, smoke=True), Ratio("shown", 0.1, None, smoke=True)]
    assert [r.met for r in ratios] == [None, None]
    assert [r.verdict for r in ratios] == ["smoke run", "—"]
    assert report.bar_colors(ratios) == [report.COLORS[None]] * 2  # grey, never red
    table = report.targets_table(ratios)
    assert table[0] == report.SMOKE_NOTE
    assert table[-2:] == [
        "| missed (full runs: ≥ 1.00) | 0.50x | smoke run |",
        "| shown (no target) | 0.10x | — |",
    ]


def test_a_quick_run_is_a_smoke_run_in_its_reports_and_summary_alike(tmp_path: Path) -> None:
    """``python -m benchmarks --quick``: no "yes"/"NO" against full-run targets, the
    same note in the benchmark's report and in the summary, and the same numbers.
    (Needs the ``bench`` extra: the peer it measures against, and matplotlib.)"""
    import subprocess
    import sys

    import pytest

    pytest.importorskip("openai", reason="the bench extra: pip install -e '.[bench]'")
    pytest.importorskip("matplotlib", reason="the bench extra: pip install -e '.[bench]'")

    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "bench_accumulate",
         "--results", str(tmp_path)],
        cwd=root, check=True, capture_output=True, timeout=50,
    )  # fmt: skip
    summary = (tmp_path / "summary.md").read_text()
    bench = (tmp_path / "bench_accumulate.md").read_text()
    assert report.SMOKE_NOTE in summary and report.SMOKE_NOTE in bench
    ratio_rows = [line for line in summary.splitlines() if line.startswith("| bench_accumulate | accumulate")]
    assert ratio_rows and all(row.endswith(("| smoke run |", "| — |")) for row in ratio_rows)
    targets = bench.split("## Targets", 1)[1]
    assert "| yes |" not in targets and "| NO |" not in targets
    for name, ratio in report.load_ratios(tmp_path):
        assert ratio.smoke
        # the report states each ratio as the summary does
        assert f"{ratio.value:.2f}" in targets, (ratio, targets)
        assert f"| {name} | {ratio.label} ({ratio.goal}) | {ratio.value:.2f} |" in summary


def test_the_summary_reads_bench_sse_smoke_verdicts_as_smoke(tmp_path: Path) -> None:
    from benchmarks.__main__ import sse_ratios

    (tmp_path / "bench_sse.md").write_text(
        "| 16 KiB pieces: xstream ≥ 5x openai | LF | 8.73x | smoke run |\n"
        "| 16 KiB pieces: xstream ≥ 2.5x httpx-sse | LF | 2.10x | NO |\n"
    )
    sse_ratios(tmp_path)
    found = [r for _, r in report.load_ratios(tmp_path)]
    assert [(r.value, r.smoke, r.verdict) for r in found] == [
        (8.73, True, "smoke run"),
        (2.10, False, "NO"),
    ]
