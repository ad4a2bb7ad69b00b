"""Developer sessions.

* ``nox -s tests``: the suite on the newest versions that resolve (what CI and the
  README's test command install).
* ``nox -s tests_oldest``: the suite with every runtime dependency at the lower bound
  ``pyproject.toml`` declares (``constraints-oldest.txt``), so the declared range is true.
* ``nox -s lint``, ``nox -s typecheck``: ruff and mypy at the versions the test extra pins.
* ``nox -s bench``: the benchmark suite against the peers.
* ``nox -s browser``: the chat page of ``xstream serve`` in headless Chromium
  (Debian's ``chromium``, installed by the session when missing and run as root);
  the screenshot lands in ``.nox/browser/tmp/chat-page.png``.
"""

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "tests_oldest", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

RUNTIME = ("aiohttp", "anyio", "msgspec")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite on the newest versions that resolve (what CI runs)."""
    session.install("--upgrade", "-e", ".[test]")
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    session.run("pytest", *session.posargs)


@nox.session
def tests_oldest(session: nox.Session) -> None:
    """The test suite with aiohttp, anyio and msgspec at their declared lower bounds."""
    session.install("-c", "constraints-oldest.txt", "-e", ".[test]")
    session.run("python", "-c", _SHOW_VERSIONS)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over everything, at the pinned version."""
    session.install("-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", "xstream")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, at the pinned version."""
    session.install("-e", ".[test]")
    session.run("mypy", "--strict", "xstream")


@nox.session
def browser(session: nox.Session) -> None:
    """tests/browser: a real browser types into the chat page and watches the answer stream."""
    if shutil.which("chromium") is None:
        if os.geteuid() != 0:
            session.error("needs Debian's chromium: sudo apt-get install -y chromium")
        session.run("apt-get", "update", "-q", external=True)
        session.run(
            "apt-get", "install", "-y", "-q", "chromium", external=True,
            env={"DEBIAN_FRONTEND": "noninteractive"},
        )  # fmt: skip
    session.install("-e", ".[test]")
    shot = Path(session.create_tmp()) / "chat-page.png"
    session.run(
        "pytest", "-m", "browser", "-s", "tests/browser", *session.posargs,
        env={"XSTREAM_SCREENSHOT": str(shot)},
    )  # fmt: skip
    session.log(f"screenshot: {shot}")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark suite against the peers, in one run (writes benchmarks/results/)."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)


_SHOW_VERSIONS = (
    "import importlib.metadata as m; "
    f"print('  '.join(f'{{n}}=={{m.version(n)}}' for n in {RUNTIME!r}))"
)
