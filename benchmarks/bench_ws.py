"""A 20-turn tool loop: one WebSocket session against chained HTTP requests, xstream and
the OpenAI SDK, over a simulated network.

The built-in server (``xstream.testing.MockServer``, the Responses API over HTTP and its
WebSocket mode) runs in a process of its own behind :mod:`benchmarks.netem`'s proxy,
which holds every byte ``--rtt-ms / 2`` in each direction and a new connection's first
bytes ``--setup-ms`` more (the TCP + TLS handshakes; default two round trips). Every
client goes through the same proxy; ``--rtt-ms 0`` (and no ``--setup-ms``) measures
without it, straight to the server.

Each loop is what an agent does: turn 1 sends the user's question; the model answers
each of turns 1..19 with a ``function_call`` (a reasoning item, then the call's
arguments streamed), the client "runs the tool" (a constant, at once) and sends a
``function_call_output`` for the call's ``call_id``, chained to the answer with
``previous_response_id``; turn 20 is the model's text answer. Every event is read, typed,
by each client. The variants, a fresh client each loop, taking turns, medians:

* **xstream HTTP**: ``client.responses.create(..., stream=True)`` per turn over its
  keep-alive pool, ``previous_response_id`` passed;
* **xstream WS**: ``async with client.responses.connect() as session``, then
  ``session.create(...)`` per turn (the session chains by itself);
* **openai HTTP**: ``AsyncOpenAI.responses.create(..., stream=True)`` per turn;
* **openai WS**: ``AsyncOpenAI.responses.connect()`` (needs the ``websockets`` package,
  ``openai[realtime]``), ``connection.response.create(...)`` then ``recv()`` to
  ``response.completed``, ``previous_response_id`` passed.

The clock runs from the first request (the connection setup included) to the last
turn's final response; building and closing the client are outside it, as is the
warm-up loop each variant runs first. Client CPU is ``time.process_time()`` of this
process over the same span (the server and the proxy are the other process).
``python -m benchmarks.bench_ws [--quick] [--results DIR] [--rtt-ms N] [--setup-ms N]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import xstream
from benchmarks.netem import LatencyProxy, Lateness
from benchmarks.report import (
    RESULTS,
    Ratio,
    Spread,
    emit,
    machine_info,
    save_ratios,
    table,
    targets_table,
)
from benchmarks.server import ROOT, child_env
from xstream.testing import MockServer, Reply, ToolCallScript

NAME = "bench_ws"
TURNS = 20
MODEL = "grok-4"
KEY = "sk-bench"
QUESTION = "What will the weather be in Paris, Lyon and Nice this week?"
TOOLS = [
    {
        "type": "function",
        "name": "get_forecast",
        "description": "The forecast for a city and a day.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "day": {"type": "integer"}},
            "required": ["city", "day"],
        },
    }
]
TOOL_RESULT = '{"high_c": 21, "low_c": 12, "sky": "sunny"}'
ANSWER = "Sunny all week: highs around 21 °C, lows around 12 °C in all three cities. " * 3
VARIANTS = ("xstream HTTP", "xstream WS", "openai HTTP", "openai WS")
WS_NEEDS = "websockets"  # what the OpenAI SDK's responses.connect() imports (openai[realtime])


# ---------------------------------------------------------------- the server process


def _script() -> list[Reply]:
    """One loop's answers: a function call for every turn but the last, then the text."""
    calls = [
        Reply(
            text="",
            tool_calls=[ToolCallScript("get_forecast", f'{{"city":"Paris","day":{turn}}}')],
            chunk_size=8,
        )
        for turn in range(TURNS - 1)
    ]
    return [*calls, Reply(text=ANSWER, chunk_size=8)]


async def _serve(one_way: float, setup: float) -> None:
    """The server (and the proxy in front of it, unless there is no delay), serving
    until stdin closes; each stdin line is a command, answered with one JSON line:
    ``script`` queues one loop's answers, ``stats`` gives connections and CPU so far."""
    async with MockServer(default=Reply(text=ANSWER)) as srv:
        srv.ws_setup_delay = 0.0  # the proxy simulates the network, for every client alike
        proxy = None
        if one_way or setup:
            proxy = await LatencyProxy.start(srv.host, srv.port, one_way=one_way, setup=setup)
        port = proxy.port if proxy is not None else srv.port
        print(f"http://127.0.0.1:{port}/v1", flush=True)
        loop = asyncio.get_running_loop()
        try:
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                if line.strip() == "script":
                    srv.enqueue(*_script())
                seen = proxy.connections if proxy is not None else srv.connections_seen
                late = proxy.late if proxy is not None else Lateness()
                answer = {"connections": seen, "cpu": time.process_time(),
                          "late": late.total, "releases": late.count}  # fmt: skip
                print(json.dumps(answer), flush=True)
        finally:
            if proxy is not None:
                await proxy.close()


class _Server:
    """The parent's handle on the server process."""

    def __init__(self, rtt: float, setup: float) -> None:
        command = [sys.executable, "-m", "benchmarks.bench_ws", "--serve",
                   "--rtt-ms", str(rtt * 1e3), "--setup-ms", str(setup * 1e3)]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url:
            raise RuntimeError("the server process did not start")

    def ask(self, command: str) -> dict[str, float]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer: dict[str, float] = json.loads(self.process.stdout.readline())
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ---------------------------------------------------------------- the loops


def _tool_output(response: Any, turn: int, turns: int) -> list[dict[str, str]]:
    """Run the tool the response asks for: the next turn's input. Checks the script."""
    calls = [item for item in response.output if item.type == "function_call"]
    if turn == turns - 1:
        if calls or response.output_text != ANSWER:
            raise AssertionError(f"turn {turn + 1}: expected the final text answer")
        return []
    if len(calls) != 1:
        raise AssertionError(f"turn {turn + 1}: expected one function call, got {calls}")
    return [{"type": "function_call_output", "call_id": calls[0].call_id, "output": TOOL_RESULT}]


Loop = Callable[[str, int], Awaitable[tuple[float, float]]]


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


async def xstream_http(base_url: str, turns: int) -> tuple[float, float]:
    async with xstream.AsyncClient(KEY, base_url=base_url, max_retries=0) as client:
        start = _clock()
        given: Any = QUESTION
        previous: str | None = None
        for turn in range(turns):
            stream = await client.responses.create(
                model=MODEL, input=given, tools=TOOLS, previous_response_id=previous, stream=True
            )
            async for _ in stream:
                pass
            response = await stream.get_final_response()
            given, previous = _tool_output(response, turn, turns), response.id
        return _since(start)


async def xstream_ws(base_url: str, turns: int) -> tuple[float, float]:
    async with xstream.AsyncClient(KEY, base_url=base_url, max_retries=0) as client:
        start = _clock()
        async with client.responses.connect() as session:
            given: Any = QUESTION
            for turn in range(turns):
                stream = await session.create(model=MODEL, input=given, tools=TOOLS)
                async for _ in stream:
                    pass
                given = _tool_output(await stream.get_final_response(), turn, turns)
            return _since(start)


def _openai(base_url: str) -> Any:
    import openai

    return openai.AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0)


async def openai_http(base_url: str, turns: int) -> tuple[float, float]:
    client = _openai(base_url)
    try:
        start = _clock()
        given: Any = QUESTION
        chained: dict[str, str] = {}
        for turn in range(turns):
            stream = await client.responses.create(
                model=MODEL, input=given, tools=TOOLS, stream=True, **chained
            )
            response: Any = None
            async for event in stream:
                if event.type == "response.completed":
                    response = event.response
            given = _tool_output(response, turn, turns)
            chained = {"previous_response_id": response.id}
        return _since(start)
    finally:
        await client.close()


async def openai_ws(base_url: str, turns: int) -> tuple[float, float]:
    client = _openai(base_url)
    try:
        start = _clock()
        async with client.responses.connect() as connection:
            given: Any = QUESTION
            chained: dict[str, str] = {}
            for turn in range(turns):
                await connection.response.create(model=MODEL, input=given, tools=TOOLS, **chained)
                while True:
                    event = await connection.recv()
                    if event.type == "error":
                        raise AssertionError(f"turn {turn + 1}: {event}")
                    if event.type == "response.completed":
                        break
                given = _tool_output(event.response, turn, turns)
                chained = {"previous_response_id": event.response.id}
            return _since(start)
    finally:
        await client.close()


LOOPS: dict[str, Loop] = {
    "xstream HTTP": xstream_http,
    "xstream WS": xstream_ws,
    "openai HTTP": openai_http,
    "openai WS": openai_ws,
}


# ---------------------------------------------------------------- the parent


def variants() -> tuple[tuple[str, ...], str | None]:
    """The variants this environment can run, and why one is left out (or None)."""
    if importlib.util.find_spec(WS_NEEDS) is None:
        why = (
            "the OpenAI SDK's `responses.connect()` imports the `websockets` package "
            "(`openai[realtime]`), which is not installed here: that variant was not run"
        )
        return tuple(v for v in VARIANTS if v != "openai WS"), why
    return VARIANTS, None


async def measure(
    server: _Server, names: tuple[str, ...], repeats: int
) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for name in names:  # warm-up: imports, lazy set-up, the first connection ever
        server.ask("script")
        await LOOPS[name](server.base_url, TURNS)
    for _ in range(repeats):
        for name in names:  # taking turns, so that a noisy neighbour slows all alike
            before = server.ask("script")
            gc.collect()
            wall, cpu = await LOOPS[name](server.base_url, TURNS)
            after = server.ask("stats")
            runs[name].append(
                {
                    "wall": wall,
                    "cpu": cpu,
                    "connections": after["connections"] - before["connections"],
                    "server_cpu": after["cpu"] - before["cpu"],
                    "late": after["late"] - before["late"],
                    "releases": after["releases"] - before["releases"],
                }
            )
            print(f"{NAME}: {name}: {wall * 1e3:.0f} ms, CPU {cpu * 1e3:.1f} ms", file=sys.stderr)
    return runs


HEADER = [
    "variant",
    "loop, ms (range)",
    "per turn, ms",
    "client CPU, ms/loop",
    "client CPU, ms/turn",
    "server CPU, ms/loop",
    "connections",
]


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def report(
    runs: dict[str, list[dict[str, float]]], args: argparse.Namespace, why: str | None
) -> tuple[list[str], list[Ratio]]:
    rows = []
    for name, got in runs.items():
        connections = sorted({int(run["connections"]) for run in got})
        rows.append([
            name, Spread.of(run["wall"] * 1e3 for run in got).fmt(),
            f"{_median(got, 'wall') * 1e3 / TURNS:.1f}", f"{_median(got, 'cpu') * 1e3:.1f}",
            f"{_median(got, 'cpu') * 1e3 / TURNS:.2f}", f"{_median(got, 'server_cpu') * 1e3:.0f}",
            "/".join(map(str, connections)),
        ])  # fmt: skip

    def ratio(label: str, slow: str, fast: str, key: str) -> Ratio | None:
        if slow not in runs or fast not in runs:
            return None
        return Ratio(label, _median(runs[slow], key) / _median(runs[fast], key), None)

    found = [
        ratio("tool loop: xstream HTTP / xstream WS wall time", "xstream HTTP", "xstream WS", "wall"),
        ratio("tool loop: openai WS / xstream WS wall time", "openai WS", "xstream WS", "wall"),
        ratio("tool loop: openai HTTP / xstream HTTP wall time", "openai HTTP", "xstream HTTP", "wall"),
        ratio("tool loop: openai WS / xstream WS client CPU", "openai WS", "xstream WS", "cpu"),
        ratio("tool loop: openai HTTP / xstream HTTP client CPU", "openai HTTP", "xstream HTTP", "cpu"),
    ]  # fmt: skip
    ratios = [r for r in found if r is not None]
    network = (
        f"{args.rtt_ms:g} ms round trip ({args.rtt_ms / 2:g} ms each way), {args.setup:g} ms "
        "setup per new connection, through the proxy (`benchmarks/netem.py`)"
        if args.rtt_ms or args.setup
        else "no simulated network: straight to the server over loopback"
    )
    every = [run for got in runs.values() for run in got]
    releases = sum(run["releases"] for run in every)
    if releases:
        late = sum(run["late"] for run in every) / releases * 1e3
        network += (
            f"; the proxy's timers released bytes {late:.2f} ms late on average "
            "(added to every variant's round trips alike)"
        )
    command = " ".join(args.argv)
    lines = [
        f"# A {TURNS}-turn tool loop: WebSocket session vs chained HTTP, xstream and openai",
        "",
        *machine_info(),
        f"- run: `python -m benchmarks.bench_ws {command}`; network: {network}; median of "
        f"{args.repeats} loops per variant, variants taking turns, a fresh client per loop",
        "",
        "Wall time from the first request (its connection setup included) to the last "
        "turn's final response; client CPU is this process's over the same span; the "
        "server (and the proxy) run in another process, whose CPU is shown per loop. "
        "*Connections* is how many TCP connections a loop opened, as the proxy (or, "
        "without one, the server) counted them: 1 means the setup was paid once.",
        "",
        *table(HEADER, rows),
        "",
    ]
    if why:
        lines += [f"Not measured: {why}.", ""]
    lines += ["## Ratios", "", "Higher is better for xstream (the other's time / xstream's)."]
    lines += ["", *targets_table(ratios)]
    return lines, ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one loop per variant")
    parser.add_argument("--results", type=Path, help=f"where to write {NAME}.md")
    parser.add_argument("--rtt-ms", type=float, default=30.0, help="round trip (default 30)")
    parser.add_argument("--setup-ms", type=float, help="per new connection (default 2 RTT)")
    parser.add_argument("--repeats", type=int, help="loops per variant (default 15, quick 1)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    args.setup = args.setup_ms if args.setup_ms is not None else 2 * args.rtt_ms
    if args.serve:
        asyncio.run(_serve(args.rtt_ms / 2e3, args.setup / 1e3))
        return 0
    args.repeats = args.repeats or (1 if args.quick else 15)
    results: Path | None = args.results or (None if args.quick else RESULTS)
    names, why = variants()
    started = time.perf_counter()
    server = _Server(args.rtt_ms / 1e3, args.setup / 1e3)
    try:
        runs = asyncio.run(measure(server, names, args.repeats))
    finally:
        server.close()
    lines, ratios = report(runs, args, why)
    lines += ["", f"Total benchmark time: {time.perf_counter() - started:.0f} s."]
    emit(NAME, lines, results)
    save_ratios(NAME, ratios, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
