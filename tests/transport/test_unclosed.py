"""A client never closed, in the patterns the OpenAI SDK allows, prints nothing at
exit: no "Unclosed client session", no "Unclosed connector", no unclosed
transport, even with every warning an error (issue 27)."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap

import pytest

from xstream.testing import MockServer

ASYNC_MODULE_LEVEL = """
import asyncio, gc, xstream
client = xstream.AsyncClient()  # built outside the loop, as the OpenAI SDK's examples do

async def main():
    stream = await client.chat.completions.create(
        model="grok-4", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    async for chunk in stream:
        if chunk.choices:
            print(chunk.choices[0].delta.content or "", end="")
    print()

asyncio.run(main())
gc.collect()
"""

ASYNC_IN_MAIN_BROKEN_OFF = """
import asyncio, gc, xstream

async def main():
    client = xstream.AsyncClient()  # never closed
    stream = await client.chat.completions.create(
        model="grok-4", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    async for chunk in stream:
        print("first chunk")
        break  # and the stream left open too

asyncio.run(main())
gc.collect()
"""

ASYNC_DROPPED_WHILE_THE_LOOP_RUNS = """
import asyncio, gc, xstream

async def ask():
    client = xstream.AsyncClient()
    done = await client.chat.completions.create(
        model="grok-4", messages=[{"role": "user", "content": "hi"}]
    )
    print(done.choices[0].message.content)

async def main():
    await ask()
    gc.collect()  # the client is garbage now, while the loop still runs
    await asyncio.sleep(0.1)

asyncio.run(main())
"""

SYNC_NOT_CLOSED = """
from xstream import Client as OpenAI
client = OpenAI()
for chunk in client.chat.completions.create(
    model="grok-4", messages=[{"role": "user", "content": "hi"}], stream=True
):
    if chunk.choices:
        print(chunk.choices[0].delta.content or "", end="")
print()
"""


@pytest.mark.parametrize(
    "script",
    [
        ASYNC_MODULE_LEVEL,
        ASYNC_IN_MAIN_BROKEN_OFF,
        ASYNC_DROPPED_WHILE_THE_LOOP_RUNS,
        SYNC_NOT_CLOSED,
    ],
    ids=["async-module-level", "async-break", "async-dropped", "sync"],
)
async def test_an_unclosed_client_warns_nothing(server: MockServer, script: str) -> None:
    env = {
        **os.environ,
        "XAI_API_KEY": "xai-test",
        "XAI_BASE_URL": server.base_url,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        "-c",
        textwrap.dedent(script),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert out.strip(), "the script got no answer"
    assert err.decode() == ""
