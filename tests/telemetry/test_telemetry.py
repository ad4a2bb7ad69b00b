"""OpenTelemetry: one GenAI client span per call, and the GenAI client metrics.

Read back from the OpenTelemetry SDK's in-memory span exporter and metric reader,
against the MockServer on 127.0.0.1. Every attribute is asserted by value.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import xstream
from tests.conftest import LOOP
from xstream._telemetry.telemetry import provider_of
from xstream.testing import MockServer, Reply

KEY = "sk-telemetry-secret-key-0123456789"
MESSAGES = [{"role": "user", "content": "one two three"}]  # MockServer: 3 prompt tokens
TEXT = "Hello, world!"  # 4 characters a chunk: 4 content chunks, 4 completion tokens


def after_start(seconds: float) -> bool:
    """A time since the call began, on the loop's clock: positive; uvloop's clock ticks
    in milliseconds, so there a first chunk within the call's first tick reads 0."""
    return seconds > 0 or (LOOP == "uvloop" and seconds == 0)


class Otel:
    """An SDK tracer and meter provider whose output stays in memory."""

    def __init__(self, **options: Any) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = xstream.Telemetry(
            tracer_provider=tracer_provider, meter_provider=meter_provider, **options
        )
        self._providers = (tracer_provider, meter_provider)

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def only_span(self) -> ReadableSpan:
        spans = self.finished()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def points(self) -> dict[str, list[HistogramDataPoint]]:
        data = self.reader.get_metrics_data()
        out: dict[str, list[HistogramDataPoint]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                assert scope.scope.name == "xstream"
                for metric in scope.metrics:
                    out.setdefault(metric.name, []).extend(metric.data.data_points)  # type: ignore[arg-type]
        return out

    def shutdown(self) -> None:
        for provider in self._providers:
            provider.shutdown()


@contextlib.asynccontextmanager
async def serve(otel: Otel) -> AsyncIterator[tuple[MockServer, xstream.AsyncClient]]:
    async with (
        MockServer(strict=False) as srv,
        xstream.AsyncClient(KEY, base_url=srv.base_url, telemetry=otel.telemetry) as client,
    ):
        yield srv, client


@pytest.fixture
def otel() -> Iterator[Otel]:
    recorder = Otel()
    yield recorder
    recorder.shutdown()


def _server_attributes(srv: MockServer) -> dict[str, Any]:
    return {"server.address": "127.0.0.1", "server.port": srv.port}


def _common(srv: MockServer, model: str = "grok-test") -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        **_server_attributes(srv),
    }


def _no_secret(span: ReadableSpan) -> None:
    everything = [dict(span.attributes or {})]
    everything += [dict(event.attributes or {}) for event in span.events]
    text = json.dumps(everything, default=str) + (span.status.description or "")
    assert KEY not in text


# ---------------------------------------------------------------- a streamed chat


async def test_a_streamed_chat_is_one_client_span_with_every_attribute(otel: Otel) -> None:
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(text=TEXT, chunk_size=4))
        async with xstream.AsyncClient(KEY, base_url=srv.base_url, telemetry=otel.telemetry) as c:
            stream = await c.chat.completions.create(
                model="grok-test",
                messages=MESSAGES,
                stream=True,
                temperature=0.25,
                top_p=0.5,
                max_tokens=64,
                frequency_penalty=0.1,
                presence_penalty=0.2,
                seed=7,
                stop=["END"],
                n=1,
            )
            assert otel.finished() == []  # the span lasts as long as the stream
            chunks = [chunk async for chunk in stream]
    span = otel.only_span()
    assert span.name == "chat grok-test"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    ttfc = span.attributes["gen_ai.response.time_to_first_chunk"]  # type: ignore[index]
    assert ttfc == stream.stats.time_to_first_chunk
    assert isinstance(ttfc, float) and after_start(ttfc) and ttfc < 5
    assert dict(span.attributes or {}) == {
        **_common(srv),
        "gen_ai.request.stream": True,
        "gen_ai.request.temperature": 0.25,
        "gen_ai.request.top_p": 0.5,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.frequency_penalty": 0.1,
        "gen_ai.request.presence_penalty": 0.2,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.response.id": chunks[0].id,
        "gen_ai.response.model": "grok-test",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 3,
        "gen_ai.usage.output_tokens": 4,
        "gen_ai.response.time_to_first_chunk": ttfc,
    }
    assert chunks[0].id.startswith("chatcmpl-")
    assert stream.stats.usage is not None
    assert stream.stats.usage.prompt_tokens == 3
    assert stream.stats.usage.completion_tokens == 4
    assert span.events == ()  # no retries, no content
    _no_secret(span)


async def test_a_streamed_chat_records_the_genai_client_metrics(otel: Otel) -> None:
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(text=TEXT, chunk_size=4))
        async with xstream.AsyncClient(KEY, base_url=srv.base_url, telemetry=otel.telemetry) as c:
            stream = await c.chat.completions.create(
                model="grok-test", messages=MESSAGES, stream=True
            )
            async for _ in stream:
                pass
    points = otel.points()
    assert set(points) == {
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.time_to_first_chunk",
    }
    expected = {**_common(srv), "gen_ai.response.model": "grok-test"}
    (duration,) = points["gen_ai.client.operation.duration"]
    assert dict(duration.attributes) == expected
    assert duration.count == 1 and after_start(duration.sum) and duration.sum < 5
    assert list(duration.explicit_bounds)[:3] == [0.01, 0.02, 0.04]
    tokens = {p.attributes["gen_ai.token.type"]: p for p in points["gen_ai.client.token.usage"]}
    assert set(tokens) == {"input", "output"}
    assert dict(tokens["input"].attributes) == {**expected, "gen_ai.token.type": "input"}
    assert (tokens["input"].count, tokens["input"].sum) == (1, 3)
    assert (tokens["output"].count, tokens["output"].sum) == (1, 4)
    assert list(tokens["input"].explicit_bounds)[:4] == [1, 4, 16, 64]
    (ttfc,) = points["gen_ai.client.operation.time_to_first_chunk"]
    assert dict(ttfc.attributes) == expected
    assert ttfc.count == 1
    assert ttfc.sum == pytest.approx(stream.stats.time_to_first_chunk)
    assert ttfc.sum <= duration.sum


# ---------------------------------------------------------------- not streamed


async def test_a_chat_completion_is_a_span_too(otel: Otel) -> None:
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(text=TEXT, chunk_size=4, finish_reason="length"))
        async with xstream.AsyncClient(KEY, base_url=srv.base_url, telemetry=otel.telemetry) as c:
            completion = await c.chat.completions.create(
                model="grok-test", messages=MESSAGES, max_completion_tokens=9, n=1
            )
    span = otel.only_span()
    assert span.name == "chat grok-test"
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        **_common(srv),  # no gen_ai.request.stream: it is set on streamed calls only
        "gen_ai.request.max_tokens": 9,
        "gen_ai.response.id": completion.id,
        "gen_ai.response.model": "grok-test",
        "gen_ai.response.finish_reasons": ("length",),
        "gen_ai.usage.input_tokens": 3,
        "gen_ai.usage.output_tokens": 4,
    }
    points = otel.points()
    assert "gen_ai.client.operation.time_to_first_chunk" not in points  # streams only
    assert points["gen_ai.client.operation.duration"][0].count == 1
    _no_secret(span)


# ---------------------------------------------------------------- retries and failures


async def test_a_retried_request_is_one_span_with_an_event_per_retry(otel: Otel) -> None:
    async with MockServer(strict=False) as srv:
        srv.enqueue(
            Reply(status=503, headers={"retry-after-ms": "1"}),
            Reply(status=503, headers={"retry-after-ms": "1"}),
            Reply(text=TEXT, chunk_size=4),
        )
        async with xstream.AsyncClient(KEY, base_url=srv.base_url, telemetry=otel.telemetry) as c:
            stream = await c.chat.completions.create(
                model="grok-test", messages=MESSAGES, stream=True
            )
            text = "".join([t async for t in stream.text_stream])
        assert len(srv.requests) == 3
    assert text == TEXT
    span = otel.only_span()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["http.request.resend_count"] == 2  # type: ignore[index]
    assert "error.type" not in (span.attributes or {})
    assert [e.name for e in span.events] == ["xstream.retry", "xstream.retry"]
    for number, event in enumerate(span.events, 1):
        attributes = dict(event.attributes or {})
        assert attributes["xstream.retry.attempt"] == number
        assert attributes["error.type"] == "InternalServerError"
        assert attributes["xstream.retry.delay"] == pytest.approx(0.001)
        assert str(attributes["xstream.retry.reason"]).startswith("HTTP 503")
    _no_secret(span)


async def test_a_retry_inside_the_stream_is_an_event_too(otel: Otel) -> None:
    async with MockServer(strict=False) as srv:
        srv.enqueue(
            Reply(
                error_event_after=0,
                error_payload={"error": {"type": "overloaded_error", "message": "busy"}},
            ),
            Reply(text=TEXT),
        )
        async with xstream.AsyncClient(KEY, base_url=srv.base_url, telemetry=otel.telemetry) as c:
            stream = await c.chat.completions.create(
                model="grok-test", messages=MESSAGES, stream=True
            )
            async for _ in stream:
                pass
    span = otel.only_span()
    assert stream.stats.retries == 1
    assert span.attributes["http.request.resend_count"] == 1  # type: ignore[index]
    (event,) = span.events
    assert event.name == "xstream.retry"
    assert event.attributes["error.type"] == "OverloadedError"  # type: ignore[index]


async def test_a_refused_request_sets_error_type_and_status(otel: Otel) -> None:
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(status=401, body=json.dumps({"error": {"message": f"bad key {KEY}"}})))
        async with xstream.AsyncClient(KEY, base_url=srv.base_url, telemetry=otel.telemetry) as c:
            with pytest.raises(xstream.AuthenticationError):
                await c.chat.completions.create(model="grok-test", messages=MESSAGES, stream=True)
    span = otel.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None
    assert span.status.description.startswith("AuthenticationError: HTTP 401: bad key ***")
    assert dict(span.attributes or {}) == {
        **_common(srv),
        "gen_ai.request.stream": True,
        "error.type": "AuthenticationError",
        "http.response.status_code": 401,
    }
    _no_secret(span)
    (duration,) = otel.points()["gen_ai.client.operation.duration"]
    assert dict(duration.attributes) == {**_common(srv), "error.type": "AuthenticationError"}
    assert "gen_ai.client.token.usage" not in otel.points()


async def test_a_stream_that_breaks_ends_its_span_with_the_error(otel: Otel) -> None:
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(text=TEXT * 4, chunk_size=4, drop_after=3))
        async with xstream.AsyncClient(
            KEY, base_url=srv.base_url, telemetry=otel.telemetry, max_retries=0
        ) as c:
            stream = await c.chat.completions.create(
                model="grok-test", messages=MESSAGES, stream=True
            )
            received = 0
            with pytest.raises(xstream.StreamDisconnectedError):
                async for _ in stream:
                    received += 1
    assert received == 3
    span = otel.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "StreamDisconnectedError"  # type: ignore[index]
    assert "gen_ai.response.id" in (span.attributes or {})  # what arrived is kept
    # cut before its last event: the reason the conventions give for that
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)  # type: ignore[index]


# ---------------------------------------------------------------- streams left early


async def test_a_stream_left_early_ends_its_span_with_what_is_known(otel: Otel) -> None:
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(text=TEXT * 10, chunk_size=4, delay=0.001))
        async with xstream.AsyncClient(KEY, base_url=srv.base_url, telemetry=otel.telemetry) as c:
            stream = await c.chat.completions.create(  # usage last: OpenAI's layout
                model="grok-test",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in stream:
                first_id = chunk.id
                break
            span = otel.only_span()  # ended by the break itself, not later
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.response.id"] == first_id
    assert attributes["gen_ai.response.model"] == "grok-test"
    assert after_start(attributes["gen_ai.response.time_to_first_chunk"])
    assert "gen_ai.response.finish_reasons" not in attributes
    assert "gen_ai.usage.input_tokens" not in attributes  # the usage chunk never came
    assert "error.type" not in attributes


async def test_a_stream_never_read_ends_its_span_when_collected(otel: Otel) -> None:
    async with serve(otel) as (_srv, c):
        stream = await c.chat.completions.create(model="grok-test", messages=MESSAGES, stream=True)
        assert otel.finished() == []
        del stream
        gc.collect()
        span = otel.only_span()
    assert span.name == "chat grok-test"
    assert span.status.status_code is StatusCode.UNSET


async def test_a_traced_stream_dropped_mid_read_frees_its_record_without_the_collector(
    otel: Otel,
) -> None:
    """The request (untracked by the collector) and its telemetry record must not refer
    to each other: the collector would never free such a cycle. With the collector
    off, dropping a stream left mid-read frees its record and ends its span."""
    from xstream._telemetry.telemetry import Operation

    def records() -> int:
        return sum(1 for o in gc.get_objects() if type(o) is Operation)

    async with serve(otel) as (_srv, c):
        gc.collect()
        before = records()
        gc.disable()
        try:
            stream = await c.chat.completions.create(
                model="grok-test", messages=MESSAGES, stream=True
            )
            chunks = aiter(stream)
            await anext(chunks)
            assert records() == before + 1
            assert not gc.is_tracked(stream._request)
            del stream, chunks
            assert records() == before  # freed by reference counting alone
        finally:
            gc.enable()
        span = otel.only_span()
    assert span.name == "chat grok-test"


async def test_a_cancelled_stream_ends_its_span(otel: Otel) -> None:
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(text=TEXT, stall_after=1, stall_seconds=30))
        async with xstream.AsyncClient(KEY, base_url=srv.base_url, telemetry=otel.telemetry) as c:
            stream = await c.chat.completions.create(
                model="grok-test", messages=MESSAGES, stream=True
            )

            async def read() -> None:
                async for _ in stream:
                    pass

            task = asyncio.create_task(read())
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    span = otel.only_span()
    assert span.attributes["error.type"] == "CancelledError"  # type: ignore[index]


async def test_aclose_ends_the_span(otel: Otel) -> None:
    async with serve(otel) as (_srv, c):
        stream = await c.chat.completions.create(model="grok-test", messages=MESSAGES, stream=True)
        async with stream:
            pass
        assert len(otel.finished()) == 1
        await stream.aclose()
    assert len(otel.finished()) == 1  # once


# ---------------------------------------------------------------- Responses, sync


async def test_a_responses_stream_is_a_span_with_the_final_response(otel: Otel) -> None:
    async with serve(otel) as (srv, c):
        stream = await c.responses.create(
            model="grok-4",
            input="Who wrote the Guide?",
            stream=True,
            max_output_tokens=100,
            temperature=0.5,
            reasoning={"effort": "low"},
        )
        final = await stream.get_final_response()
    span = otel.only_span()
    assert span.name == "chat grok-4"
    assert span.kind is SpanKind.CLIENT
    assert final.usage is not None
    ttfc = stream.stats.time_to_first_event
    assert dict(span.attributes or {}) == {
        **_common(srv, "grok-4"),
        "gen_ai.request.stream": True,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.reasoning.level": "low",
        "gen_ai.response.id": final.id,
        "gen_ai.response.model": "grok-4",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": final.usage.input_tokens,
        "gen_ai.usage.output_tokens": final.usage.output_tokens,
        "gen_ai.usage.reasoning.output_tokens": 7,
        "gen_ai.response.time_to_first_chunk": ttfc,
    }
    assert final.id.startswith("resp_")
    assert final.usage.input_tokens == 4  # the words of the input
    (usage_in,) = [
        p
        for p in otel.points()["gen_ai.client.token.usage"]
        if p.attributes["gen_ai.token.type"] == "input"
    ]
    assert usage_in.sum == 4


async def test_a_response_not_streamed(otel: Otel) -> None:
    async with serve(otel) as (_srv, c):
        response = await c.responses.create(model="grok-4", input="Hi there")
    span = otel.only_span()
    assert "gen_ai.request.stream" not in (span.attributes or {})  # streamed calls only
    assert span.attributes["gen_ai.response.id"] == response.id  # type: ignore[index]
    assert span.attributes["gen_ai.usage.input_tokens"] == 2  # type: ignore[index]


def test_the_sync_client_records_the_same_span(otel: Otel) -> None:
    with MockServer.running_in_thread(strict=False) as srv:
        srv.enqueue(Reply(text=TEXT, chunk_size=4), Reply(text=TEXT * 10, delay=0.001))
        with xstream.Client(KEY, base_url=srv.base_url, telemetry=otel.telemetry) as client:
            stream = client.chat.completions.create(
                model="grok-test", messages=MESSAGES, stream=True
            )
            text = "".join(stream.text_stream)
            # left early, the sync way
            early = client.chat.completions.create(
                model="grok-test", messages=MESSAGES, stream=True
            )
            for _ in early:
                break
            early.close()
    assert text == TEXT
    first, second = otel.finished()
    assert first.name == second.name == "chat grok-test"
    assert first.attributes["gen_ai.usage.output_tokens"] == 4  # type: ignore[index]
    assert first.attributes["gen_ai.response.finish_reasons"] == ("stop",)  # type: ignore[index]
    assert "gen_ai.response.finish_reasons" not in (second.attributes or {})


# ---------------------------------------------------------------- content


async def test_no_message_content_by_default(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(text=TEXT))
        async with xstream.AsyncClient(KEY, base_url=srv.base_url, telemetry=otel.telemetry) as c:
            await c.chat.completions.create(model="grok-test", messages=MESSAGES)
    span = otel.only_span()
    dumped = json.dumps(dict(span.attributes or {}))
    assert "one two three" not in dumped and TEXT not in dumped
    assert not {"gen_ai.input.messages", "gen_ai.output.messages"} & set(span.attributes or {})


async def test_content_when_asked_for(otel: Otel) -> None:
    asked = Otel(capture_content=True)
    try:
        async with MockServer(strict=False) as srv:
            srv.enqueue(Reply(text=TEXT, chunk_size=4))
            async with xstream.AsyncClient(
                KEY, base_url=srv.base_url, telemetry=asked.telemetry
            ) as c:
                stream = await c.chat.completions.create(
                    model="grok-test",
                    messages=[{"role": "system", "content": "Be brief."}, *MESSAGES],
                    stream=True,
                )
                async for _ in stream:
                    pass
        span = asked.only_span()
        attributes = dict(span.attributes or {})
        assert json.loads(str(attributes["gen_ai.input.messages"])) == [
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "one two three"}]},
        ]
        assert json.loads(str(attributes["gen_ai.output.messages"])) == [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": TEXT}],
                "finish_reason": "stop",
            }
        ]
        _no_secret(span)
    finally:
        asked.shutdown()


async def test_content_by_environment(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    async with serve(otel) as (_srv, c):
        response = await c.responses.create(
            model="grok-4", input="Who wrote it?", instructions="Answer in one line."
        )
    attributes = dict(otel.only_span().attributes or {})
    assert json.loads(str(attributes["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Who wrote it?"}]}
    ]
    assert json.loads(str(attributes["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "Answer in one line."}
    ]
    output = json.loads(str(attributes["gen_ai.output.messages"]))
    assert output[0]["parts"] == [{"type": "text", "content": response.output_text}]


@pytest.mark.parametrize(
    ("value", "on_span", "in_event"),
    [
        ("span_only", True, False),
        ("event_only", False, True),
        ("span_and_event", True, True),
        ("true", True, False),
        ("TRUE", True, False),
        ("false", False, False),
        ("no_content", False, False),
        ("bogus", False, False),
    ],
)
async def test_the_conventions_capture_values(
    monkeypatch: pytest.MonkeyPatch, value: str, on_span: bool, in_event: bool
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    otel = Otel()
    try:
        async with MockServer(strict=False) as srv:
            srv.enqueue(Reply(text=TEXT))
            async with xstream.AsyncClient(
                KEY, base_url=srv.base_url, telemetry=otel.telemetry
            ) as c:
                await c.chat.completions.create(model="grok-test", messages=MESSAGES)
        span = otel.only_span()
        attributes = dict(span.attributes or {})
        content = {"gen_ai.input.messages", "gen_ai.output.messages"}
        assert (content <= set(attributes)) is on_span
        if not on_span:
            assert not content & set(attributes)
        events = [e for e in span.events if e.name == "gen_ai.client.inference.operation.details"]
        assert bool(events) is in_event
        if in_event:
            (event,) = events
            details = dict(event.attributes or {})
            assert content <= set(details)
            assert TEXT in str(details["gen_ai.output.messages"])
        _no_secret(span)
    finally:
        otel.shutdown()


async def test_capture_content_takes_the_conventions_values_too() -> None:
    otel = Otel(capture_content="event_only")
    try:
        async with MockServer(strict=False) as srv:
            srv.enqueue(Reply(text=TEXT))
            async with xstream.AsyncClient(
                KEY, base_url=srv.base_url, telemetry=otel.telemetry
            ) as c:
                await c.chat.completions.create(model="grok-test", messages=MESSAGES)
        span = otel.only_span()
        assert "gen_ai.output.messages" not in (span.attributes or {})
        assert [e.name for e in span.events] == ["gen_ai.client.inference.operation.details"]
    finally:
        otel.shutdown()


async def test_cache_writes_are_recorded_by_their_current_name(otel: Otel) -> None:
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 2,
        "total_tokens": 12,
        "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 6},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "grok-test",
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
        ],
        "usage": usage,
    }
    body = b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n"
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(body=body, content_type="text/event-stream"))
        async with xstream.AsyncClient(KEY, base_url=srv.base_url, telemetry=otel.telemetry) as c:
            stream = await c.chat.completions.create(
                model="grok-test", messages=MESSAGES, stream=True
            )
            async for _ in stream:
                pass
    attributes = dict(otel.only_span().attributes or {})
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 4
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 6
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 1
    assert attributes["gen_ai.request.stream"] is True


# ---------------------------------------------------------------- off


async def test_nothing_is_recorded_without_a_provider() -> None:
    # This process sets no global provider: the default client records nothing,
    # and the request carries no operation at all (no per-chunk work, no span).
    from opentelemetry import metrics, trace

    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert type(metrics.get_meter_provider()).__name__ == "_ProxyMeterProvider"
    async with MockServer(strict=False) as srv:
        async with xstream.AsyncClient(KEY, base_url=srv.base_url) as c:
            stream = await c.chat.completions.create(
                model="grok-test", messages=MESSAGES, stream=True
            )
            assert stream._op is None
            async for _ in stream:
                pass
        async with xstream.AsyncClient(KEY, base_url=srv.base_url, telemetry=False) as c:
            stream = await c.chat.completions.create(
                model="grok-test", messages=MESSAGES, stream=True
            )
            assert stream._op is None
            await stream.aclose()


async def test_the_event_streams_are_not_genai_spans(otel: Otel) -> None:
    async with serve(otel) as (_srv, c):
        stream = await c.sse(
            "POST", "chat/completions", json={"model": "m", "messages": [], "stream": True}
        )
        async for _ in stream:
            pass
    assert otel.finished() == []


def test_provider_names_follow_the_host() -> None:
    assert provider_of("api.x.ai") == "x_ai"
    assert provider_of("us-east-1.api.x.ai") == "x_ai"
    assert provider_of("api.openai.com") == "openai"
    assert provider_of("me.openai.azure.com") == "azure.ai.openai"
    assert provider_of("api.groq.com") == "groq"
    assert provider_of("notx.ai") == "openai"  # a suffix match is on a dot
    assert provider_of("127.0.0.1") == "openai"
    assert xstream.Telemetry(provider_name="vllm").provider_name == "vllm"


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


_STREAM = """
    import asyncio, sys
    import xstream
    from xstream.testing import MockServer

    async def main():
        async with MockServer(strict=False) as srv:
            async with xstream.AsyncClient("k", base_url=srv.base_url) as client:
                stream = await client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
                async for _ in stream:
                    pass
                return stream

    stream = asyncio.run(main())
"""


def test_a_stream_does_not_import_opentelemetry() -> None:
    out = _run(
        _STREAM
        + """
    print(stream._op, sorted(m for m in sys.modules if m.startswith("opentelemetry")))
    """
    )
    assert out == "None []"


def test_without_opentelemetry_installed_everything_works() -> None:
    blocked = """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "opentelemetry":
                raise ImportError("blocked: " + name)
    sys.meta_path.insert(0, Block())
    """
    out = _run(
        blocked
        + _STREAM
        + """
    print(stream.stats.done, stream._op)
    """
    )
    assert out == "True None"


def test_the_global_providers_are_used_when_set() -> None:
    out = _run(
        """
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    """
        + _STREAM
        + """
    (span,) = exporter.get_finished_spans()
    print(span.name, span.attributes["gen_ai.response.finish_reasons"])
    """
    )
    assert out == "chat m ('stop',)"


async def test_the_span_is_a_child_of_the_callers_span(otel: Otel) -> None:
    tracer = otel.telemetry.tracer_provider.get_tracer("app")  # type: ignore[union-attr]
    async with serve(otel) as (_srv, c):
        with tracer.start_as_current_span("handle request") as parent:
            await c.chat.completions.create(model="grok-test", messages=MESSAGES)
    child, outer = otel.finished()
    assert (child.name, outer.name) == ("chat grok-test", "handle request")
    assert child.parent is not None
    assert child.parent.span_id == parent.get_span_context().span_id


def test_telemetry_must_be_a_telemetry_or_a_bool() -> None:
    with pytest.raises(xstream.ConfigurationError, match="telemetry must be"):
        xstream.AsyncClient(KEY, telemetry="yes")  # type: ignore[arg-type]


async def test_a_failure_to_record_never_breaks_the_call(
    otel: Otel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(result: object) -> None:
        raise RuntimeError("exporter trouble")

    monkeypatch.setattr("xstream._telemetry.telemetry._summary", broken)
    async with serve(otel) as (_srv, c):
        stream = await c.chat.completions.create(model="grok-test", messages=MESSAGES, stream=True)
        text = "".join([t async for t in stream.text_stream])
    assert text and stream.stats.done
    assert "could not record the OpenTelemetry span" in caplog.text


async def test_the_typed_event_stream_helper_is_traced_whole(otel: Otel) -> None:
    async with serve(otel) as (srv, c):
        srv.enqueue(Reply(text=TEXT, chunk_size=4))
        async with c.chat.completions.stream(model="grok-test", messages=MESSAGES) as stream:
            async for _ in stream:
                pass
            completion = await stream.get_final_completion()
    attributes = dict(otel.only_span().attributes or {})
    assert attributes["gen_ai.response.id"] == completion.id
    assert attributes["gen_ai.response.model"] == "grok-test"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.output_tokens"] == 4


async def test_a_traced_stream_records_what_arrived_the_completion_what_the_loop_saw(
    otel: Otel,
) -> None:
    async with MockServer(strict=False) as srv:
        srv.enqueue(Reply(text="abcdef", chunk_size=1))  # one read brings it all, [DONE] too
        async with xstream.AsyncClient(KEY, base_url=srv.base_url, telemetry=otel.telemetry) as c:
            stream = await c.chat.completions.create(
                model="grok-test", messages=MESSAGES, stream=True
            )
            async for _ in stream:
                break
            completion = await stream.get_final_completion()
            span = otel.only_span()
    assert completion.choices[0].message.content == "a" and stream.left_early
    attributes = dict(span.attributes or {})
    assert tuple(attributes["gen_ai.response.finish_reasons"]) == ("stop",)  # the wire's
    assert attributes["gen_ai.usage.output_tokens"] == 6
