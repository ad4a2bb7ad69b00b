"""The chat page of ``xstream serve``, in a real browser: headless Chromium
(Debian's ``chromium``), driven over the Chrome DevTools Protocol with aiohttp's
websocket client. Run with ``nox -s browser``; the normal suite deselects these
(marker ``browser``), so the README's test command needs no browser.

The first test types a prompt into the page and sends it, watches the answer
arrive in pieces, checks the whole text, and saves a screenshot
(``$XSTREAM_SCREENSHOT``, else the test's tmp_path). The second leaves the page
while an answer streams and checks that the upstream stream was closed at once.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from xstream._cli.page import ChatPageServer
from xstream.testing import DEFAULT_TEXT, Reply

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PROMPT = "What is the meaning of life?"
WAIT = 20.0  # seconds, for any one step


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def page_url() -> AsyncIterator[str]:
    """``xstream serve`` as a user runs it (no XAI_* variables: the built-in upstream)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XAI_")}
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "xstream", "serve", "--port", str(port),
        stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        lines = [await asyncio.wait_for(proc.stdout.readline(), WAIT) for _ in range(2)]
        assert f"chat page on http://127.0.0.1:{port}/" in lines[1].decode(), lines
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), WAIT)


class DevTools:
    """A minimal Chrome DevTools Protocol client on one page target."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            data = json.loads(message.data)
            future = self._waiting.pop(data.get("id", -1), None)
            if future is not None:
                future.set_result(data)
            elif "method" in data:
                self.events.put_nowait(data)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        await self._ws.send_json({"id": number, "method": method, "params": params})
        reply = await asyncio.wait_for(future, WAIT)
        assert "error" not in reply, reply
        result: dict[str, Any] = reply["result"]
        return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def wait_for_event(self, method: str) -> dict[str, Any]:
        while True:
            event = await asyncio.wait_for(self.events.get(), WAIT)
            if event["method"] == method:
                return event

    async def click(self, selector: str) -> None:
        box = await self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            await self.call(
                "Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"],
                button="left", clickCount=1,
            )  # fmt: skip

    async def close(self) -> None:
        self._reader.cancel()
        await self._ws.close()


@pytest.fixture
async def devtools(tmp_path: Path) -> AsyncIterator[DevTools]:
    if CHROMIUM is None:
        pytest.fail("no chromium: `apt-get install -y chromium` (nox -s browser does it)")
    profile = tmp_path / "profile"
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
        "--force-device-scale-factor=1", "--window-size=900,720",
        "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
        f"--user-data-dir={profile}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + WAIT
        while not (port_file.exists() and port_file.read_text().strip()):
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            await asyncio.sleep(0.1)
        port = port_file.read_text().split()[0]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = await resp.json()
            (target,) = [t for t in targets if t["type"] == "page"]
            ws = await session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
            tools = DevTools(ws)
            try:
                yield tools
            finally:
                await tools.close()
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), WAIT)


async def test_the_chat_page_streams_an_answer(
    page_url: str, devtools: DevTools, tmp_path: Path
) -> None:
    await devtools.call("Page.enable")
    await devtools.call("Page.navigate", url=page_url)
    await devtools.wait_for_event("Page.loadEventFired")
    assert await devtools.evaluate("document.title") == "xstream chat"
    assert await devtools.evaluate("document.querySelector('label[for=prompt]').textContent")

    # type the prompt, as a person would, and press Send
    await devtools.evaluate("document.getElementById('prompt').focus()")
    await devtools.call("Input.insertText", text=PROMPT)
    await devtools.click("#send")

    seen: list[str] = []  # the answer's text each time we looked, while it streamed
    deadline = time.monotonic() + WAIT
    while (state := await devtools.evaluate("document.body.dataset.state")) != "done":
        assert state in ("idle", "streaming"), state
        assert time.monotonic() < deadline, f"no answer; page text: {seen[-1:]}"
        text = await devtools.evaluate(
            "document.querySelector('#log .assistant .text')?.textContent ?? ''"
        )
        if text and (not seen or text != seen[-1]):
            seen.append(text)
        await asyncio.sleep(0.02)

    answer = await devtools.evaluate("document.querySelector('#log .assistant .text').textContent")
    assert answer == DEFAULT_TEXT
    question = await devtools.evaluate("document.querySelector('#log .user .text').textContent")
    assert question == PROMPT
    # it arrived in pieces: partial texts, each a beginning of the whole
    assert len(seen) >= 3 and all(DEFAULT_TEXT.startswith(t) for t in seen), seen[:5]
    assert await devtools.evaluate("document.getElementById('status').textContent") == "Done."

    shot = await devtools.call("Page.captureScreenshot", format="png")
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    path = Path(os.environ.get("XSTREAM_SCREENSHOT") or tmp_path / "chat-page.png")
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_bytes, png)
    print(f"screenshot: {path} ({len(png)} bytes); {len(seen)} partial texts seen")


async def ask(devtools: DevTools, url: str, prompt: str) -> None:
    await devtools.call("Page.enable")
    await devtools.call("Page.navigate", url=url)
    await devtools.wait_for_event("Page.loadEventFired")
    await devtools.evaluate("document.getElementById('prompt').focus()")
    await devtools.call("Input.insertText", text=prompt)
    await devtools.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter",
                        windowsVirtualKeyCode=13, text="\r")  # fmt: skip
    await devtools.call("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter",
                        windowsVirtualKeyCode=13)  # fmt: skip


@pytest.mark.parametrize("how", ["navigate-away", "close-tab"])
async def test_leaving_the_page_closes_the_upstream_stream_at_once(
    devtools: DevTools, how: str
) -> None:
    async with ChatPageServer() as srv:
        assert srv.builtin is not None
        srv.builtin.default = Reply(chunks=3000, delay=0.01)  # 30 s if read to the end
        await ask(devtools, srv.page_url, "Tell me everything.")  # sent with Enter
        deadline = time.monotonic() + WAIT
        while len(await devtools.evaluate(
            "document.querySelector('#log .assistant .text')?.textContent ?? ''"
        )) < 40:  # fmt: skip
            assert time.monotonic() < deadline, "no answer arrived"
            await asyncio.sleep(0.02)
        assert srv.builtin.open_streams == 1
        left = time.monotonic()
        if how == "close-tab":
            await devtools.call("Page.close")
        else:  # the person goes elsewhere
            await devtools.call("Page.navigate", url="about:blank")
        await asyncio.wait_for(srv.builtin.wait_until_idle(), 5.0)
        took = time.monotonic() - left
        assert srv.builtin.closed_by_client == 1
        assert took < 1.0, took
        print(f"{how}: upstream closed {took * 1000:.0f} ms after the page was left")


async def wait_for_text(devtools: DevTools, at_least: int) -> str:
    deadline = time.monotonic() + WAIT
    while True:
        text: str = await devtools.evaluate(
            "document.querySelector('#log li.assistant:last-child .text')?.textContent ?? ''"
        )
        if len(text) >= at_least:
            return text
        assert time.monotonic() < deadline, "no answer arrived"
        await asyncio.sleep(0.02)


async def test_stop_ends_the_answer_and_closes_the_upstream_stream(devtools: DevTools) -> None:
    async with ChatPageServer() as srv:
        assert srv.builtin is not None
        srv.builtin.default = Reply(chunks=3000, delay=0.01)  # 30 s if read to the end
        await ask(devtools, srv.page_url, "Tell me everything.")
        await wait_for_text(devtools, 40)
        assert await devtools.evaluate("document.getElementById('stop').hidden") is False
        assert srv.builtin.open_streams == 1
        pressed = time.monotonic()
        await devtools.click("#stop")
        await asyncio.wait_for(srv.builtin.wait_until_idle(), 5.0)
        took = time.monotonic() - pressed
        assert srv.builtin.closed_by_client == 1 and took < 1.0, took
        deadline = time.monotonic() + WAIT
        while await devtools.evaluate("document.body.dataset.state") != "stopped":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert await devtools.evaluate("document.getElementById('status').textContent") == "Stopped."
        assert await devtools.evaluate("document.getElementById('stop').hidden") is True
        assert await devtools.evaluate("document.getElementById('send').disabled") is False
        kept = await devtools.evaluate("document.querySelector('#log .assistant .text').textContent")
        assert len(kept) >= 40 and "Error" not in kept  # what arrived stays


async def test_the_page_follows_the_answer_down(devtools: DevTools) -> None:
    async with ChatPageServer() as srv:
        assert srv.builtin is not None
        srv.builtin.default = Reply(chunks=600, delay=0.002)  # far longer than the window
        await ask(devtools, srv.page_url, "A long one, please.")
        deadline = time.monotonic() + WAIT
        while await devtools.evaluate("document.body.dataset.state") != "done":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        tall = await devtools.evaluate("document.documentElement.scrollHeight")
        view = await devtools.evaluate("window.innerHeight")
        assert tall > 2 * view  # the answer ran well past the window
        bottom = await devtools.evaluate("window.scrollY + window.innerHeight")
        assert bottom >= tall - 120, (bottom, tall)  # and the page followed it
