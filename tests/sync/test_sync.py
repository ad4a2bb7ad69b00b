"""xstream.Client: the sync facade, over a real server running on its own thread."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import xstream
from tests.conftest import KEY
from xstream.testing import DEFAULT_TEXT, MockServer, Reply

MESSAGES = [
    {"role": "system", "content": "You are Grok, a chatbot inspired by the Hitchhikers Guide."},
    {"role": "user", "content": "What is the meaning of life, the universe, and everything?"},
]


@pytest.fixture
def server() -> Iterator[MockServer]:  # overrides the async fixture: sync code blocks its loop
    with MockServer.running_in_thread(strict=False) as srv:
        yield srv


@pytest.fixture
def client(server: MockServer) -> Iterator[xstream.Client]:
    with xstream.Client(api_key=KEY, base_url=server.base_url) as c:
        yield c


def wait_idle(server: MockServer, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while server.open_streams and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.open_streams == 0


def test_the_seed_example_runs_unchanged_with_the_import_swapped(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from xstream import Client as OpenAI

    XAI_API_KEY = KEY
    client = OpenAI(api_key=XAI_API_KEY, base_url=server.base_url)
    stream = client.chat.completions.create(
        model="grok-2-latest",
        messages=MESSAGES,
        stream=True,
    )
    for chunk in stream:
        print(chunk.choices[0].delta.content or "", end="", flush=True)
    client.close()
    assert capsys.readouterr().out == DEFAULT_TEXT


def test_non_streaming_and_helpers(client: xstream.Client) -> None:
    completion = client.chat.completions.create(model="grok-2-latest", messages=MESSAGES)
    assert completion.choices[0].message.content == DEFAULT_TEXT
    stream = client.chat.completions.create(model="grok-2-latest", messages=MESSAGES, stream=True)
    assert "".join(stream.text_stream) == DEFAULT_TEXT
    stream = client.chat.completions.create(model="grok-2-latest", messages=MESSAGES, stream=True)
    chunks = iter(stream)  # held: a pause, not a loop left, so the rest is read
    next(chunks)
    assert stream.get_final_completion().choices[0].message.content == DEFAULT_TEXT
    assert not stream.left_early
    assert stream.done


async def test_works_inside_a_running_event_loop(client: xstream.Client) -> None:
    asyncio.get_running_loop()  # this test body runs on a loop, like a notebook cell
    stream = client.chat.completions.create(model="grok-2-latest", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == DEFAULT_TEXT


def test_two_threads_stream_at_once_on_one_client(
    client: xstream.Client, server: MockServer
) -> None:
    server.default = Reply(delay=0.002)
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            stream = client.chat.completions.create(
                model="grok-2-latest", messages=MESSAGES, stream=True
            )
            results.append("".join(c.choices[0].delta.content or "" for c in stream))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert results == [DEFAULT_TEXT] * 4


def test_leaving_the_loop_early_releases_the_connection(
    client: xstream.Client, server: MockServer
) -> None:
    server.enqueue(Reply(chunks=10_000, delay=0.001))
    stream = client.chat.completions.create(model="grok-2-latest", messages=MESSAGES, stream=True)
    for _ in stream:
        break
    wait_idle(server)
    # and the client goes on working
    stream = client.chat.completions.create(model="grok-2-latest", messages=MESSAGES, stream=True)
    assert "".join(stream.text_stream) == DEFAULT_TEXT


def test_with_block_releases(client: xstream.Client, server: MockServer) -> None:
    server.enqueue(Reply(chunks=10_000, delay=0.001))
    with client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
        next(iter(stream))
    wait_idle(server)


def test_errors_are_typed_and_chunks_come_first(client: xstream.Client, server: MockServer) -> None:
    server.enqueue(Reply(status=401))
    with pytest.raises(xstream.AuthenticationError):
        client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    server.enqueue(Reply(drop_after=3))
    got: list[Any] = []
    with pytest.raises(xstream.StreamDisconnectedError):
        for chunk in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            got.append(chunk)
    assert len(got) == 3


def test_no_thread_is_left_after_close(server: MockServer) -> None:
    before = set(threading.enumerate())
    client = xstream.Client(api_key=KEY, base_url=server.base_url)
    "".join(client.chat.completions.create(model="m", messages=MESSAGES, stream=True).text_stream)
    assert len(set(threading.enumerate()) - before) == 1  # the private loop thread
    client.close()
    client.close()  # idempotent
    assert set(threading.enumerate()) - before == set()


def run_script(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_an_unclosed_client_does_not_block_exit_and_warns_nothing() -> None:
    result = run_script(
        """
        import warnings, gc
        warnings.simplefilter("always", ResourceWarning)
        import xstream
        from xstream.testing import MockServer
        with MockServer.running_in_thread(strict=False) as srv:
            client = xstream.Client(api_key="k", base_url=srv.base_url)
            stream = client.chat.completions.create(model="m", messages=[], stream=True)
            print("".join(stream.text_stream)[:5])
            del client, stream
            gc.collect()
            client = xstream.Client(api_key="k", base_url=srv.base_url)
            client.chat.completions.create(model="m", messages=[])
        print("exiting")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "exiting"
    assert result.stderr == ""  # as the OpenAI SDK's client: closed quietly (issue 27)


def test_ctrl_c_during_a_stream_closes_it_and_the_client_stays_usable() -> None:
    code = """
        import os, signal, threading, time
        import xstream
        from xstream.testing import MockServer, Reply
        with MockServer.running_in_thread(strict=False) as srv:
            srv.enqueue(Reply(stall_after=2, stall_seconds=30))
            with xstream.Client(api_key="k", base_url=srv.base_url) as client:
                stream = client.chat.completions.create(model="m", messages=[], stream=True)
                it = iter(stream)
                next(it); next(it)
                threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
                try:
                    next(it)
                except KeyboardInterrupt:
                    print("interrupted")
                deadline = time.monotonic() + 5
                while srv.open_streams and time.monotonic() < deadline:
                    time.sleep(0.01)
                print("open streams:", srv.open_streams)
                print(len("".join(client.chat.completions.create(
                    model="m", messages=[], stream=True).text_stream)) > 0)
    """
    result = run_script(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["interrupted", "open streams: 0", "True"]


FAULTS = [
    (Reply(drop_after=5), xstream.StreamDisconnectedError, 5),
    (Reply(no_done=True), xstream.IncompleteStreamError, None),
    (Reply(malformed_after=4), xstream.MalformedEventError, 4),
    (Reply(invalid_utf8_after=3), xstream.InvalidUTF8Error, 3),
    (Reply(error_event_after=2), xstream.OverloadedError, 2),
    (Reply(oversized_event_bytes=100_000), xstream.EventTooLargeError, 1),
    (Reply(stall_after=2, stall_seconds=30), xstream.IdleTimeoutError, 2),
]


@pytest.mark.parametrize(
    ("reply", "error", "delivered"),
    FAULTS,
    ids=["drop", "no-done", "malformed", "invalid-utf8", "error-event", "oversized", "stall"],
)
def test_each_fault_raises_typed_after_every_chunk_before_it(
    server: MockServer, reply: Reply, error: type[Exception], delivered: int | None
) -> None:
    with xstream.Client(
        api_key=KEY,
        base_url=server.base_url,
        max_event_bytes=10_000,
        timeout=xstream.Timeout(idle=0.3),
    ) as client:
        clean = [
            c.choices[0].delta.content
            for c in client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        ]
        server.enqueue(reply)
        got: list[Any] = []
        with pytest.raises(error):
            for chunk in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                got.append(chunk.choices[0].delta.content)
        assert got == clean[: len(clean) if delivered is None else delivered]
        wait_idle(server)
        # the client stays usable
        again = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert "".join(again.text_stream) == DEFAULT_TEXT


@pytest.mark.parametrize(
    ("messages", "shown"),
    [
        ("hi", "str: 'hi'"),
        (None, "NoneType: None"),
        ({"role": "user", "content": "hi"}, "dict: {'role'"),
        (b"hi", "bytes: b'hi'"),
        (42, "int: 42"),
    ],
)
def test_messages_are_checked_before_anything_is_sent(
    client: xstream.Client, server: MockServer, messages: Any, shown: str
) -> None:
    for stream in (True, False):
        with pytest.raises(TypeError, match="messages must be a list") as info:
            client.chat.completions.create(model="m", messages=messages, stream=stream)
        assert shown in str(info.value)
    assert server.requests == []


def test_the_seed_loop_exactly_prints_the_answer_and_no_none(
    server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # The seed's own loop, unguarded: every chunk of the built-in server's default
    # (xAI) layout has a content delta, so nothing prints "None".
    from xstream import Client as OpenAI

    with OpenAI(api_key=KEY, base_url=server.base_url) as client:
        stream = client.chat.completions.create(
            model="grok-2-latest", messages=MESSAGES, stream=True
        )
        for chunk in stream:
            print(chunk.choices[0].delta.content, end="")
        assert stream.stats.usage is not None and stream.stats.usage.completion_tokens > 0
    assert capsys.readouterr().out == DEFAULT_TEXT


def test_final_completion_after_break_is_what_the_loop_saw(
    client: xstream.Client, server: MockServer
) -> None:
    server.enqueue(Reply(text="abcdefghij", chunk_size=1, chunks=5000))
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    seen = []
    for chunk in stream:
        seen.append(chunk.choices[0].delta.content)
        if len(seen) == 42:
            break
    assert stream.stats.chunks > 42
    completion = stream.get_final_completion()
    assert completion.choices[0].message.content == "".join(seen)
    assert completion.choices[0].finish_reason is None and stream.left_early
    whole = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert [c for c in whole] and not whole.left_early
    assert whole.get_final_completion().choices[0].message.content == DEFAULT_TEXT


# ------------------------------------------------- one hop, many slices

_CHUNK = b'data: {"id":"a","model":"m","created":1,"choices":[{"index":0,"delta":{"content":"%d "}}]}\n\n'


@contextlib.contextmanager
def _raw_server_in_thread(body: bytes) -> Iterator[str]:
    """Serve ``body`` in one write, from a loop of its own (the sync client blocks ours)."""
    from aiohttp import web

    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(body)
        await response.write_eof()
        return response

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port.append(runner.addresses[0][1])
        return runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner = loop.run_until_complete(start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"http://127.0.0.1:{port[0]}/v1"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def _stream(base_url: str) -> tuple[xstream.Client, Any]:
    client = xstream.Client(api_key=KEY, base_url=base_url, max_retries=0)
    return client, client.chat.completions.create(model="m", messages=MESSAGES, stream=True)


def test_a_body_far_larger_than_a_slice_arrives_whole_and_stops_at_done() -> None:
    # Several hundred KiB in one write: one hop brings a MiB, decoded a slice at a time.
    after = b"".join(_CHUNK % 9999 for _ in range(3000))  # past the end: more slices, ignored
    body = b"".join(_CHUNK % i for i in range(4000)) + b"data: [DONE]\n\n" + after
    with _raw_server_in_thread(body) as base_url:
        client, stream = _stream(base_url)
        with client:
            texts = [chunk.choices[0].delta.content for chunk in stream]
            final = stream.get_final_completion()
    assert texts == [f"{i} " for i in range(4000)]
    assert final.choices[0].message.content == "".join(texts)
    assert stream.done and not stream.left_early


def test_a_failure_in_a_later_slice_comes_after_every_chunk_before_it() -> None:
    after = b"".join(_CHUNK % 1 for _ in range(3000))  # past the failure: more slices
    body = b"".join(_CHUNK % i for i in range(2500)) + b"data: {oops\n\n" + after
    with _raw_server_in_thread(body) as base_url:
        client, stream = _stream(base_url)
        got: list[Any] = []
        with client, pytest.raises(xstream.MalformedEventError) as info:
            for chunk in stream:
                got.append(chunk)
    assert len(got) == 2500 and info.value.position == 2500


def test_leaving_in_a_later_slice_keeps_exactly_the_chunks_seen() -> None:
    body = b"".join(_CHUNK % i for i in range(4000)) + b"data: [DONE]\n\n"
    with _raw_server_in_thread(body) as base_url:
        client, stream = _stream(base_url)
        with client:
            for n, _chunk in enumerate(stream, 1):
                if n == 1500:
                    break
            final = stream.get_final_completion()
    assert final.choices[0].message.content == "".join(f"{i} " for i in range(1500))
    assert stream.left_early
