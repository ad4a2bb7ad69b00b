"""Accumulation: merging a stream's deltas into one completion, at 10k and 1M deltas.

No network: the chunks are decoded once, before the clock, from the payloads of
:func:`benchmarks.corpus.chunk_payloads` (10,000 distinct chunks, fed round and round
for larger sizes). The clock covers adding every chunk and building the final
completion:

* **xstream**: ``xstream._protocol.accumulate.ChatCompletionAccumulator``: ``add(chunk)`` per
  chunk, then ``result()``: what ``AsyncStream`` does per chunk and
  ``get_final_completion()`` does at the end.
* **openai**: ``openai.lib.streaming.chat.ChatCompletionStreamState``: ``handle_chunk``
  per chunk, then ``get_final_completion()``: what ``client.chat.completions.stream()``
  does. It re-merges the whole message on every chunk (quadratic), so it runs at
  smaller sizes only.

A linear accumulator costs the same per delta at every size. Run
``python -m benchmarks.bench_accumulate --help``.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.corpus import chunk_payloads
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

NAME = "bench_accumulate"
DISTINCT = 10_000
SAMPLE_DELTAS = 100_000  # a sample of xstream covers at least this many deltas

Accumulate = Callable[[Sequence[Any], int], str]  # (chunks, n) -> the final content


def xstream_accumulate(chunks: Sequence[Any], n: int) -> str:
    from xstream._protocol.accumulate import ChatCompletionAccumulator

    accumulator = ChatCompletionAccumulator()
    add = accumulator.add
    for chunk in itertools.islice(itertools.cycle(chunks), n):
        add(chunk)
    return accumulator.result().choices[0].message.content or ""


def openai_accumulate(chunks: Sequence[Any], n: int) -> str:
    from openai.lib.streaming.chat import ChatCompletionStreamState

    state: Any = ChatCompletionStreamState()
    handle = state.handle_chunk
    for chunk in itertools.islice(itertools.cycle(chunks), n):
        handle(chunk)
    content: str = state.get_final_completion().choices[0].message.content
    return content


def decoded_chunks() -> tuple[list[Any], list[Any], list[str]]:
    """(xstream chunks, openai chunks, their contents), from the same payloads."""
    from openai.types.chat import ChatCompletionChunk as OpenAIChunk

    from benchmarks.clients import chunk_decoder

    payloads = chunk_payloads(DISTINCT)
    decode = chunk_decoder()
    xs = [decode(p) for p in payloads]
    oa = [OpenAIChunk.model_validate_json(p) for p in payloads]
    contents = [c.choices[0].delta.content for c in xs]
    return xs, oa, contents


def measure(
    run: Accumulate, chunks: list[Any], contents: list[str], n: int, repeats: int
) -> list[float]:
    """Seconds per run of ``n`` deltas, ``repeats`` samples. A small ``n`` is run
    several times per sample (a fresh accumulator each time), so that every sample
    lasts long enough to time."""
    whole, part = divmod(n, len(contents))
    expected = "".join(contents) * whole + "".join(contents[:part])
    inner = max(1, SAMPLE_DELTAS // n) if run is xstream_accumulate else 1
    seconds = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        for _ in range(inner):
            content = run(chunks, n)
        seconds.append((time.perf_counter() - start) / inner)
        if content != expected:
            raise AssertionError(f"{run.__name__} merged {n} deltas into the wrong content")
        del content
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10k and 50k deltas, 2 runs")
    parser.add_argument("--repeats", type=int, help="runs per size (default 5, quick 2)")
    parser.add_argument(
        "--results", type=Path, help=f"where to write {NAME}.md (default {RESULTS}; quick: none)"
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    results: Path | None = args.results or (None if args.quick else RESULTS)
    xs_sizes = (10_000, 50_000) if args.quick else (10_000, 1_000_000)
    oa_sizes = (500, 1_500) if args.quick else (1_000, 10_000)
    started = time.perf_counter()

    print(f"{NAME}: decoding {DISTINCT:,} chunks for each library ...", file=sys.stderr)
    xs_chunks, oa_chunks, contents = decoded_chunks()
    plan: list[tuple[str, Accumulate, list[Any], int, int]] = [
        ("xstream", xstream_accumulate, xs_chunks, n, repeats)
        for n in sorted({*oa_sizes, *xs_sizes})
    ]
    plan += [("openai", openai_accumulate, oa_chunks, n, min(repeats, 3)) for n in oa_sizes]
    per_delta: dict[tuple[str, int], Spread] = {}
    rows = []
    for name, run, chunks, n, reps in plan:
        print(f"  {name}: {n:,} deltas x {reps}", file=sys.stderr)
        seconds = measure(run, chunks, contents, n, reps)
        per_delta[name, n] = Spread.of(s / n * 1e9 for s in seconds)
        smallest = min(k for lib, k in per_delta if lib == name)
        rows.append(
            [
                name,
                f"{n:,}",
                Spread.of(s * 1000 for s in seconds).fmt(",.1f"),
                per_delta[name, n].fmt(",.0f"),
                f"{per_delta[name, n].median / per_delta[name, smallest].median:.2f}",
            ]
        )
    small, large = xs_sizes
    growth = per_delta["xstream", large].median / per_delta["xstream", small].median
    oa_small, oa_large = oa_sizes
    oa_growth = per_delta["openai", oa_large].median / per_delta["openai", oa_small].median
    vs_openai = per_delta["openai", oa_large].median / per_delta["xstream", oa_large].median
    ratios = [
        # flat: the per-delta cost at the large size within 1.5x of the small size's
        Ratio(f"accumulate: ns/delta at {small:,} / at {large:,} (flat = 1)", 1 / growth, 1 / 1.5),
        Ratio(f"accumulate: openai / xstream ns per delta at {oa_large:,}", vs_openai, None),
    ]
    # the same numbers as the ratios (and so as the summary), oriented the same way
    shown = [
        f"{1 / growth:.2f} ({per_delta['xstream', small].median:,.0f} / "
        f"{per_delta['xstream', large].median:,.0f} ns per delta)",
        f"{vs_openai:.2f}x",
    ]
    command = " ".join(argv if argv is not None else sys.argv[1:])
    # per-delta cost ~ a + b * (deltas so far): from the two sizes, project 1M deltas
    b = (per_delta["openai", oa_large].median - per_delta["openai", oa_small].median) / (
        (oa_large - oa_small) / 2
    )
    a = per_delta["openai", oa_small].median - b * oa_small / 2
    projection = (
        "Extrapolating that growth linearly gives about "
        f"{(a * 1e6 + b * 1e6**2 / 2) / 1e9 / 60:,.0f} minutes for 1,000,000 deltas (not run)."
        if b > 0
        else "The sizes run here are too small to show the growth."
    )
    lines = [
        "# Accumulation: merging every delta into one completion",
        "",
        *machine_info(),
        f"- run: `python -m benchmarks.bench_accumulate {command}` — median of the runs "
        "(slowest .. fastest in brackets)",
        "",
        f"Chunks decoded before the clock from {DISTINCT:,} `bench_sse`-shaped payloads "
        "(1-6 words of content each) and fed in a cycle to reach the larger sizes; the final "
        "content is checked against the joined deltas. *per delta vs smallest* divides the "
        "cost per delta by the same library's cost at its smallest size: a linear "
        "accumulator stays near 1.00.",
        "",
        *table(["library", "deltas", "total, ms", "ns per delta", "per delta vs smallest"], rows),
        "",
        f"openai's `ChatCompletionStreamState` stops at {oa_large:,} deltas: every chunk "
        "re-merges the message accumulated so far (a `model_dump` and a string "
        f"concatenation), and its cost per delta changed {oa_growth:.2f}x from {oa_small:,} "
        f"to {oa_large:,}. {projection}",
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
