"""The benchmarks' SSE server: a separate process, so its CPU time is not the client's.

Run as ``python -m benchmarks.server --chunks 100000 --chunks 200``: it builds, once at
start-up, one ``text/event-stream`` body per ``--chunks`` value from
:func:`benchmarks.corpus.chunk_payloads` (the payloads ``bench_sse`` frames), binds
127.0.0.1 on an ephemeral port, prints the port on stdout and serves until its stdin
closes (so it cannot outlive the benchmark that started it) or it gets SIGTERM.

* ``POST /<n>/v1/chat/completions`` answers the ``n``-chunk body (and ``data: [DONE]``),
  so a client picks the stream length with its ``base_url``: ``http://127.0.0.1:PORT/<n>/v1``.
* ``GET /stats`` answers ``{"cpu": <process CPU seconds>, "streams": <bodies sent>}``; the
  parent reads it before and after a run to show the server was not the bottleneck.

Nothing is encoded per request: the body is written in slices of ``--write-size`` bytes
(256 KiB by default) with chunked transfer encoding, as a real API streams.

The parent side is :func:`running_server`, a context manager that starts the process,
reads the port, and always stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.corpus import chunk_payloads, sse_stream

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WRITE_SIZE = 256 * 1024
MODEL = "grok-2-latest"


# ---------------------------------------------------------------- the server process


def build_bodies(counts: Sequence[int]) -> dict[int, bytes]:
    """One SSE body per count. The payloads of a shorter stream are a prefix of a
    longer one's (same seed), so the largest list is built once and sliced."""
    payloads = chunk_payloads(max(counts))
    return {n: sse_stream(payloads[:n]) for n in sorted(set(counts))}


async def serve(counts: Sequence[int], write_size: int, backlog: int) -> None:
    from aiohttp import web

    bodies = {n: memoryview(body) for n, body in build_bodies(counts).items()}
    streams = 0

    async def chat(request: web.Request) -> web.StreamResponse:
        nonlocal streams
        await request.read()  # the request body is not needed, but read it as a server must
        try:
            body = bodies[int(request.match_info["n"])]
        except (KeyError, ValueError):
            return web.json_response({"error": {"message": "no such body"}}, status=404)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for start in range(0, len(body), write_size):
            await response.write(body[start : start + write_size])
        await response.write_eof()
        streams += 1
        return response

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"cpu": time.process_time(), "streams": streams})

    app = web.Application()
    app.router.add_post("/{n}/v1/chat/completions", chat)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    def wait_for_stdin_eof() -> None:  # the parent died or is done with us
        with contextlib.suppress(OSError, ValueError):
            sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_stdin_eof, daemon=True).start()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=backlog)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--chunks", type=int, action="append", required=True, help="a stream length to serve"
    )
    parser.add_argument("--write-size", type=int, default=DEFAULT_WRITE_SIZE)
    parser.add_argument("--backlog", type=int, default=4096)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.chunks, args.write_size, args.backlog))
    return 0


# ---------------------------------------------------------------- the parent side


class ServerProcess:
    """A started server: its port, base URLs per stream length, and its CPU counter."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port

    def base_url(self, chunks: int) -> str:
        """``http://127.0.0.1:PORT/<chunks>/v1``: the base URL for an ``chunks``-chunk stream."""
        return f"http://127.0.0.1:{self.port}/{chunks}/v1"

    def stats(self) -> dict[str, float]:
        """The server's CPU seconds so far and the number of streams it finished."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as r:
            data: dict[str, float] = json.loads(r.read())
        return data


@contextlib.contextmanager
def running_server(
    counts: Sequence[int], *, write_size: int = DEFAULT_WRITE_SIZE, start_timeout: float = 60.0
) -> Iterator[ServerProcess]:
    """Start ``python -m benchmarks.server`` for ``counts``; stop it on the way out."""
    command = [sys.executable, "-m", "benchmarks.server", "--write-size", str(write_size)]
    for n in counts:
        command += ["--chunks", str(n)]
    process = subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=child_env()
    )
    try:
        port = _read_port(process, start_timeout)
        yield ServerProcess(process, port)
    finally:
        stop_process(process)


def _read_port(process: subprocess.Popen[bytes], timeout: float) -> int:
    stdout = process.stdout
    assert stdout is not None
    found: list[bytes] = []
    reader = threading.Thread(target=lambda: found.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not found or not found[0].strip():
        raise RuntimeError(f"the benchmark server did not start within {timeout} s")
    return int(found[0])


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Close its stdin, then SIGTERM, then SIGKILL: whatever it takes, in bounded time."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout / 2)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout / 2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def child_env() -> dict[str, str]:
    """The child's environment: the repository root importable, nothing else changed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


if __name__ == "__main__":
    raise SystemExit(main())
