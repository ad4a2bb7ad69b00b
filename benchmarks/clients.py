"""The clients the end-to-end benchmarks drive, each written the way its docs show.

Every consumer loop does the same small piece of work per chunk: it reads the first
choice's ``delta.content`` and counts the chunk. Each function measures itself with
a :class:`Stopwatch` that starts just before the request and stops after the last
chunk, so building the client, ``asyncio.run`` and closing stay outside the clock.

* ``xstream-async``: ``xstream.AsyncClient``, ``async for chunk in await create(..., stream=True)``
* ``xstream-sync``: ``xstream.Client``, ``for chunk in create(..., stream=True)``
* ``xstream-otel`` (only when named): ``xstream-async`` with OpenTelemetry on: the SDK's
  tracer and meter providers (a span processor and a metric reader that keep everything
  in memory), so the span and the GenAI metrics of each stream are really recorded
* ``openai-async`` / ``openai-sync``: ``openai.AsyncOpenAI`` / ``openai.OpenAI``
  (``max_retries=0``)
* ``httpx-sse``: ``httpx.AsyncClient`` + ``httpx_sse.aconnect_sse`` + ``json.loads`` per event
* ``floor``: no SDK. aiohttp's ``resp.content.iter_any()``, events cut at ``b"\\n\\n"``
  with ``bytes.find``, each payload decoded by ``msgspec.json.Decoder(xstream's
  ChatCompletionChunk)``. It understands only what the benchmark server sends (LF line
  ends, one ``data:`` line per event), so it is a floor, not a client.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MODEL = "grok-2-latest"
MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "Tell me a long story."}]
API_KEY = "x"  # the benchmark server checks nothing
OPENAI_MESSAGES: Any = MESSAGES  # openai's TypedDict message types, without importing them
REQUEST_BODY = json.dumps({"model": MODEL, "messages": MESSAGES, "stream": True}).encode()


@dataclass
class Stopwatch:
    """Wall and process-CPU seconds between ``start()`` and ``stop()``."""

    wall: float = 0.0
    cpu: float = 0.0
    _wall0: float = field(default=0.0, repr=False)
    _cpu0: float = field(default=0.0, repr=False)

    def start(self) -> None:
        self._wall0, self._cpu0 = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        self.wall = time.perf_counter() - self._wall0
        self.cpu = time.process_time() - self._cpu0


@dataclass(frozen=True)
class Run:
    """One stream read to its end: chunks received, wall and client CPU seconds."""

    chunks: int
    wall: float
    cpu: float


# ---------------------------------------------------------------- one stream each


async def xstream_async(base_url: str) -> Run:
    import xstream

    watch = Stopwatch()
    async with xstream.AsyncClient(api_key=API_KEY, base_url=base_url, max_retries=0) as client:
        watch.start()
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        n = 0
        async for chunk in stream:
            _ = chunk.choices[0].delta.content
            n += 1
        watch.stop()
    return Run(n, watch.wall, watch.cpu)


async def xstream_otel(base_url: str) -> Run:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import xstream

    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    telemetry = xstream.Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    watch = Stopwatch()
    async with xstream.AsyncClient(
        api_key=API_KEY, base_url=base_url, max_retries=0, telemetry=telemetry
    ) as client:
        watch.start()
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        n = 0
        async for chunk in stream:
            _ = chunk.choices[0].delta.content
            n += 1
        watch.stop()
    (span,) = spans.get_finished_spans()  # it was recorded, whole
    assert span.attributes and "gen_ai.response.time_to_first_chunk" in span.attributes
    tracer_provider.shutdown()
    meter_provider.shutdown()
    return Run(n, watch.wall, watch.cpu)


def xstream_sync(base_url: str) -> Run:
    import xstream

    watch = Stopwatch()
    with xstream.Client(api_key=API_KEY, base_url=base_url, max_retries=0) as client:
        watch.start()
        n = 0
        for chunk in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
            _ = chunk.choices[0].delta.content
            n += 1
        watch.stop()
    return Run(n, watch.wall, watch.cpu)


async def openai_async(base_url: str) -> Run:
    import openai

    watch = Stopwatch()
    async with openai.AsyncOpenAI(api_key=API_KEY, base_url=base_url, max_retries=0) as client:
        watch.start()
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=OPENAI_MESSAGES,
            stream=True,
        )
        n = 0
        async for chunk in stream:
            _ = chunk.choices[0].delta.content
            n += 1
        watch.stop()
    return Run(n, watch.wall, watch.cpu)


def openai_sync(base_url: str) -> Run:
    import openai

    watch = Stopwatch()
    with openai.OpenAI(api_key=API_KEY, base_url=base_url, max_retries=0) as client:
        watch.start()
        stream = client.chat.completions.create(
            model=MODEL,
            messages=OPENAI_MESSAGES,
            stream=True,
        )
        n = 0
        for chunk in stream:
            _ = chunk.choices[0].delta.content
            n += 1
        watch.stop()
    return Run(n, watch.wall, watch.cpu)


async def httpx_sse_json(base_url: str) -> Run:
    import httpx
    import httpx_sse

    watch = Stopwatch()
    payload = {"model": MODEL, "messages": MESSAGES, "stream": True}
    async with httpx.AsyncClient(timeout=None) as client:
        watch.start()
        n = 0
        async with httpx_sse.aconnect_sse(
            client, "POST", f"{base_url}/chat/completions", json=payload
        ) as source:
            async for event in source.aiter_sse():
                if event.data == "[DONE]":
                    break
                _ = json.loads(event.data)["choices"][0]["delta"]["content"]
                n += 1
        watch.stop()
    return Run(n, watch.wall, watch.cpu)


def chunk_decoder() -> Callable[[bytes], Any]:
    """``msgspec.json.Decoder(xstream's ChatCompletionChunk).decode``."""
    import msgspec

    from xstream._models.chat import ChatCompletionChunk

    return msgspec.json.Decoder(ChatCompletionChunk).decode


async def floor(base_url: str) -> Run:
    import aiohttp

    decode = chunk_decoder()
    watch = Stopwatch()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession() as session:
        watch.start()
        n = 0
        async with session.post(
            f"{base_url}/chat/completions", data=REQUEST_BODY, headers=headers
        ) as response:
            response.raise_for_status()
            rest = b""
            done = False
            async for data in response.content.iter_any():
                buffer = rest + data if rest else data
                start = 0
                while True:
                    end = buffer.find(b"\n\n", start)
                    if end < 0:
                        break
                    payload = buffer[start + 6 : end]  # after b"data: "
                    start = end + 2
                    if payload == b"[DONE]":
                        done = True
                        break
                    _ = decode(payload).choices[0].delta.content
                    n += 1
                rest = buffer[start:]
                if done:
                    break
        watch.stop()
    return Run(n, watch.wall, watch.cpu)


SyncRunner = Callable[[str], Run]


def _sync(fn: Callable[[str], Any]) -> SyncRunner:
    def run(base_url: str) -> Run:
        result: Run = asyncio.run(fn(base_url))
        return result

    run.__name__ = fn.__name__
    return run


# name -> a blocking call that reads one whole stream from base_url
ONE_STREAM: dict[str, SyncRunner] = {
    "xstream-async": _sync(xstream_async),
    "xstream-sync": xstream_sync,
    "xstream-otel": _sync(xstream_otel),
    "openai-async": _sync(openai_async),
    "openai-sync": openai_sync,
    "httpx-sse": _sync(httpx_sse_json),
    "floor": _sync(floor),
}
# measured only when named in --clients (they need more than the bench extra)
OPTIONAL = frozenset({"xstream-otel"})
