"""Start-up: import time and first-request latency, each in fresh processes.

* **Import**: the wall time of ``python -c "<statement>"`` minus that of
  ``python -c "pass"``, the statements taking turns so that a noisy neighbour slows
  all of them alike; plus, from separate runs, the cumulative time ``-X importtime``
  gives the top-level module. Bytecode caches are on for every package and warm (one
  untimed run each first), in a directory of their own (``PYTHONPYCACHEPREFIX``).
* **First request**: a fresh process imports the SDK, then the clock covers building
  the client, sending the request, and the first chunk arriving from the local
  benchmark server (a separate process). ``asyncio.run`` itself is outside the clock;
  the sync clients' loop thread, which they start on first use, is inside it.

Run ``python -m benchmarks.bench_startup --help``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
from benchmarks.server import ROOT, ServerProcess, child_env, running_server

NAME = "bench_startup"
FIRST_CHUNKS = 200

# label -> statement
IMPORTS: dict[str, str] = {
    "import xstream": "import xstream",
    "import openai": "import openai",
    "xstream: AsyncClient, Client": "import xstream; xstream.AsyncClient; xstream.Client",
    "openai: AsyncOpenAI, OpenAI": "import openai; openai.AsyncOpenAI; openai.OpenAI",
}
BASELINE = "pass"
FIRST_REQUEST = ("xstream-async", "xstream-sync", "openai-async", "openai-sync")
TIMEOUT = 60.0


# ---------------------------------------------------------------- imports


def _startup_env() -> dict[str, str]:
    """Bytecode caches on, for every package alike. The environment may set
    PYTHONDONTWRITEBYTECODE, and the repository has no ``__pycache__`` of its own:
    then xstream would be compiled from source on every import while openai's
    installed caches are read. All caches go to one directory outside the tree."""
    env = child_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "xstream-bench-pycache")
    return env


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=_startup_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done


def _wall(statement: str) -> float:
    start = time.perf_counter()
    _python("-c", statement)
    return time.perf_counter() - start


# "import time: <self µs> | <cumulative µs> | <two spaces per nesting level><module>"
_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (.*)$")


def _importtime_lines(statement: str) -> list[tuple[int, int, int, str, str]]:
    """``(self µs, cumulative µs, depth, module, top-level module)`` per line of one
    ``-X importtime`` run, in import order with each module before what it imported
    (the output lists a module after its imports)."""
    stderr = _python("-X", "importtime", "-c", statement).stderr
    # Rebuild the tree: a line at depth d adopts the lines at depth d + 1 seen since.
    Node = tuple[int, int, int, str, list[Any]]
    pending: dict[int, list[Node]] = {}
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match is None:
            continue
        name = match.group(3)
        depth = (len(name) - len(name.lstrip())) // 2
        children = pending.pop(depth + 1, [])
        node: Node = (int(match.group(1)), int(match.group(2)), depth, name.strip(), children)
        pending.setdefault(depth, []).append(node)
    out: list[tuple[int, int, int, str, str]] = []

    def walk(node: Node, root: str) -> None:
        own, cumulative, depth, name, children = node
        out.append((own, cumulative, depth, name, root))
        for child in children:
            walk(child, root)

    for top in pending.get(0, []):
        walk(top, top[3])
    return out


def _startup_modules() -> set[str]:
    """What the interpreter imports for ``python -c pass`` (``site``, ``encodings``...)."""
    return {name for _, _, depth, name, _ in _importtime_lines(BASELINE) if depth == 0}


def _importtime_ms(statement: str, startup: set[str]) -> float:
    """The cumulative times of every top-level import the statement made, in ms.

    A package that loads its dependencies on first use (PEP 562 ``__getattr__``)
    imports them from the top level, not below itself: they all count."""
    return (
        sum(
            cumulative
            for _, cumulative, depth, name, _ in _importtime_lines(statement)
            if depth == 0 and name not in startup
        )
        / 1000
    )


BREAKDOWN = "import xstream; xstream.AsyncClient; xstream.Client"


def import_breakdown(startup: set[str], statement: str = BREAKDOWN) -> list[list[str]]:
    """Where one ``-X importtime`` run of ``statement`` spends its time: the imports at
    depth 0 and 1 with at least 3 ms cumulative, and any module with at least 10 ms of
    its own, in import order."""
    return [
        [f"`{name}`", str(depth), f"{own / 1000:.1f}", f"{cumulative / 1000:.1f}"]
        for own, cumulative, depth, name, root in _importtime_lines(statement)
        if root not in startup and ((depth <= 1 and cumulative >= 3000) or own >= 10_000)
    ]


def measure_imports(
    repeats: int, importtime_repeats: int
) -> tuple[dict[str, Spread], dict[str, Spread], list[list[str]]]:
    """(wall-time deltas, -X importtime totals) in ms, and the breakdown table."""
    _python("-c", "; ".join(IMPORTS.values()))  # warm the bytecode caches, in one process
    walls: dict[str, list[float]] = {label: [] for label in [BASELINE, *IMPORTS]}
    for i in range(repeats):
        print(f"  imports, run {i + 1}/{repeats}", file=sys.stderr)
        walls[BASELINE].append(_wall(BASELINE))
        for label, statement in IMPORTS.items():
            walls[label].append(_wall(statement))
    base = sorted(walls.pop(BASELINE))
    base_median = base[len(base) // 2]
    delta = {label: Spread.of((w - base_median) * 1000 for w in ws) for label, ws in walls.items()}
    startup = _startup_modules()
    importtime = {
        label: Spread.of(_importtime_ms(statement, startup) for _ in range(importtime_repeats))
        for label, statement in IMPORTS.items()
    }
    delta["python -c pass (baseline, absolute)"] = Spread.of(b * 1000 for b in base)
    return delta, importtime, import_breakdown(startup)


# ---------------------------------------------------------------- first request (worker)


def _first_request(kind: str, base_url: str) -> dict[str, float]:
    t_import = time.perf_counter()
    async_class: Any
    sync_class: Any
    if kind.startswith("xstream"):
        import xstream

        async_class, sync_class = xstream.AsyncClient, xstream.Client
    else:
        import openai

        async_class, sync_class = openai.AsyncOpenAI, openai.OpenAI
    imported = time.perf_counter() - t_import
    kwargs: dict[str, Any] = {"api_key": "x", "base_url": base_url, "max_retries": 0}
    request: dict[str, Any] = {
        "model": "grok-2-latest",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
    }
    if kind.endswith("sync"):
        t0 = time.perf_counter()
        client = sync_class(**kwargs)
        stream = client.chat.completions.create(**request)
        first = next(iter(stream))
        seconds = time.perf_counter() - t0
        stream.close()
        client.close()
    else:
        import asyncio

        async def main() -> tuple[float, Any]:
            t0 = time.perf_counter()
            client = async_class(**kwargs)
            stream = await client.chat.completions.create(**request)
            first = await anext(aiter(stream))
            seconds = time.perf_counter() - t0
            await stream.close()
            await client.close()
            return seconds, first

        seconds, first = asyncio.run(main())
    assert first.choices[0].delta.content
    return {"import": imported, "first": seconds}


def measure_first_request(server: ServerProcess, repeats: int) -> dict[str, dict[str, Spread]]:
    url = server.base_url(FIRST_CHUNKS)
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in FIRST_REQUEST}
    for i in range(repeats):
        print(f"  first request, run {i + 1}/{repeats}", file=sys.stderr)
        for kind in FIRST_REQUEST:
            done = _python("-m", "benchmarks.bench_startup", "--worker", kind, "--url", url)
            runs[kind].append(json.loads(done.stdout))
    return {
        kind: {
            "first": Spread.of(r["first"] * 1000 for r in rs),
            "import": Spread.of(r["import"] * 1000 for r in rs),
            "both": Spread.of((r["first"] + r["import"]) * 1000 for r in rs),
        }
        for kind, rs in runs.items()
    }


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1 run of each")
    parser.add_argument(
        "--repeats",
        type=int,
        help="fresh processes per import time (default 8, quick 1); -X importtime and "
        "first request get 40%% as many (at least 1)",
    )
    parser.add_argument(
        "--results", type=Path, help=f"where to write {NAME}.md (default {RESULTS}; quick: none)"
    )
    parser.add_argument("--worker", choices=FIRST_REQUEST, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        json.dump(_first_request(args.worker, args.url), sys.stdout)
        return 0
    repeats = args.repeats or (1 if args.quick else 8)
    fewer = max(1, repeats * 4 // 10)
    results: Path | None = args.results or (None if args.quick else RESULTS)
    started = time.perf_counter()

    print(f"{NAME}: imports ...", file=sys.stderr)
    walls, importtime, breakdown = measure_imports(repeats, fewer)
    with running_server([FIRST_CHUNKS]) as server:
        first = measure_first_request(server, fewer)

    import_rows = [
        [
            f"`{label}`",
            walls[label].fmt(",.0f"),
            importtime[label].fmt(",.0f") if label in importtime else "",
        ]
        for label in walls
    ]
    first_rows = [
        [kind, v["first"].fmt(",.1f"), v["import"].fmt(",.0f"), v["both"].fmt(",.0f")]
        for kind, v in first.items()
    ]
    x_import, o_import = walls["import xstream"].median, walls["import openai"].median
    # `import xstream` imports nothing until a name is used: its wall time is within the
    # noise of `python -c pass` (even below it), so the ratio counts at least 1 ms.
    x_floor = max(x_import, 1.0)
    x_full, o_full = (
        walls["xstream: AsyncClient, Client"].median,
        walls["openai: AsyncOpenAI, OpenAI"].median,
    )
    first_both = first["openai-async"]["both"].median / first["xstream-async"]["both"].median
    ratios = [
        Ratio("startup: import openai / import xstream time", o_import / x_floor, 1 / 0.3),
        # no target of its own (the 0.3x bar is for `import` alone): shown, not judged
        Ratio(
            "startup: openai / xstream, import + touch both client classes", o_full / x_full, None
        ),
        Ratio(
            "startup: first request, openai.AsyncOpenAI / xstream.AsyncClient latency",
            first["openai-async"]["first"].median / first["xstream-async"]["first"].median,
            1.0,
        ),
    ]
    # The same ratio as the chart, openai / xstream (higher is better), then the times.
    shown = [
        f"{o_import / x_floor:.2f}x (openai {o_import:,.0f} ms, xstream {x_import:,.1f} ms, "
        "counted as at least 1 ms)",
        f"{o_full / x_full:.2f}x (openai {o_full:,.0f} ms, xstream {x_full:,.0f} ms)",
        f"{ratios[2].value:.2f}x faster; import + first chunk in a fresh process: "
        f"{first_both:.2f}x (no target set: 1.00 = parity)",
    ]
    command = " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# Start-up: import time and first-request latency",
        "",
        *machine_info(),
        f"- run: `python -m benchmarks.bench_startup {command}` — median of {repeats} fresh "
        "processes for imports (slowest .. fastest in brackets)",
        "",
        "## Import time, ms",
        "",
        'Wall time of `python -c "<statement>"` minus the median wall time of '
        "`python -c pass`. The `-X importtime` column adds up the cumulative times of every "
        "top-level import the statement made beyond those of `python -c pass` (so what a "
        f"package loads lazily, on first use of a name, counts too), median of {fewer} "
        "separate runs.",
        "",
        *table(["statement", "wall time - baseline", "-X importtime"], import_rows),
        "",
        f"Using the clients, not just importing: xstream {x_full:,.0f} ms vs openai "
        f"{o_full:,.0f} ms ({x_full / o_full:.2f}x).",
        "",
        f"Where `{BREAKDOWN}` spends its time: one `-X importtime` run, in import order; "
        "depth 0 is an import made by the statement or, lazily, by xstream on first use of "
        "a name, depth 1 what that imported, and so on; *self* excludes the module's own "
        "imports. Shown: depth 0 and 1 from 3 ms, any depth from 10 ms of its own.",
        "",
        *table(["module", "depth", "self, ms", "cumulative, ms"], breakdown),
        "",
        "## First request, ms",
        "",
        f"A fresh process per run (median of {fewer}). *first chunk*: "
        "build the client, send a streaming request to the local server, receive the first "
        "chunk. *import*: importing the SDK in that process, before the clock.",
        "",
        *table(["client", "first chunk", "import", "import + first chunk"], first_rows),
        "",
        "## Targets",
        "",
        *targets_table(ratios, shown),
        "",
        f"Total benchmark time: {time.perf_counter() - started:.0f} s.",
    ]
    emit(NAME, lines, results)
    save_ratios(NAME, ratios, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
