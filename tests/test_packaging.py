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
    requirements = [r.partition(";")[0].strip() for r in test_extra]  # markers dropped
    pins = {r.partition("==")[0]: r.partition("==")[2] for r in requirements if "==" in r}
    assert {"mypy", "ruff"} <= set(pins), test_extra
    assert all(re.fullmatch(r"[0-9]+(\.[0-9]+)+", v) for v in pins.values())


def test_the_readme_states_the_supported_pythons() -> None:
    readme = (ROOT / "README.md").read_text()
    floor = PROJECT["requires-python"].removeprefix(">=")
    assert f"Python {floor}" in readme


DISTRIBUTION = "xstream-llm"  # free on the package index (checked with `pip index versions`)


def test_the_distribution_is_not_the_unrelated_xstream_but_imports_as_xstream() -> None:
    """``xstream`` on the package index is someone else's encryption library: the
    distribution has a name of its own, and the package it installs is ``xstream``."""
    assert PROJECT["name"] == DISTRIBUTION
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert wheel["targets"]["wheel"]["packages"] == ["xstream"]
    assert PROJECT["scripts"] == {"xstream": "xstream._cli.main:main"}


def test_the_installed_distribution_provides_the_xstream_package() -> None:
    import importlib.metadata

    dist = importlib.metadata.distribution(DISTRIBUTION)
    assert {(e.group, e.name, e.value) for e in dist.entry_points} >= {
        ("console_scripts", "xstream", "xstream._cli.main:main"),
        ("pytest11", "xstream", "xstream.pytest_plugin"),
    }
    assert "otel" in (dist.metadata.get_all("Provides-Extra") or [])


def test_the_readme_installs_the_distribution_with_its_extras() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"pip install {DISTRIBUTION}" in readme
    assert f"pip install '{DISTRIBUTION}[otel]'" in readme
    # nowhere does it tell anyone to install the other project
    assert not re.search(r"pip install '?xstream(\[|'|\s|$)", readme)
    for extra in re.findall(r"pip install '([^'\s]+)\[(\w+)\]'", readme):
        assert extra[0] in (DISTRIBUTION, ".", "/path/to/this/clone"), extra
        assert extra[1] in PROJECT["optional-dependencies"], extra
