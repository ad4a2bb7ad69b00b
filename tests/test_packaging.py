"""The declared dependency range is what the sessions test, and the judges are pinned."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _lower_bounds(requirements: list[str]) -> dict[str, str]:
    bounds = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9A-Za-z.]*)(,<[0-9.]+)?", requirement)
        assert match, f"{requirement!r}: a runtime dependency must be a range with a lower bound"
        bounds[match[1].lower()] = match[2]
    return bounds


def test_the_oldest_constraints_are_the_declared_lower_bounds() -> None:
    declared = _lower_bounds(PROJECT["dependencies"])
    # the runtime extras' ranges are held to their lower bound too
    declared |= _lower_bounds(PROJECT["optional-dependencies"]["redis"])
    pinned = {}
    for line in (ROOT / "constraints-oldest.txt").read_text().splitlines():
        line = line.partition("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pinned[name.lower()] = version
    assert set(declared) == {"aiohttp", "anyio", "msgspec", "redis"}
    # "3.10" and "3.10.0" are the same lower bound
    assert {n: Version(v) for n, v in pinned.items()} == {
        n: Version(v) for n, v in declared.items()
    }


def test_the_tools_that_judge_the_code_are_pinned_exactly() -> None:
    test_extra = PROJECT["optional-dependencies"]["test"]
    pins = {r.partition("==")[0]: r.partition("==")[2] for r in test_extra if "==" in r}
    assert {"mypy", "ruff"} <= set(pins), test_extra
    assert all(re.fullmatch(r"[0-9]+(\.[0-9]+)+", v) for v in pins.values())


def test_the_readme_states_the_supported_pythons() -> None:
    readme = (ROOT / "README.md").read_text()
    floor = PROJECT["requires-python"].removeprefix(">=")
    assert f"Python {floor}" in readme
