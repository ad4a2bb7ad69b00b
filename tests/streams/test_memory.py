"""Nothing hoarded: what a stream keeps while it runs costs about its text, or nothing.

A long answer read by a slow consumer must not grow memory by an object per delta:
a chunk stream keeps, for ``get_final_completion()``, the text at about its own size
(:class:`~xstream._protocol.accumulate.Pieces`), and with ``accumulate=False``
nothing at all. Measured with tracemalloc over 1,000,000 chunks from a real server.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

import xstream
from tests.conftest import KEY, RawServe
from xstream._protocol.accumulate import _BLOCK, Pieces

CHUNKS = 1_000_000
TEXT = "ab"  # each chunk's content: 2 bytes of text kept per chunk, at most
HEAD = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
)
CHUNK = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"' + TEXT.encode() + b'"}}]}\n\n'
)
BODY = HEAD + CHUNK * CHUNKS + b"data: [DONE]\n\n"
SLACK = 3_000_000  # bytes: buffers in flight, the pieces not yet joined, the loop's own


@pytest.fixture
async def base_url(raw_server: RawServe) -> str:
    view = memoryview(BODY)  # written 64 KiB at a time, without a copy
    pieces = [view[i : i + (1 << 16)] for i in range(0, len(view), 1 << 16)]
    return await raw_server(pieces)  # type: ignore[arg-type]  # memoryviews, written as bytes


async def _growth(base_url: str, *, accumulate: bool) -> tuple[int, int, xstream.AsyncStream]:
    """What the stream held at its worst beyond what it held 10,000 chunks in, read
    by a consumer that pauses (so the server gets ahead); and the chunks read."""
    async with xstream.AsyncClient(KEY, base_url=base_url, telemetry=False) as client:
        gc.collect()
        tracemalloc.start()
        try:
            stream = await client.chat.completions.create(
                model="m", messages=[], stream=True, accumulate=accumulate
            )
            count, start, worst = 0, 0, 0
            async for _ in stream:
                count += 1
                if count == 10_000:
                    start = tracemalloc.get_traced_memory()[0]
                elif count % 50_000 == 0:
                    await asyncio.sleep(0.005)  # a slow consumer
                    worst = max(worst, tracemalloc.get_traced_memory()[0] - start)
        finally:
            tracemalloc.stop()
    return worst, count, stream


@pytest.mark.timeout(120)
async def test_a_long_stream_keeps_its_text_not_an_object_per_delta(base_url: str) -> None:
    worst, count, stream = await _growth(base_url, accumulate=True)
    assert count == CHUNKS + 1
    text = len(TEXT) * CHUNKS
    assert worst < text + SLACK, f"{worst / count:.1f} bytes kept per chunk"
    completion = await stream.get_final_completion()
    assert completion.choices[0].message.content == TEXT * CHUNKS  # nothing lost on the way


@pytest.mark.timeout(120)
async def test_a_stream_that_accumulates_nothing_stays_flat(base_url: str) -> None:
    worst, count, stream = await _growth(base_url, accumulate=False)
    assert count == CHUNKS + 1
    assert worst < SLACK
    with pytest.raises(xstream.NotAccumulatedError, match="accumulate=False"):
        await stream.get_final_completion()


@given(st.lists(st.text(max_size=5), max_size=600), st.integers(1, 50))
def test_pieces_keep_the_text_whatever_the_compactions(pieces: list[str], every: int) -> None:
    kept = Pieces()
    for index, piece in enumerate(pieces):
        kept.append(piece)
        if index % every == 0:
            kept.compact()
            assert len(kept) <= 2 * _BLOCK + len(pieces) // _BLOCK**2 + 1
    assert "".join(kept) == "".join(pieces)


SLOW_STREAMS = 8
SLOW_CHUNKS = 40_000
SLOW_BODY = HEAD + CHUNK * SLOW_CHUNKS + b"data: [DONE]\n\n"  # 3.9 MiB each


@pytest.mark.timeout(120)
async def test_slow_consumers_side_by_side_hold_a_bounded_buffer_each(raw_server: RawServe) -> None:
    """Many slow consumers on one client, each behind a server that writes its whole
    body as fast as it can: what the client holds is bounded per connection (flow
    control pauses each socket once its reader holds enough), not the bodies'
    size; every chunk still arrives, in order, on every stream."""
    view = memoryview(SLOW_BODY)
    pieces = [view[i : i + (1 << 16)] for i in range(0, len(view), 1 << 16)]
    base_url = await raw_server(pieces)  # type: ignore[arg-type]  # memoryviews, written as bytes
    async with xstream.AsyncClient(
        KEY, base_url=base_url, telemetry=False, max_retries=0
    ) as client:
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]

            async def slow() -> int:
                stream = await client.chat.completions.create(
                    model="m", messages=[], stream=True, accumulate=False
                )
                count = 0
                async for chunk in stream:
                    assert chunk.choices[0].delta.content == ("" if count == 0 else TEXT)
                    count += 1
                    if count % 200 == 0:
                        await asyncio.sleep(0.005)  # far slower than the server writes
                return count

            counts = await asyncio.gather(*(slow() for _ in range(SLOW_STREAMS)))
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    assert counts == [SLOW_CHUNKS + 1] * SLOW_STREAMS
    # at worst a stream holds aiohttp's buffer, a read's bytes and their chunks being
    # decoded (measured: 1.3 MiB a stream, the same for bodies twice as long); with
    # the socket never paused, each body piles up whole (measured: 5.1 MiB a stream)
    assert peak < SLOW_STREAMS * 2_000_000, f"{peak / SLOW_STREAMS / 1024:.0f} KiB per stream"
