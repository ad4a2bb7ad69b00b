"""The command line, run as a real subprocess against a local server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from xstream._cli.chat import DEMO_REASONING
from xstream._client import AsyncClient
from xstream._version import __version__
from xstream.testing import DEFAULT_TEXT, MockServer, Reply

KEY = "test-key-not-a-secret"
TEXT = "Streams arrive one delta at a time, and the CLI prints each as it comes."
RUN_SECONDS = 20.0  # generous bound for one CLI run; each normally takes about a second


def cli_env(key: str | None = KEY) -> dict[str, str]:
    """The inherited environment without any XAI_* variable, plus ``key`` if given."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("XAI_")}
    env.pop("NO_COLOR", None)
    if key is not None:
        env["XAI_API_KEY"] = key
    return env


async def start_cli(
    *args: str, env: dict[str, str], merge: bool = False
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "xstream",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge else asyncio.subprocess.PIPE,
        env=env,
    )


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    """Wait (bounded) for the process; its exit code, stdout and stderr."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), (err or b"").decode()


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await start_cli(*args, env=cli_env() if env is None else env)
    return await finish(proc)


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def assert_one_line_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 1, (out, err)
    assert "Traceback" not in err
    assert KEY not in err and KEY not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], err


# --------------------------------------------------------------------------- answers


async def test_answer_is_streamed_to_stdout_piece_by_piece() -> None:
    async with MockServer() as srv:
        srv.enqueue(Reply(text=TEXT, chunk_size=4, delay=0.05))
        proc = await start_cli("chat", "Hi", "--base-url", srv.base_url, env=cli_env())
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.read(4096), RUN_SECONDS)
        code, rest, err = await finish(proc)
    # The first read came while the answer was still being written.
    assert 0 < len(first) < len(TEXT)
    assert code == 0, err
    assert (first.decode() + rest) == TEXT + "\n"


async def test_summary_line_on_stderr() -> None:
    async with MockServer() as srv:
        srv.enqueue(Reply(text=TEXT, chunk_size=4))
        code, out, err = await run_cli("chat", "two words", "--base-url", srv.base_url)
    assert code == 0, err
    assert out == TEXT + "\n"
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    pieces = -(-len(TEXT) // 4)
    assert f"{pieces + 2} chunks" in lines[0]  # content, the finish chunk, usage
    assert "tokens/s" in lines[0]
    assert f"2 prompt + {pieces} completion tokens" in lines[0]


async def test_request_carries_the_options() -> None:
    async with MockServer(strict=False) as srv:  # any model name: sent as given
        code, _, err = await run_cli(
            "chat", "Hello", "--base-url", srv.base_url, "--model", "grok-test",
            "--system", "Be brief.", "--temperature", "0.5", "--max-tokens", "7",
        )  # fmt: skip
        request = srv.requests[-1]
    assert code == 0, err
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    body = request.json
    assert body["model"] == "grok-test"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
    ]
    assert body["temperature"] == 0.5 and body["max_tokens"] == 7
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_model_defaults_to_env_then_grok() -> None:
    async with MockServer() as srv:
        await run_cli("chat", "Hi", "--base-url", srv.base_url)
        await run_cli(
            "chat", "Hi", "--base-url", srv.base_url, env={**cli_env(), "XAI_MODEL": "m2"}
        )
        models = [r.json["model"] for r in srv.requests]
    assert models == ["grok-4", "m2"]  # the model the README uses


async def test_json_prints_the_wire_data_of_each_event_one_per_line() -> None:
    async with MockServer(strict=False) as srv:  # read raw below: no key, no checks
        srv.enqueue(Reply(text=TEXT, chunk_size=5), Reply(text=TEXT, chunk_size=5))
        code, out, err = await run_cli("chat", "Hi", "--json", "--base-url", srv.base_url)
        async with aiohttp.ClientSession() as session:  # the same script, read raw
            body = {**srv.requests[-1].json}
            async with session.post(srv.base_url + "/chat/completions", json=body) as resp:
                wire = await resp.read()
    assert code == 0, err
    lines = out.splitlines()
    assert out.endswith("\n") and lines[-1] == "[DONE]"
    sent = [
        line[len("data: ") :] for line in wire.decode().split("\n") if line.startswith("data: ")
    ]
    # byte for byte what the server sent (ids and times aside), not re-encoded
    assert [_same(line) for line in lines] == [_same(line) for line in sent]
    chunks = [json.loads(line) for line in lines[:-1]]
    assert (
        "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        == TEXT
    )
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert f"{len(lines)} events" in err


def _same(line: str) -> str:
    import re

    return re.sub(r'"created":\d+', "", re.sub(r"chatcmpl-[0-9a-f]+", "", line))


async def test_json_help_says_what_it_prints() -> None:
    code, out, _ = await run_cli("chat", "--help")
    assert code == 0
    assert "exactly as the server sent it" in " ".join(out.split())


async def test_reasoning_goes_to_stderr_only_when_asked() -> None:
    async with MockServer() as srv:
        srv.enqueue(Reply(text="42", reasoning="Let me think."), Reply(text="42", reasoning="Hmm."))
        code, out, err = await run_cli("chat", "Hi", "--reasoning", "--base-url", srv.base_url)
        _, out2, err2 = await run_cli("chat", "Hi", "--base-url", srv.base_url)
    assert code == 0 and out == out2 == "42\n"
    assert err.startswith("Let me think.\n")
    assert "Hmm." not in err2


async def test_placeholder_key_for_a_base_url_without_key() -> None:
    async with MockServer() as srv:
        srv.enqueue(Reply(text=TEXT))
        code, out, err = await run_cli("chat", "Hi", "--base-url", srv.base_url, env=cli_env(None))
        auth = srv.requests[-1].headers["Authorization"]
    assert code == 0 and out == TEXT + "\n"
    assert "placeholder key" in err
    assert auth.startswith("Bearer ") and len(auth) > len("Bearer ")


async def test_offline_demo_without_key_or_base_url() -> None:
    proc = await start_cli("chat", "What is the meaning of life?", env=cli_env(None), merge=True)
    code, merged, _ = await finish(proc)
    assert code == 0, merged
    note = merged.index("offline demo")
    answer = merged.index(DEFAULT_TEXT + "\n")
    assert note < answer  # said before the answer starts
    assert "local server" in merged and "export XAI_API_KEY=" in merged
    assert "Traceback" not in merged


async def test_offline_demo_answer_alone_on_stdout() -> None:
    code, out, err = await run_cli("chat", "Hi", env=cli_env(None))
    assert code == 0, err
    assert out == DEFAULT_TEXT + "\n"
    assert "offline demo" in err and "chunks" in err


# --------------------------------------------------------------------------- failures


async def test_refused_key_is_one_line_exit_1() -> None:
    async with MockServer() as srv:
        srv.enqueue(Reply(status=401))
        code, out, err = await run_cli("chat", "Hi", "--base-url", srv.base_url)
    assert_one_line_error(code, out, err, "401", "API key was refused")


async def test_not_found_is_one_line_exit_1() -> None:
    async with MockServer() as srv:
        srv.enqueue(Reply(status=404))
        code, out, err = await run_cli("chat", "Hi", "--base-url", srv.base_url)
    assert_one_line_error(code, out, err, "404")


async def test_connection_refused_is_one_line_exit_1() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, out, err = await run_cli("chat", "Hi", "--base-url", url, "--max-retries", "0")
    assert_one_line_error(code, out, err, "could not reach", url)


async def test_error_inside_the_stream_keeps_what_arrived() -> None:
    async with MockServer() as srv:
        srv.enqueue(Reply(text=TEXT, chunk_size=4, error_event_after=3))
        code, out, err = await run_cli(
            "chat", "Hi", "--base-url", srv.base_url, "--max-retries", "0"
        )
    assert out == TEXT[:12] + "\n"
    assert_one_line_error(code, "", err, "overloaded")


async def test_bad_base_url_is_one_line_exit_1() -> None:
    code, out, err = await run_cli("chat", "Hi", "--base-url", "localhost:1/v1")
    assert_one_line_error(code, out, err, "base_url")


@pytest.mark.parametrize("args", [[], ["chat"], ["chat", "Hi", "--temperature", "hot"]])
async def test_usage_errors_exit_2(args: list[str]) -> None:
    code, _, err = await run_cli(*args)
    assert code == 2
    assert "usage:" in err and "Traceback" not in err


async def test_ctrl_c_closes_the_stream_and_exits_130() -> None:
    async with MockServer() as srv:
        srv.enqueue(Reply(text=TEXT, stall_after=2, stall_seconds=30))
        proc = await start_cli("chat", "Hi", "--base-url", srv.base_url, env=cli_env())
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.read(4096), RUN_SECONDS)
        assert first  # the stream is open and now stalls
        await asyncio.sleep(0.2)
        assert srv.open_streams == 1
        proc.send_signal(signal.SIGINT)
        code, _, err = await finish(proc)
        await asyncio.wait_for(srv.wait_until_idle(), 5)
        assert srv.closed_by_client == 1
    assert code == 130
    assert "Traceback" not in err and "interrupted" in err


# --------------------------------------------------------------------------- other commands


async def test_version() -> None:
    code, out, _ = await run_cli("--version")
    assert code == 0
    assert out.strip() == f"xstream {__version__}"


async def test_serve_answers_requests_until_ctrl_c() -> None:
    port = free_port()
    proc = await start_cli("serve", "--port", str(port), env=cli_env())
    try:
        assert proc.stdout is not None
        banner = await asyncio.wait_for(proc.stdout.readline(), RUN_SECONDS)
        base_url = f"http://127.0.0.1:{port}/v1"
        assert base_url in banner.decode()
        page = (await asyncio.wait_for(proc.stdout.readline(), RUN_SECONDS)).decode()
        # with XAI_API_KEY set, the chat page asks the real API (not reached here)
        assert f"chat page on http://127.0.0.1:{port}/ (answers from https://api.x.ai/v1)" in page
        async with AsyncClient(KEY, base_url=base_url) as client:
            completion = await client.chat.completions.create(
                model="grok-4", messages=[{"role": "user", "content": "Hi"}]
            )
        assert completion.choices[0].message.content == DEFAULT_TEXT
    finally:
        proc.send_signal(signal.SIGINT)
        code, _, err = await finish(proc)
    assert code == 0 and "Traceback" not in err


async def test_serve_on_a_taken_port_is_one_line_exit_1() -> None:
    async with MockServer() as srv:
        code, out, err = await run_cli("serve", "--port", str(srv.port))
    assert_one_line_error(code, out, err, "cannot serve", str(srv.port))


async def test_the_responses_api_streams_offline_too() -> None:
    code, out, err = await run_cli("chat", "--api", "responses", "Hi", env=cli_env(None))
    assert code == 0, err
    assert out == DEFAULT_TEXT + "\n"
    assert "offline demo" in err and "events" in err and "output tokens" in err


async def test_the_responses_api_streams_over_a_websocket_offline() -> None:
    code, out, err = await run_cli("chat", "--api", "responses", "--ws", "Hi", env=cli_env(None))
    assert code == 0, err
    assert out == DEFAULT_TEXT + "\n"
    assert "events" in err and "output tokens" in err


README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


async def test_the_readme_responses_example_runs_offline_as_pasted() -> None:
    readme = README
    section = readme[readme.index("## The Responses API") :]
    code_block = section.split("```python\n", 1)[1].split("```", 1)[0]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code_block, env=cli_env(None),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert DEFAULT_TEXT in out.decode() and "turn 2:" in out.decode()


# --------------------------------------------------------------------------- the demo, start-up


def test_the_seed_loop_against_the_demo_server_prints_the_answer_and_no_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import argparse

    from xstream import Client as OpenAI
    from xstream._cli.chat import demo_reply

    reply = demo_reply(argparse.Namespace(reasoning=False))
    with MockServer.running_in_thread(default=reply) as srv:
        client = OpenAI(api_key=KEY, base_url=srv.base_url)
        stream = client.chat.completions.create(
            model="grok-4",
            messages=[{"role": "user", "content": "What is the meaning of life?"}],
            stream=True,
        )
        for chunk in stream:  # the seed's loop, exactly: no `or ""`
            print(chunk.choices[0].delta.content, end="")
        client.close()
    printed = capsys.readouterr().out
    assert printed == DEFAULT_TEXT and "None" not in printed


async def test_the_demo_honours_max_tokens() -> None:
    code, out, err = await run_cli("chat", "Hi", "--max-tokens", "5", env=cli_env(None))
    assert code == 0, err
    assert out == DEFAULT_TEXT[:20] + "\n"  # five deltas of four characters
    assert "+ 5 completion tokens" in err


async def test_the_demo_thinks_first_with_reasoning() -> None:
    thinking = -(-len(DEMO_REASONING) // 4)  # deltas of four characters; one more: an answer's
    tokens = str(thinking + 1)
    code, out, err = await run_cli(
        "chat", "Hi", "--reasoning", "--max-tokens", tokens, env=cli_env(None)
    )
    assert code == 0, err
    assert out == DEFAULT_TEXT[:4] + "\n"  # the answer alone on stdout
    assert err.splitlines()[2] == DEMO_REASONING  # after the two demo notes
    _, out, quiet = await run_cli("chat", "Hi", "--max-tokens", tokens, env=cli_env(None))
    assert DEMO_REASONING not in quiet and out == DEFAULT_TEXT[: 4 * (thinking + 1)] + "\n"


async def test_help_loads_nothing_heavy() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-X", "importtime", "-m", "xstream", "--help",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env(),
    )  # fmt: skip
    code, out, err = await finish(proc)
    assert code == 0 and "chat" in out
    loaded = {line.split("|")[-1].strip() for line in err.splitlines()}
    assert not {m for m in loaded if m.split(".")[0] in {"aiohttp", "msgspec", "anyio", "asyncio"}}
    assert not {m for m in loaded if m.startswith("xstream.") and m != "xstream._version"} - {
        "xstream.__main__",
        "xstream._cli",
        "xstream._cli.main",
    }


def _startup_floor() -> float:
    """How long this machine takes to start Python and reach xstream's code at all:
    a Ctrl-C before that meets the interpreter, not us."""
    import subprocess
    import time

    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import runpy, xstream"], check=True, env=cli_env())
        best = min(best, time.perf_counter() - started)
    return best


async def test_ctrl_c_during_start_up_is_one_line_and_130() -> None:
    floor = _startup_floor()
    for delay in (0.05, 0.1, 0.2):
        wait = max(delay, 1.5 * floor)
        proc = await start_cli("chat", "Hi", env=cli_env(None))  # the demo: a server to start
        await asyncio.sleep(wait)
        proc.send_signal(signal.SIGINT)
        code, _, err = await finish(proc)
        assert "Traceback" not in err, (wait, err)
        assert code == 130, (wait, code, err)
        assert err.strip().splitlines()[-1].startswith("xstream: interrupted"), err
