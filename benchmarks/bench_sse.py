"""SSE framing throughput: stream bytes, cut into fixed-size pieces, in; events out.

Measures, in the same run and on the same bytes, three decoders:

* **xstream** -- ``xstream.SSEDecoder().feed(piece)`` for every piece, then ``close()``.
* **openai** -- ``openai._streaming.SSEDecoder().iter_bytes(iter(pieces))``: the exact
  call ``openai.Stream`` makes over ``response.iter_bytes()``.
* **httpx-sse** -- the path ``EventSource.iter_sse()`` takes through
  ``response.iter_text()``, rebuilt from the library's own parts (see
  :func:`run_httpx_sse`).

Each consumer loop touches every event once, so every decoder does the work a
real ``for event in ...`` would make it do. Run ``python -m benchmarks.bench_sse --help``.
"""

from __future__ import annotations

import argparse
import codecs
import cProfile
import gc
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import httpx_sse
from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
from httpx_sse._decoders import SSELineDecoder as HttpxSSELineDecoder
from openai._streaming import SSEDecoder as OpenAISSEDecoder

from benchmarks.corpus import Corpus, corpora, pieces
from benchmarks.report import SMOKE_NOTE, machine_info, smoke
from xstream import SSEDecoder

RESULTS = Path(__file__).resolve().parent / "results" / "bench_sse.md"
PIECE_SIZES = (64, 1024, 16 * 1024)
MiB = 1024 * 1024

Runner = Callable[[list[bytes]], int]


# ---------------------------------------------------------------- the decoders


def run_xstream(chunks: list[bytes]) -> int:
    """Feed every piece, iterate the events each ``feed`` returns, then ``close()``."""
    decoder = SSEDecoder()
    feed = decoder.feed
    count = 0
    for chunk in chunks:
        for _event in feed(chunk):
            count += 1
    decoder.close()
    return count


def run_openai(chunks: list[bytes]) -> int:
    """What ``openai.Stream.__stream__`` does: ``iter_bytes`` over the byte iterator."""
    count = 0
    for _event in OpenAISSEDecoder().iter_bytes(iter(chunks)):
        count += 1
    return count


def _httpx_iter_text(chunks: list[bytes]) -> Iterator[str]:
    # httpx.Response.iter_text(): httpx._decoders.TextDecoder is exactly an incremental
    # UTF-8 decoder with errors="replace"; TextChunker(chunk_size=None) passes non-empty
    # text through unchanged and drops empty strings. (iter_bytes' identity content
    # decoder and ByteChunker(None) hand the bytes on unchanged: left out.)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            yield text
    text = decoder.decode(b"", True)
    if text:
        yield text


def _httpx_sse_lines(chunks: list[bytes]) -> Iterator[str]:
    # httpx_sse._api._iter_sse_lines(): SSELineDecoder over iter_text(), then flush().
    decoder = HttpxSSELineDecoder()
    for text in _httpx_iter_text(chunks):
        yield from decoder.decode(text)
    yield from decoder.flush()


def _httpx_sse_events(chunks: list[bytes]) -> Iterator[httpx_sse.ServerSentEvent]:
    # httpx_sse.EventSource.iter_sse() minus the Content-Type check: rstrip each line,
    # SSEDecoder.decode() it, yield what it dispatches.
    decoder = HttpxSSEDecoder()
    for line in _httpx_sse_lines(chunks):
        line = line.rstrip("\n")
        sse = decoder.decode(line)
        if sse is not None:
            yield sse


def run_httpx_sse(chunks: list[bytes]) -> int:
    """httpx-sse's real path, same three generator layers, without an HTTP response.

    :func:`check_agreement` checks it against ``EventSource`` over a real
    ``httpx.Response`` once per run (untimed).
    """
    count = 0
    for _event in _httpx_sse_events(chunks):
        count += 1
    return count


IMPLS: dict[str, Runner] = {
    "xstream": run_xstream,
    "openai": run_openai,
    "httpx-sse": run_httpx_sse,
}


# ---------------------------------------------------------------- correctness first


def _events_xstream(chunks: list[bytes]) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    out = [(e.event, e.data) for chunk in chunks for e in decoder.feed(chunk)]
    decoder.close()
    return out


def _events_openai(chunks: list[bytes]) -> list[tuple[str, str]]:
    return [(e.event or "message", e.data) for e in OpenAISSEDecoder().iter_bytes(iter(chunks))]


def _events_httpx_sse(chunks: list[bytes]) -> list[tuple[str, str]]:
    return [(e.event, e.data) for e in _httpx_sse_events(chunks)]


def _events_httpx_sse_real(chunks: list[bytes]) -> list[tuple[str, str]]:
    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=iter(chunks)
    )
    return [(e.event, e.data) for e in httpx_sse.EventSource(response).iter_sse()]


def check_agreement(corpus: Corpus, sample_bytes: int = 64 * 1024) -> None:
    """Untimed: on a prefix of the corpus cut at an event end, all decoders (and the
    real ``EventSource`` over an ``httpx.Response``) must yield the same events."""
    blank = b"\r\n\r\n" if b"\r" in corpus.body else b"\n\n"
    prefix = corpus.body[: corpus.body.index(blank, sample_bytes) + len(blank)]
    for size in (1, 7, 64):
        chunks = pieces(prefix, size)
        expected = _events_xstream(chunks)
        assert expected, "empty sample"
        for name, events in (
            ("openai", _events_openai(chunks)),
            ("httpx-sse (rebuilt)", _events_httpx_sse(chunks)),
            ("httpx-sse (EventSource)", _events_httpx_sse_real(chunks)),
        ):
            if events != expected:
                raise AssertionError(f"{name} disagrees with xstream on {corpus.name}, {size} B")


# ---------------------------------------------------------------- measuring


@dataclass
class Timing:
    """Wall times of repeated runs of one decoder over one input."""

    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def rate(self, work: float) -> tuple[float, float, float]:
        """``work`` per second: (median, slowest run, fastest run)."""
        return work / self.median, work / max(self.seconds), work / min(self.seconds)


def _time_once(run: Runner, chunks: list[bytes]) -> tuple[float, int]:
    gc.collect()  # start every run from the same heap; GC stays on, as in real use
    start = time.perf_counter()
    count = run(chunks)
    return time.perf_counter() - start, count


def measure_framing(corpus: Corpus, size: int, repeats: int) -> dict[str, Timing]:
    """Time every decoder ``repeats`` times on ``corpus`` cut into ``size``-byte pieces.

    The decoders take turns within each repeat (xstream, openai, httpx-sse,
    xstream, ...) so that a noisy neighbour slows all of them alike.
    """
    chunks = pieces(corpus.body, size)
    times: dict[str, list[float]] = {name: [] for name in IMPLS}
    for _ in range(repeats):
        for name, run in IMPLS.items():
            seconds, count = _time_once(run, chunks)
            assert count == corpus.events, (
                f"{name} dispatched {count} events on {corpus.name}/{size} B, "
                f"expected {corpus.events}"
            )
            times[name].append(seconds)
    return {name: Timing(ts) for name, ts in times.items()}


def _long_line(size: int) -> bytes:
    # One event whose data line is ``size`` bytes long (field name included).
    return b"data: " + b"x" * (size - len(b"data: ")) + b"\n\n"


def _xstream_long(chunks: list[bytes]) -> int:
    # The line is as large as the default max_event_bytes: raise the limit, this
    # measures how the cost grows, not where the limit sits.
    decoder = SSEDecoder(max_event_bytes=64 * MiB)
    count = sum(len(decoder.feed(chunk)) for chunk in chunks)
    decoder.close()
    return count


LINEAR_IMPLS: dict[str, Runner] = {
    "xstream": _xstream_long,
    "openai": run_openai,
    "httpx-sse": run_httpx_sse,
}


def _time_long(name: str, run: Runner, chunks: list[bytes]) -> float:
    seconds, count = _time_once(run, chunks)
    assert count == 1, f"{name} dispatched {count} events on one long line"
    return seconds


def measure_linearity(
    sizes_mib: tuple[int, ...], repeats: int, budget_s: float
) -> dict[str, dict[int, Timing | None]]:
    """Seconds to decode one ``n`` MiB ``data:`` line fed in 1 KiB pieces.

    A first pass, smallest line first, decides what fits: a peer skips a size
    (``None``) when all its runs could overrun ``budget_s``, judged from the
    size before as if the cost were quadratic. xstream is never skipped. The
    other repeats then take the sizes in turn, so that the allocator's state
    (glibc raises its mmap threshold after big frees) is alike for every size.
    """
    inputs = {mib: pieces(_long_line(mib * MiB), 1024) for mib in sizes_mib}
    out: dict[str, dict[int, Timing | None]] = {}
    for name, run in LINEAR_IMPLS.items():
        seconds: dict[int, list[float]] = {}
        for mib in sizes_mib:
            if name != "xstream" and seconds:
                last = max(seconds)
                worst = seconds[last][0] * (mib / last) ** 2
                if (sum(s[0] for s in seconds.values()) + worst) * repeats > budget_s:
                    break
            seconds[mib] = [_time_long(name, run, inputs[mib])]
        for _ in range(repeats - 1):
            for mib, runs in seconds.items():
                runs.append(_time_long(name, run, inputs[mib]))
        out[name] = {mib: Timing(seconds[mib]) if mib in seconds else None for mib in sizes_mib}
    return out


# ---------------------------------------------------------------- reporting


def _fmt_rate(median: float, low: float, high: float) -> str:
    return f"{median:,.0f} ({low:,.0f} .. {high:,.0f})"


def framing_table(results: list[tuple[Corpus, int, dict[str, Timing]]]) -> list[str]:
    lines = [
        "| corpus | piece | xstream events/s | openai events/s | httpx-sse events/s "
        "| xstream/openai | xstream/httpx-sse |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for corpus, size, timings in results:
        rates = {name: t.rate(corpus.events) for name, t in timings.items()}
        xs = rates["xstream"][0]
        lines.append(
            f"| {corpus.name} | {_fmt_size(size)} "
            f"| {_fmt_rate(*rates['xstream'])} | {_fmt_rate(*rates['openai'])} "
            f"| {_fmt_rate(*rates['httpx-sse'])} "
            f"| {xs / rates['openai'][0]:.2f}x | {xs / rates['httpx-sse'][0]:.2f}x |"
        )
    return lines


def _fmt_size(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


def linearity_table(
    results: dict[str, dict[int, Timing | None]], sizes_mib: tuple[int, ...]
) -> list[str]:
    head = " | ".join(f"{mib} MiB line: ms/MiB" for mib in sizes_mib)
    lines = [
        f"| decoder | {head} | ratio (largest/smallest) |",
        "|---|" + "---:|" * (len(sizes_mib) + 1),
    ]
    for name, by_size in results.items():
        cells: list[str] = []
        per_mib: list[float] = []
        for mib in sizes_mib:
            timing = by_size.get(mib)
            if timing is None:
                cells.append("skipped (over budget)")
                continue
            ms = timing.median / mib * 1000
            per_mib.append(ms)
            lo, hi = (min(timing.seconds) / mib * 1000, max(timing.seconds) / mib * 1000)
            cells.append(f"{ms:.2f} ({lo:.2f} .. {hi:.2f})")
        ratio = f"{per_mib[-1] / per_mib[0]:.2f}" if len(per_mib) == len(sizes_mib) else "n/a"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ratio} |")
    return lines


TARGETS = (
    ("16 KiB pieces: xstream ≥ 1,200,000 events/s", 16 * 1024, "abs", 1_200_000.0),
    ("16 KiB pieces: xstream ≥ 5x openai", 16 * 1024, "openai", 5.0),
    ("16 KiB pieces: xstream ≥ 2.5x httpx-sse", 16 * 1024, "httpx-sse", 2.5),
    ("64 B pieces: xstream ≥ 2x openai", 64, "openai", 2.0),
)


def targets_table(results: list[tuple[Corpus, int, dict[str, Timing]]]) -> list[str]:
    quick = smoke()
    lines = [SMOKE_NOTE, ""] if quick else []
    lines += ["| target | corpus | measured | met |", "|---|---|---:|:---:|"]
    for label, size, kind, goal in TARGETS:
        for corpus, piece, timings in results:
            if piece != size:
                continue
            xs = timings["xstream"].rate(corpus.events)[0]
            if kind == "abs":
                value, shown = xs, f"{xs:,.0f} events/s"
            else:
                value = xs / timings[kind].rate(corpus.events)[0]
                shown = f"{value:.2f}x"
            lines.append(
                f"| {label} | {corpus.name} | {shown} | "
                f"{'smoke run' if quick else 'yes' if value >= goal else 'NO'} |"
            )
    return lines


# ---------------------------------------------------------------- main


def profile_xstream(corpora_: list[Corpus], size: int) -> None:
    """Print where xstream's time goes on each corpus at ``size``-byte pieces."""
    for corpus in corpora_:
        chunks = pieces(corpus.body, size)
        profiler = cProfile.Profile()
        profiler.runcall(run_xstream, chunks)
        print(f"\n### cProfile: xstream, {corpus.name}, {_fmt_size(size)} pieces\n")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small corpus, 2 repeats: a smoke run")
    parser.add_argument("--events", type=int, help="events per corpus (default 50000, quick 3000)")
    parser.add_argument("--repeats", type=int, help="runs per measurement (default 5, quick 2)")
    parser.add_argument(
        "--output",
        type=Path,
        help="markdown report path (default benchmarks/results/bench_sse.md; "
        "a --quick run writes none unless given)",
    )
    parser.add_argument("--no-linearity", action="store_true", help="skip the long-line section")
    parser.add_argument(
        "--profile", action="store_true", help="also print cProfile of xstream at 16 KiB pieces"
    )
    args = parser.parse_args(argv)
    events = args.events or (3_000 if args.quick else 50_000)
    repeats = args.repeats or (2 if args.quick else 5)
    output: Path | None = args.output or (None if args.quick else RESULTS)
    started = time.perf_counter()

    print(f"building corpora: {events} chunk events each (+ [DONE]) ...", file=sys.stderr)
    all_corpora = corpora(events)
    for corpus in all_corpora:
        check_agreement(corpus)

    framing: list[tuple[Corpus, int, dict[str, Timing]]] = []
    for corpus in all_corpora:
        for size in PIECE_SIZES:
            print(f"  {corpus.name}, {_fmt_size(size)} pieces ...", file=sys.stderr)
            framing.append((corpus, size, measure_framing(corpus, size, repeats)))

    command = " ".join(
        ["python -m benchmarks.bench_sse", *(sys.argv[1:] if argv is None else argv)]
    )
    report = [
        "# SSE framing throughput",
        "",
        *machine_info(),
        f"- run: `{command}` — {events + 1} events per corpus, median of {repeats} runs (slowest .. fastest run in brackets)",
        "",
        "## Events per second, bytes cut into fixed-size pieces",
        "",
        "Corpus sizes: "
        + ", ".join(f"{c.name} {len(c.body) / MiB:.1f} MiB" for c in all_corpora)
        + ".",
        "",
        *framing_table(framing),
        "",
        "## Targets",
        "",
        *targets_table(framing),
    ]

    if not args.no_linearity:
        sizes_mib = (1, 2) if args.quick else (8, 16)
        print(f"  linearity: {sizes_mib} MiB lines in 1 KiB pieces ...", file=sys.stderr)
        linear = measure_linearity(sizes_mib, 2 if args.quick else 3, budget_s=20.0)
        report += [
            "",
            "## Linearity: one long `data:` line fed in 1 KiB pieces",
            "",
            "Milliseconds per MiB of line (median, fastest .. slowest run); a linear decoder "
            "shows a ratio near 1.00. Peers are skipped when they could overrun a 20 s budget.",
            "",
            *linearity_table(linear, sizes_mib),
        ]

    report += ["", f"Total benchmark time: {time.perf_counter() - started:.0f} s."]
    text = "\n".join(report) + "\n"
    print(text)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"written to {output}", file=sys.stderr)
    if args.profile:
        profile_xstream(all_corpora, 16 * 1024)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
