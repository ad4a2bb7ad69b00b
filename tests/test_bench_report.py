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
