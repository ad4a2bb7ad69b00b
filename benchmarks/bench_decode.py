"""Framing + typed decode: stream bytes in, chunk objects out, every chunk kept in a list.

``bench_sse`` stops at events; this goes one step further, to what a user holds: the
same bytes, cut into fixed-size pieces before the clock, turned into chunk objects,
each appended to a list that lives until the run ends (as users often keep them).
Measured in the same run, the paths take turns:

* **xstream decode** -- ``xstream.SSEDecoder().feed(piece)``, then per event
  ``CHUNK_DECODER.decode(event.raw)`` (msgspec, straight from the bytes into
  ``ChatCompletionChunk`` Structs); the final ``[DONE]`` fails to decode and is
  recognised, as the stream recognises it; ``close()`` at the end.
* **xstream stream path** -- the per-read code of xstream's stream itself: ``AsyncStream._feed``
  (``SSEDecoder.feed_payloads``: a read of plain events comes back as their data) and
  ``AsyncStream._decode_events`` (one ``map`` of the decoder over the payloads, the ``.error``
  check, the accumulator one batch behind, the per-batch stats), on a stream whose HTTP
  response is a stub that is never read.
* **openai** -- the real ``openai.Stream[ChatCompletionChunk]``, as
  ``client.chat.completions.create(stream=True)`` builds it, over an in-memory
  ``httpx2.Response`` that yields the pieces: its ``SSEDecoder.iter_bytes``,
  ``sse.json()`` per event, the error check, then ``client._process_response_data``
  (``construct_type`` into ``openai.types.chat.ChatCompletionChunk``, pydantic). It runs
  at about 6,000 chunks/s, so it reads a shorter prefix of the same payloads: the rate
  is what is compared.
* **httpx-sse + json.loads** -- the text/line path ``bench_sse`` rebuilds from httpx-sse,
  then ``json.loads(sse.data)`` per event: untyped ``dict`` objects.

Run ``python -m benchmarks.bench_decode --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import importlib.metadata
import json
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import httpx2
import openai
from openai._models import FinalRequestOptions
from openai.types.chat import ChatCompletionChunk as OpenAIChunk

from benchmarks.bench_sse import Timing, _fmt_size, _httpx_sse_events
from benchmarks.corpus import CORPORA, chunk_payloads, pieces, sse_stream
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
from xstream import SSEDecoder
from xstream._models.chat import CHUNK_DECODER, ChatCompletionChunk
from xstream._streams.chat import AsyncStream
from xstream._streams.state import StreamState
from xstream._transport.request import Opened
from xstream._transport.transport import Transport

NAME = "bench_decode"
CORPUS_NAMES = ("LF", "CRLF")
PIECE_SIZES = (16 * 1024, 1024)
TARGET_RATE = 400_000.0  # chunks/s, xstream decode, 16 KiB pieces
MiB = 1024 * 1024

Runner = Callable[[list[bytes]], list[Any]]


# ---------------------------------------------------------------- the paths


def run_xstream_decode(chunks: list[bytes]) -> list[ChatCompletionChunk]:
    """Framing + msgspec decode, every chunk appended to a list; stops at ``[DONE]``."""
    decoder = SSEDecoder()
    feed = decoder.feed
    decode = CHUNK_DECODER.decode
    kept: list[ChatCompletionChunk] = []
    append = kept.append
    for chunk in chunks:
        for event in feed(chunk):
            try:
                append(decode(event.raw))
            except ValueError:  # what AsyncStream does when the fast decode fails
                if event.raw.strip() == b"[DONE]":
                    decoder.close()
                    return kept
                raise
    decoder.close()
    raise AssertionError("the stream ended without [DONE]")


class _StubResponse:
    """Stands in for the ``aiohttp.ClientResponse`` that ``AsyncStream`` holds:
    ``_decode_events`` never reads it; closing the stream closes it."""

    closed = False
    status = 200

    def close(self) -> None:
        self.closed = True


async def _new_stream() -> AsyncStream[ChatCompletionChunk]:
    # AsyncStream takes the running loop at construction (for loop.time()).
    transport = Transport(base_url="http://127.0.0.1:9/v1", max_event_bytes=16 * MiB)
    request = transport.build("POST", "chat/completions", body=b"{}", stream=True)
    request.started = asyncio.get_running_loop().time()
    response = cast(aiohttp.ClientResponse, _StubResponse())
    return AsyncStream(transport, Opened(request, response, 0))


_LOOP: asyncio.AbstractEventLoop | None = None


def _loop() -> asyncio.AbstractEventLoop:
    global _LOOP
    if _LOOP is None or _LOOP.is_closed():
        _LOOP = asyncio.new_event_loop()
    return _LOOP


def run_xstream_stream(chunks: list[bytes]) -> list[ChatCompletionChunk]:
    """``AsyncStream._feed`` per piece (``SSEDecoder.feed_payloads``), then
    ``AsyncStream._decode_events(events, now)`` per feed, as the engine's ``_absorb`` does
    after each network read; the batches kept."""
    stream = _loop().run_until_complete(_new_stream())
    decoder = stream._decoder
    feed = stream._feed
    decode_batch = stream._decode_events
    now = _loop().time
    kept: list[ChatCompletionChunk] = []
    ended = False
    for chunk in chunks:
        events = feed(chunk)
        if events:
            kept += decode_batch(events, now())
            if stream._pending is not None:
                raise stream._pending
            if stream.state is StreamState.ENDED:
                ended = True
                break
    decoder.close()
    stream._close()
    if not ended:
        raise AssertionError("the stream ended without [DONE]")
    # the last batch is merged when the loop asks for more, or here, at the end
    _loop().run_until_complete(stream.get_final_completion())
    if stream._accumulator.chunks_added != len(kept):
        raise AssertionError("the accumulator did not see every chunk")
    return kept


_OPENAI = openai.OpenAI(api_key="x", base_url="http://127.0.0.1:9/v1", max_retries=0)
_REQUEST = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def run_openai(chunks: list[bytes]) -> list[OpenAIChunk]:
    """``openai.Stream[ChatCompletionChunk]`` built as the SDK builds it for
    ``chat.completions.create(stream=True)``, over an in-memory response."""
    response = httpx2.Response(
        200,
        headers={"content-type": "text/event-stream"},
        content=iter(chunks),
        request=_REQUEST,
    )
    options = FinalRequestOptions.construct(method="post", url="/chat/completions")
    stream = openai.Stream(cast_to=OpenAIChunk, response=response, client=_OPENAI, options=options)
    kept: list[OpenAIChunk] = []
    append = kept.append
    for item in stream:
        append(item)
    return kept


def run_httpx_sse(chunks: list[bytes]) -> list[dict[str, Any]]:
    """httpx-sse's path (as in ``bench_sse``), ``json.loads(sse.data)`` per event."""
    loads = json.loads
    kept: list[dict[str, Any]] = []
    append = kept.append
    for sse in _httpx_sse_events(chunks):
        data = sse.data
        if data == "[DONE]":
            return kept
        append(loads(data))
    raise AssertionError("the stream ended without [DONE]")


@dataclass(frozen=True)
class DecodePath:
    """One measured path: its runner, what it yields, and whether it reads the prefix."""

    name: str
    run: Runner
    output: str
    short: bool = False  # reads the shorter corpus (openai)


PATHS = (
    DecodePath("xstream decode", run_xstream_decode, "`ChatCompletionChunk` Structs"),
    DecodePath(
        "xstream stream path", run_xstream_stream, "`ChatCompletionChunk` Structs, accumulated"
    ),
    DecodePath("openai Stream", run_openai, "pydantic `ChatCompletionChunk`", short=True),
    DecodePath("httpx-sse + json.loads", run_httpx_sse, "`dict` (untyped)"),
)


# ---------------------------------------------------------------- correctness first


def _fields(item: Any) -> tuple[object, ...]:
    """What every path must agree on, read from a Struct, a pydantic model or a dict."""
    if isinstance(item, dict):
        choice, usage = item["choices"][0], item["usage"]
        return (
            item["id"],
            item["model"],
            choice["delta"]["content"],
            choice["delta"]["role"],
            usage["completion_tokens"],
            usage["prompt_tokens_details"]["cached_tokens"],
            item["system_fingerprint"],
        )
    choice, usage = item.choices[0], item.usage
    return (
        item.id,
        item.model,
        choice.delta.content,
        choice.delta.role,
        usage.completion_tokens,
        usage.prompt_tokens_details.cached_tokens,
        item.system_fingerprint,
    )


def check_agreement(payloads: list[bytes], line_end: bytes) -> None:
    """Untimed: on 300 payloads, in 1, 7, 64 B and 16 KiB pieces, every path must give
    the same chunks, in order, and the same content as the payloads themselves."""
    sample = payloads[:300]
    expected = [_fields(json.loads(p)) for p in sample]
    body = sse_stream(sample, line_end=line_end)
    for size in (1, 7, 64, 16 * 1024):
        chunks = pieces(body, size)
        for path in PATHS:
            got = [_fields(item) for item in path.run(chunks)]
            if got != expected:
                raise AssertionError(f"{path.name} disagrees with the payloads ({size} B pieces)")


# ---------------------------------------------------------------- measuring


def _time_once(run: Runner, chunks: list[bytes], expected: int, name: str) -> float:
    gc.collect()  # start every run from the same heap; GC stays on, as in real use
    start = time.perf_counter()
    kept = run(chunks)
    seconds = time.perf_counter() - start
    if len(kept) != expected:
        raise AssertionError(f"{name} kept {len(kept)} chunks, expected {expected}")
    del kept  # freed outside the clock
    return seconds


@dataclass
class Case:
    """One corpus at one piece size: the timings of every path."""

    corpus: str
    size: int
    events: dict[str, int]  # chunks per run, by path
    body_bytes: int
    timings: dict[str, Timing]

    def rate(self, name: str) -> float:
        return self.timings[name].rate(self.events[name])[0]

    def spread(self, name: str) -> Spread:
        n = self.events[name]
        return Spread.of(n / s for s in self.timings[name].seconds)


def measure(
    corpus: str, line_end: bytes, payloads: list[bytes], short: int, size: int, repeats: int
) -> Case:
    """Every path ``repeats`` times, taking turns within each repeat."""
    body = sse_stream(payloads, line_end=line_end)
    prefix = sse_stream(payloads[:short], line_end=line_end)
    inputs = {False: pieces(body, size), True: pieces(prefix, size)}
    events = {p.name: short if p.short else len(payloads) for p in PATHS}
    seconds: dict[str, list[float]] = {p.name: [] for p in PATHS}
    for _ in range(repeats):
        for p in PATHS:
            seconds[p.name].append(_time_once(p.run, inputs[p.short], events[p.name], p.name))
    return Case(corpus, size, events, len(body), {k: Timing(v) for k, v in seconds.items()})


# ---------------------------------------------------------------- reporting


def rates_table(cases: Sequence[Case]) -> list[str]:
    rows = []
    for case in cases:
        decode = case.rate("xstream decode")
        for p in PATHS:
            rate = case.rate(p.name)
            rows.append(
                [
                    case.corpus,
                    _fmt_size(case.size),
                    p.name,
                    p.output,
                    f"{case.events[p.name]:,}",
                    case.spread(p.name).fmt(),
                    f"{1e6 / rate:.2f}",
                    f"{decode / rate:.2f}x",
                ]
            )
    return table(
        [
            "corpus",
            "piece",
            "path",
            "kept in the list",
            "chunks per run",
            "chunks/s",
            "µs per chunk",
            "xstream decode / this",
        ],
        rows,
        "llllrrrr",
    )


def ratios_table(cases: Sequence[Case]) -> list[str]:
    rows = []
    for case in cases:
        d, s = case.rate("xstream decode"), case.rate("xstream stream path")
        o, h = case.rate("openai Stream"), case.rate("httpx-sse + json.loads")
        rows.append(
            [
                case.corpus,
                _fmt_size(case.size),
                f"{d / o:.1f}x",
                f"{d / h:.2f}x",
                f"{s / o:.1f}x",
                f"{s / h:.2f}x",
                f"{(1 / s - 1 / d) * 1e9:,.0f} ns ({d / s - 1:.0%})",
            ]
        )
    return table(
        [
            "corpus",
            "piece",
            "xstream decode / openai",
            "xstream decode / httpx-sse",
            "stream path / openai",
            "stream path / httpx-sse",
            "stream path overhead per chunk",
        ],
        rows,
        "llrrrrr",
    )


def headline(cases: Sequence[Case]) -> tuple[list[Ratio], list[str]]:
    """The LF corpus at 16 KiB: the target, and the ratios to each peer (no target set
    for those: 1.00 marks parity)."""
    case = next(c for c in cases if c.corpus == "LF" and c.size == 16 * 1024)
    d = case.rate("xstream decode")
    o, h = case.rate("openai Stream"), case.rate("httpx-sse + json.loads")
    ratios = [
        Ratio("decode (LF, 16 KiB): xstream chunks/s / 400,000", d / TARGET_RATE, 1.0),
        Ratio("decode (LF, 16 KiB): xstream / openai Stream, chunks/s", d / o, None),
        Ratio("decode (LF, 16 KiB): xstream / httpx-sse + json.loads, chunks/s", d / h, None),
    ]
    shown = [
        f"{d:,.0f} chunks/s",
        f"{d / o:.1f}x ({o:,.0f} chunks/s)",
        f"{d / h:.2f}x ({h:,.0f} chunks/s)",
    ]
    return ratios, shown


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def profile_xstream(payloads: list[bytes], size: int) -> None:
    """Print where the two xstream paths spend their time (LF, ``size``-byte pieces)."""
    chunks = pieces(sse_stream(payloads), size)
    for run in (run_xstream_decode, run_xstream_stream):
        profiler = cProfile.Profile()
        gc.collect()
        profiler.runcall(run, chunks)
        print(f"\n### cProfile: {run.__name__}, LF, {_fmt_size(size)} pieces\n")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(10)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller inputs, 2 repeats")
    parser.add_argument(
        "--events", type=int, help="chunks per corpus (default 100000, quick 10000)"
    )
    parser.add_argument(
        "--openai-events", type=int, help="chunks for openai (default 5000, quick 500)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="runs per number at 16 KiB (default 5, quick 2); 1 KiB pieces get at most 3",
    )
    parser.add_argument(
        "--results",
        type=Path,
        help=f"write {NAME}.md and its ratios here (default {RESULTS}; "
        "a --quick run writes none unless given)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="afterwards, cProfile the xstream paths"
    )
    args = parser.parse_args(argv)
    events: int = args.events or (10_000 if args.quick else 100_000)
    short: int = min(args.openai_events or (500 if args.quick else 5_000), events)
    repeats: int = args.repeats or (2 if args.quick else 5)
    # 1 KiB pieces are the secondary case: fewer runs keep the default run under 90 s.
    repeats_by_size = {
        size: repeats if size >= 16 * 1024 else min(repeats, 3) for size in PIECE_SIZES
    }
    results: Path | None = args.results or (None if args.quick else RESULTS)
    started = time.perf_counter()

    print(f"{NAME}: building {events:,} chunk payloads ...", file=sys.stderr)
    payloads = chunk_payloads(events)
    for corpus in CORPUS_NAMES:
        check_agreement(payloads, CORPORA[corpus][0])

    cases: list[Case] = []
    for corpus in CORPUS_NAMES:
        for size in PIECE_SIZES:
            reps = repeats_by_size[size]
            print(f"  {corpus}, {_fmt_size(size)} pieces x {reps} ...", file=sys.stderr)
            line_end = CORPORA[corpus][0]
            cases.append(measure(corpus, line_end, payloads, short, size, reps))

    ratios, shown = headline(cases)
    command = " ".join(argv if argv is not None else sys.argv[1:])
    lf = next(c for c in cases if c.corpus == "LF" and c.size == 16 * 1024)
    lines = [
        "# Framing + typed decode: bytes to chunk objects, every chunk kept",
        "",
        *machine_info(),
        f"- also: pydantic {_version('pydantic')} (openai's models)",
        f"- run: `python -m benchmarks.{NAME} {command}`".rstrip()
        + " — median of "
        + ", ".join(f"{n} runs at {_fmt_size(k)}" for k, n in repeats_by_size.items())
        + " (slowest .. fastest run in brackets)",
        "",
        f"The corpus is {events:,} `bench_sse`-shaped chunk events and `data: [DONE]` "
        f"({lf.body_bytes / MiB:.1f} MiB with LF), cut into pieces before the clock. Each run "
        "turns the pieces into chunk objects and appends every one to a list that lives "
        "until the run ends; `gc.collect()` runs before each run and the garbage collector "
        "stays on during it. The paths take turns within each repeat. Each run must keep "
        "exactly its number of chunks; before timing, every path is checked to give the "
        "same chunks (id, model, content, role, usage, fingerprint) on 300 payloads in "
        "1, 7, 64 B and 16 KiB pieces.",
        "",
        f"**openai reads only the first {short:,} chunks** of the same payloads (it is about "
        "70x slower): the rate is what is compared. It is the sync `openai.Stream`; the "
        "`AsyncStream` runs the same loop body inside an async generator and measured a few "
        "percent slower in a probe, so the sync one is the kinder comparison. "
        "**httpx-sse + json.loads keeps untyped `dict`s**: no model is built, and no "
        "`[DONE]` or error handling beyond stopping at `[DONE]`.",
        "",
        "## Chunks per second",
        "",
        *rates_table(cases),
        "",
        "## Ratios (median rates of the same run)",
        "",
        "*stream path* is xstream's `AsyncStream._feed` + `_decode_events`, the per-read code "
        "of the stream: the framing hands it plain events' data (`feed_payloads`), and on top "
        "of the decode it checks `.error`, merges each chunk into the "
        "`ChatCompletionAccumulator` behind `get_final_completion()`, and builds a list per "
        "read (plus per-read stats). Its overhead column is the extra time per chunk over "
        "*xstream decode*. The openai path also checks each payload for an `error` key, "
        "and builds no accumulation.",
        "",
        *ratios_table(cases),
        "",
        "## Targets",
        "",
        *targets_table(ratios, shown),
        "",
        f"Total benchmark time: {time.perf_counter() - started:.0f} s.",
    ]
    emit(NAME, lines, results)
    save_ratios(NAME, ratios, results)
    if args.profile:
        profile_xstream(payloads, 16 * 1024)
    _loop().close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
