"""xstream's pytest plugin, used the way a user's project uses it: pytester runs a
small test suite of its own (with its own ini: pytest-asyncio in strict or auto
mode) that asks for the fixtures, and the README's testing example as pasted."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()

USES_THE_FIXTURES = """
import pytest

import xstream
from xstream.pytest_plugin import TEST_API_KEY
from xstream.testing import MockServer, Reply

SEEN = []


@pytest.mark.asyncio
async def test_server_and_client(xstream_server, xstream_client):
    xstream_server.enqueue(Reply(text="abcdef", chunk_size=2, drop_after=2))
    stream = await xstream_client.chat.completions.create(model="grok-4", messages=[{"role": "user", "content": "Hi"}], stream=True)
    texts = []
    with pytest.raises(xstream.StreamDisconnectedError):
        async for text in stream.text_stream:
            texts.append(text)
    assert texts == ["ab", "cd"]
    assert xstream_server.requests[0].headers["Authorization"] == f"Bearer {TEST_API_KEY}"
    SEEN.append(xstream_server.port)


@pytest.mark.asyncio
async def test_a_new_server_per_test(xstream_server):
    assert xstream_server.requests == [] and xstream_server.port not in SEEN


def test_sync_server_and_client(xstream_sync_server, xstream_sync_client):
    xstream_sync_server.enqueue(Reply(status=429, headers={"Retry-After": "0"}), Reply(text="ok"))
    completion = xstream_sync_client.chat.completions.create(model="grok-4", messages=[{"role": "user", "content": "Hi"}])
    assert completion.choices[0].message.content == "ok"
    assert len(xstream_sync_server.requests) == 2
"""


def ini(mode: str) -> str:
    return textwrap.dedent(
        f"""
        [pytest]
        asyncio_mode = {mode}
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        """
    )


def readme_example() -> str:
    section = README.split("## Testing code that uses xstream", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's testing section has no python example"
    return match[1]


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_fixtures_and_the_readme_example_in_a_users_suite(
    pytester: pytest.Pytester, mode: str
) -> None:
    example = readme_example()
    assert "import xstream\n" in example  # it runs as pasted: nothing left to add
    examples = example.count("def test_")
    assert examples >= 2
    pytester.makeini(ini(mode))
    pytester.makepyfile(
        test_users=USES_THE_FIXTURES,
        test_readme=example,
        # the example asserts something: change what the server says and it fails
        test_readme_broken=example.replace('text="Hello"', 'text="Bye"'),
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3 + examples + examples - 1, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_readme_broken.py::test_my_code_survives_a_503*"])


def test_the_sync_fixtures_need_no_pytest_asyncio(tmp_path: Path) -> None:
    # A fresh interpreter in which pytest-asyncio cannot be imported at all.
    (tmp_path / "test_it.py").write_text(
        textwrap.dedent(
            """
            from xstream.testing import Reply

            def test_sync(xstream_sync_server, xstream_sync_client):
                xstream_sync_server.enqueue(Reply(text="hi"))
                done = xstream_sync_client.chat.completions.create(model="grok-4", messages=[{"role": "user", "content": "Hi"}])
                assert done.choices[0].message.content == "hi"

            def test_async_fixture_says_what_it_needs(xstream_server):
                pass
            """
        )
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "pytest_asyncio.py").write_text(
        "raise ImportError('pytest-asyncio is not installed')"
    )
    env = {**os.environ, "PYTHONPATH": str(shadow)}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:asyncio", "-p", "no:randomly", "-q", "-rf"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert "1 passed, 1 error" in out.stdout, out.stdout + out.stderr
    assert "needs pytest-asyncio (pip install pytest-asyncio)" in out.stdout


def test_importing_xstream_does_not_import_pytest() -> None:
    code = "import sys, xstream, xstream.testing; print('pytest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
