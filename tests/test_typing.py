"""The types users see, checked by mypy (as msgspec's ``tests/typing``).

``tests/typing/check_async.py`` and ``check_sync.py`` call the public API of both
clients and state each result's type with ``assert_type``: mypy ``--strict`` must
find nothing. ``tests/typing/rejected.py`` holds calls that must not type-check,
each marked ``# E: <part of the error>``: mypy must report an error containing the
fragment on every marked line, and none on any other line.

One mypy run checks the three files (a few seconds); its cache goes in a
temporary directory, so every run starts cold and the tree is left untouched.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tokenize
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TYPING = ROOT / "tests" / "typing"
CHECKED = ("check_async.py", "check_sync.py")
REJECTED = "rejected.py"

_ERROR = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+): error: (?P<message>.*)$", re.M)
_MARK = re.compile(r"#\s*E:\s*(?P<fragment>.+?)\s*$")
# mypy's companion error after "Unexpected keyword argument ... for overloaded function"
_NO_OVERLOAD = "No overload variant of"


class MypyRun:
    """mypy's errors, by file name and line."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.errors: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
        for match in _ERROR.finditer(output):
            name = Path(match["path"]).name
            self.errors[name][int(match["line"])].append(match["message"])

    def report(self, name: str) -> str:
        """mypy's output about one file (its errors and their notes)."""
        return "\n".join(
            line for line in self.output.splitlines() if Path(line.split(":", 1)[0]).name == name
        )


@pytest.fixture(scope="module")
def mypy_run(tmp_path_factory: pytest.TempPathFactory) -> MypyRun:
    cache = tmp_path_factory.mktemp("mypy_cache")
    files = [str(Path("tests", "typing", name)) for name in (*CHECKED, REJECTED)]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "pyproject.toml",
            "--strict",
            "--cache-dir",
            str(cache),
            "--no-pretty",
            "--no-color-output",
            "--no-error-summary",
            "--show-error-codes",
            *files,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # 0: no errors, 1: errors found (rejected.py always has some), 2: mypy failed
    assert result.returncode == 1, f"mypy did not run cleanly:\n{result.stdout}{result.stderr}"
    return MypyRun(result.stdout)


def _marks() -> dict[int, str]:
    """Line -> fragment of every ``# E:`` comment (real comments: not the docstring's)."""
    with (TYPING / REJECTED).open("rb") as source:
        tokens = list(tokenize.tokenize(source.readline))
    return {
        token.start[0]: m["fragment"]
        for token in tokens
        if token.type == tokenize.COMMENT and (m := _MARK.match(token.string))
    }


@pytest.mark.parametrize("name", CHECKED)
def test_public_types_are_what_users_expect(mypy_run: MypyRun, name: str) -> None:
    source = (TYPING / name).read_text()
    assert source.count("assert_type(") >= 60, "the check file lost most of its checks"
    assert not mypy_run.errors[name], f"tests/typing/{name}:\n{mypy_run.report(name)}"


def test_no_errors_outside_the_typing_files(mypy_run: MypyRun) -> None:
    others = {name for name in mypy_run.errors if name not in (*CHECKED, REJECTED)}
    assert not others, f"mypy errors in {sorted(others)}:\n{mypy_run.output}"


def test_rejected_calls_are_rejected_and_nothing_else(mypy_run: MypyRun) -> None:
    marks = _marks()
    assert len(marks) >= 30, "rejected.py lost its marked lines"
    errors = mypy_run.errors[REJECTED]
    problems = []
    for line, fragment in sorted(marks.items()):
        messages = errors.get(line, [])
        if not any(fragment in message for message in messages):
            problems.append(
                f"line {line}: expected an error containing {fragment!r}, got {messages}"
            )
            continue
        # besides the expected error, only the overload companion may appear
        extra = [m for m in messages if fragment not in m and not m.startswith(_NO_OVERLOAD)]
        if extra:
            problems.append(f"line {line}: unexpected errors besides {fragment!r}: {extra}")
    for line in sorted(errors.keys() - marks.keys()):
        problems.append(f"line {line}: unmarked error(s): {errors[line]}")
    assert not problems, "\n".join(problems)
