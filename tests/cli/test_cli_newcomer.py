"""What a newcomer relies on from ``xstream chat`` (issue 27): a deadline they set,
a live status line on a terminal (and never in a pipe), why an answer ended early,
numbers checked, reasoning summaries, the prompt from stdin, the key's hint in
the command line's words. Terminal behaviour runs through a real pty."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.cli.test_cli import KEY, TEXT, cli_env, run_cli
from xstream.testing import DEFAULT_TEXT, MockServer, Reply

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Tty:
    """``python -m xstream ...`` with its stderr on a pseudo-terminal (stdout a pipe,
    as in ``xstream chat ... > answer.txt`` typed in a terminal)."""

    def __init__(self, *args: str, env: dict[str, str], stdout_tty: bool = False) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xstream", *args],
            stdin=subprocess.DEVNULL,
            stdout=slave if stdout_tty else subprocess.PIPE,
            stderr=slave,
            env=env,
        )
        os.close(slave)
        self.screen = b""

    def read_until(self, needle: bytes, timeout: float = 20) -> bytes:
        """Read the terminal until ``needle`` shows (or the process is gone)."""
        deadline = time.monotonic() + timeout
        while needle not in self.screen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:  # EIO: the other end closed
                    break
                if not data:
                    break
                self.screen += data
        return self.screen

    def finish(self, timeout: float = 20) -> tuple[int, str, str]:
        """The exit code, stdout and everything the terminal showed."""
        out = b""
        if self.proc.stdout is not None:
            out = self.proc.stdout.read()
            self.proc.stdout.close()
        code = self.proc.wait(timeout)
        self.read_until(b"\x00never\x00", timeout=0.5)
        os.close(self.master)
        return code, out.decode(), self.screen.decode()


def shown_lines(screen: str) -> list[str]:
    """What a terminal leaves on screen: each ``\\r`` and erase-line rewrites the line."""
    lines = []
    for raw in screen.replace("\r\n", "\n").split("\n"):
        line = raw.replace("\x1b[2K", "").split("\r")[-1]
        lines.append(ANSI.sub("", line))
    return [line for line in lines if line]


# --------------------------------------------------------------------------- the status line


async def test_the_status_line_counts_the_wait_on_a_terminal_and_is_wiped_once_the_answer_starts() -> (
    None
):
    async with MockServer() as srv:
        srv.enqueue(Reply(text="Hello there", first_delay=1.2))
        tty = Tty("chat", "Hi", "--base-url", srv.base_url, "--model", "grok-4", env=cli_env())
        await asyncio.to_thread(tty.read_until, b"waiting for grok-4: 0.")
        code, out, screen = await asyncio.to_thread(tty.finish)
    assert code == 0 and out == "Hello there\n"
    seen = ANSI.sub("", screen)
    assert re.search(r"xstream: waiting for grok-4: 0\.\d s", seen)
    assert re.search(r"waiting for grok-4: 1\.\d s", seen), seen  # it counts while waiting
    # and nothing of it is left on the screen once the answer came
    assert not [line for line in shown_lines(screen) if "waiting for" in line], screen


async def test_the_status_line_shows_reasoning_tokens_and_retries() -> None:
    async with MockServer() as srv:
        srv.enqueue(
            Reply(status=503, headers={"retry-after-ms": "10"}),
            Reply(text="42", reasoning="hmm " * 20, chunk_size=4, delay=0.05),
        )
        tty = Tty("chat", "Hi", "--base-url", srv.base_url, env=cli_env())
        await asyncio.to_thread(tty.read_until, b"reasoning tokens")
        code, out, screen = await asyncio.to_thread(tty.finish)
    assert code == 0 and out == "42\n"
    seen = ANSI.sub("", screen)
    # the demo-like server counts usage only at the end (include_usage): estimated, "~"
    assert re.search(r"~\d+ reasoning tokens, 1 retry", seen), seen


async def test_no_status_line_in_a_pipe_or_with_json() -> None:
    async with MockServer() as srv:
        srv.enqueue(Reply(text="Hello", first_delay=0.5))
        code, out, err = await run_cli("chat", "Hi", "--base-url", srv.base_url)
        assert code == 0 and out == "Hello\n"
        assert "waiting for" not in err and "\r" not in err
        srv.enqueue(Reply(text="Hello", first_delay=0.5))
        tty = Tty("chat", "Hi", "--json", "--base-url", srv.base_url, env=cli_env())
        code, out, screen = await asyncio.to_thread(tty.finish)
    assert code == 0 and out.splitlines()[-1] == "[DONE]"
    assert "waiting for" not in screen


async def test_ctrl_c_while_waiting_is_one_line_and_leaves_no_status() -> None:
    async with MockServer() as srv:
        srv.enqueue(Reply(text="never", first_delay=30))
        tty = Tty("chat", "Hi", "--base-url", srv.base_url, env=cli_env())
        await asyncio.to_thread(tty.read_until, b"waiting for")
        tty.proc.send_signal(signal.SIGINT)
        code, _, screen = await asyncio.to_thread(tty.finish)
    assert code == 130
    lines = shown_lines(screen)
    assert lines == ["xstream: interrupted: the stream was closed"], screen
    assert "Traceback" not in screen


# --------------------------------------------------------------------------- --timeout


async def test_timeout_fails_a_silent_server_in_seconds_saying_the_attempts() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await reader.read()  # until the client leaves
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        code, out, err = await run_cli(
            "chat", "Hi", "--base-url", f"http://127.0.0.1:{port}/v1",
            "--timeout", "0.5", "--max-retries", "1",
        )  # fmt: skip
        took = time.monotonic() - started
    finally:
        server.close()
        await server.wait_closed()
    assert code == 1 and out == ""
    assert took < 8
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: no response from") and "response deadline of 0.5 s" in line
    assert re.search(r"\(2 attempts over \d+\.\d s\)", line), line


# --------------------------------------------------------------------------- why it ended


async def test_a_length_cut_is_said_on_stderr() -> None:
    code, out, err = await run_cli("chat", "Hi", "--max-tokens", "5", env=cli_env(None))
    assert code == 0 and out == DEFAULT_TEXT[:20] + "\n"
    assert 'cut at the token limit (finish_reason "length"' in err


async def test_reasoning_that_used_every_token_says_so() -> None:
    code, out, err = await run_cli(
        "chat", "Hi", "--reasoning", "--max-tokens", "3", env=cli_env(None)
    )
    assert code == 0 and out == ""
    assert "no answer text came before it (3 tokens went to reasoning)" in err


async def test_the_content_filter_is_said() -> None:
    async with MockServer() as srv:
        srv.enqueue(Reply(text="Hel", finish_reason="content_filter"))
        code, out, err = await run_cli("chat", "Hi", "--base-url", srv.base_url)
    assert code == 0 and out == "Hel\n"
    assert "stopped by the content filter" in err


async def test_a_complete_answer_says_nothing_of_the_kind() -> None:
    async with MockServer() as srv:
        code, _, err = await run_cli("chat", "Hi", "--base-url", srv.base_url)
    assert code == 0 and "cut" not in err and "content filter" not in err


@pytest.mark.parametrize("fault", [{"no_done": True}, {"drop_after": 3}], ids=["no-done", "drop"])
async def test_a_cut_stream_is_said_and_exits_1(fault: dict[str, object]) -> None:
    async with MockServer() as srv:
        srv.enqueue(Reply(text=TEXT, **fault))  # type: ignore[arg-type]
        code, out, err = await run_cli("chat", "Hi", "--base-url", srv.base_url, "--max-retries", "0")
    assert code == 1 and out.endswith("\n") and out.strip()
    assert err.strip().splitlines()[-1].startswith("error: the answer was cut: ")


# --------------------------------------------------------------------------- numbers, stdin, hints


@pytest.mark.parametrize(
    "args",
    [
        ["--max-tokens", "-3"],
        ["--max-tokens", "0"],
        ["--max-tokens", "2.5"],
        ["--temperature", "-1"],
        ["--temperature", "2.5"],
        ["--temperature", "nan"],
        ["--max-retries", "-1"],
        ["--timeout", "0"],
        ["--timeout", "-2"],
    ],
)
async def test_numbers_out_of_range_are_usage_errors(args: list[str]) -> None:
    code, out, err = await run_cli("chat", "Hi", *args, env=cli_env(None))
    assert code == 2 and out == ""
    assert f"argument {args[0]}" in err and "Traceback" not in err


async def test_serve_checks_its_numbers_too() -> None:
    for args in (["--delay", "-1"], ["--port", "70000"]):
        code, _, err = await run_cli("serve", *args)
        assert code == 2 and f"argument {args[0]}" in err


async def test_the_prompt_is_read_from_stdin_with_a_dash() -> None:
    async with MockServer() as srv:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "xstream", "chat", "-", "--base-url", srv.base_url,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=cli_env(),
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(b"What is 6 x 7?\n"), 20)
        assert proc.returncode == 0, err
        assert out.decode() == DEFAULT_TEXT + "\n"
        assert srv.requests[-1].json["messages"][-1]["content"] == "What is 6 x 7?"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "xstream", "chat", "-", "--base-url", srv.base_url,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=cli_env(),
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(b"  \n"), 20)
    assert proc.returncode == 2 and b"empty" in err


async def test_a_refused_key_hint_names_the_variable_not_a_python_argument() -> None:
    async with MockServer() as srv:
        srv.enqueue(Reply(status=401))
        code, _, err = await run_cli("chat", "Hi", "--base-url", srv.base_url)
    assert code == 1
    assert "XAI_API_KEY" in err and "api_key=" not in err and KEY not in err


async def test_responses_reasoning_summaries_are_printed_with_reasoning() -> None:
    code, out, err = await run_cli(
        "chat", "Hi", "--api", "responses", "--reasoning", env=cli_env(None)
    )
    assert code == 0 and "Looking it up, then answering." not in out
    assert "Looking it up, then answering." in err
    _, _, quiet = await run_cli("chat", "Hi", "--api", "responses", env=cli_env(None))
    assert "Looking it up" not in quiet
