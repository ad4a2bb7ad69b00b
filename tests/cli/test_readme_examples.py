"""The README's async and sync examples print exactly the answer, ended by a
newline, also when the reply thinks first (reasoning deltas without content) and
when usage comes in a chunk of its own (``include_usage``: no choices). Run as
pasted, against the built-in server (issue 27)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from xstream.testing import DEFAULT_TEXT, MockServer, Reply

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def example(section: str) -> str:
    body = README.split(f"\n## {section}\n", 1)[1]
    return body.split("```python\n", 1)[1].split("```", 1)[0]


def with_usage_chunk(code: str) -> str:
    assert code.count("stream=True,") == 1
    return code.replace("stream=True,", 'stream=True, stream_options={"include_usage": True},')


@pytest.mark.parametrize("section", ["Async", "Sync"])
@pytest.mark.parametrize("usage_chunk", [False, True], ids=["usage-in-chunks", "include-usage"])
@pytest.mark.parametrize("reasoning", [None, "Thinking it over first."], ids=["plain", "reasoning"])
async def test_the_example_prints_exactly_the_answer(
    section: str, usage_chunk: bool, reasoning: str | None
) -> None:
    code = example(section)
    if usage_chunk:
        code = with_usage_chunk(code)
    async with MockServer(default=Reply(reasoning=reasoning)) as srv:
        code = code.replace("https://api.x.ai/v1", srv.base_url)  # the sync one names it
        env = {**os.environ, "XAI_API_KEY": "xai-test", "XAI_BASE_URL": srv.base_url}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-W", "error", "-c", code, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        asked = srv.requests[-1].json
    assert proc.returncode == 0, err.decode()
    assert err == b""
    assert out.decode() == DEFAULT_TEXT + "\n"
    assert ("stream_options" in asked) is usage_chunk
