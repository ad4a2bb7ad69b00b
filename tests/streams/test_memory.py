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
