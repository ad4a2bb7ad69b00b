"""OpenTelemetry, native and opt-in: a GenAI client span and the GenAI client metrics.

With ``opentelemetry-api`` installed (``pip install 'xstream-llm[otel]'``) and a
tracer provider set, each chat completion and Responses API call is one span of
kind CLIENT named ``chat {model}``, with the attributes of OpenTelemetry's GenAI
semantic conventions (client inference span: ``gen_ai.operation.name``,
``gen_ai.provider.name``, ``gen_ai.request.*``, ``gen_ai.response.*``,
``gen_ai.usage.*``, ``server.address`` / ``server.port``, ``error.type``). The
span covers the logical operation: every retry (one ``xstream.retry`` event
each) and, for a stream, everything up to its end, however it ends. With a meter
provider, the GenAI client metrics are recorded: ``gen_ai.client.operation.duration``,
``gen_ai.client.token.usage`` and, for streams,
``gen_ai.client.operation.time_to_first_chunk``.

Nothing here imports opentelemetry unless the program already did: with no
``opentelemetry.trace`` / ``opentelemetry.metrics`` in ``sys.modules`` no
provider can have been set, and :meth:`Telemetry.start` returns ``None`` at the
cost of two dictionary lookups per request. The stream kinds do no work per
chunk for telemetry: what a span needs at the end (time to first chunk, usage,
finish reasons) is what the stream keeps anyway.

Message text (``gen_ai.input.messages``, ``gen_ai.output.messages``,
``gen_ai.system_instructions``) is recorded only when asked for:
``Telemetry(capture_content=True)`` (or ``"span_only"``, ``"event_only"``,
``"span_and_event"``), or the same value of
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` in the environment.
What the attributes say is read from the request and the result in
:mod:`.attributes`; this module owns the span, the metrics and when they end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from .._version import __version__
from .attributes import (
    _error_type,
    _input_content,
    _output_content,
    _request_attributes,
    _summary,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

__all__ = [
    "CAPTURE_CONTENT_ENV",
    "CaptureMode",
    "Operation",
    "Telemetry",
    "capture_mode",
    "provider_of",
]

log = logging.getLogger("xstream")

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
CaptureMode = Literal["span_only", "event_only", "span_and_event", "no_content"]
_SCOPE = "xstream"

# The bucket boundaries the GenAI metric conventions ask for.
_SECONDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
_TOKENS = [4.0**i for i in range(14)]  # 1, 4, 16, ..., 67108864

# Known hosts -> gen_ai.provider.name (the conventions' well-known values).
_PROVIDERS = (
    ("x.ai", "x_ai"),
    ("openai.azure.com", "azure.ai.openai"),
    ("openai.com", "openai"),
    ("groq.com", "groq"),
    ("deepseek.com", "deepseek"),
    ("mistral.ai", "mistral_ai"),
    ("perplexity.ai", "perplexity"),
)


def provider_of(host: str) -> str:
    """``gen_ai.provider.name`` for a server host: the conventions' name for the
    providers they know, else ``"openai"`` (the API these servers speak).

    >>> provider_of("api.x.ai"), provider_of("api.openai.com"), provider_of("localhost")
    ('x_ai', 'openai', 'openai')
    """
    host = host.lower().rstrip(".")
    for suffix, name in _PROVIDERS:
        if host == suffix or host.endswith("." + suffix):
            return name
    return "openai"


# Where message content goes: on the span's attributes, in an event on the span.
SPAN, EVENT = 1, 2
_MODES = {
    "true": SPAN,
    "1": SPAN,
    "span_only": SPAN,
    "event_only": EVENT,
    "span_and_event": SPAN | EVENT,
}


def capture_mode(value: bool | str | None) -> int:
    """Where to record message content (``SPAN | EVENT`` bits; 0: nowhere) for a
    ``capture_content`` value: a bool, or one of the values of
    ``$OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (``span_only``,
    ``event_only``, ``span_and_event``, ``true``/``false``, ``no_content``); ``None``
    reads that variable. A value it does not know records nothing."""
    if value is None:
        value = os.environ.get(CAPTURE_CONTENT_ENV, "")
    if isinstance(value, bool):
        return SPAN if value else 0
    return _MODES.get(value.strip().lower(), 0)


class Telemetry:
    """Where xstream's spans and metrics go: ``AsyncClient(telemetry=Telemetry(...))``.

    ``tracer_provider`` / ``meter_provider``: OpenTelemetry providers; ``None``
    (the default) uses the global ones (``trace.set_tracer_provider``, ...), and
    records nothing while none is set. ``capture_content``: record the messages
    sent and received: ``True`` or ``"span_only"`` on the span's attributes,
    ``"event_only"`` in a ``gen_ai.client.inference.operation.details`` event on the
    span, ``"span_and_event"`` both; ``None`` (the default): as
    ``$OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` says (the same values,
    and ``true``), off when it is unset. ``provider_name``: ``gen_ai.provider.name``
    (default: from the host of ``base_url``: ``x_ai`` for api.x.ai, ``openai``
    for api.openai.com and for hosts it does not know).

    >>> from opentelemetry.sdk.trace import TracerProvider     # doctest: +SKIP
    >>> client = xstream.AsyncClient(telemetry=xstream.Telemetry(tracer_provider=TracerProvider()))
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        capture_content: bool | CaptureMode | None = None,
        provider_name: str | None = None,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.capture_content = capture_content
        self.provider_name = provider_name
        self._tracer: tuple[object, Tracer | None] | None = None  # (provider, its tracer)
        self._meters: tuple[object, _Instruments | None] | None = None

    def __repr__(self) -> str:
        return (
            f"<xstream.Telemetry tracer_provider={self.tracer_provider!r} "
            f"meter_provider={self.meter_provider!r} capture_content={self.capture_content!r}>"
        )

    # ------------------------------------------------------------ providers

    def _current_tracer(self) -> Tracer | None:
        provider: object = self.tracer_provider
        if provider is None:
            module = sys.modules.get("opentelemetry.trace")
            if module is None:  # never imported: no provider can be set
                return None
            provider = module.get_tracer_provider()
            if isinstance(provider, module.ProxyTracerProvider | module.NoOpTracerProvider):
                return None
        cached = self._tracer
        if cached is not None and cached[0] is provider:
            return cached[1]
        tracer: Tracer = provider.get_tracer(_SCOPE, __version__)  # type: ignore[attr-defined]
        self._tracer = (provider, tracer)
        return tracer

    def _current_instruments(self) -> _Instruments | None:
        provider: object = self.meter_provider
        if provider is None:
            module = sys.modules.get("opentelemetry.metrics")
            if module is None:
                return None
            provider = module.get_meter_provider()
            # the proxy stands in until a provider is set; its class is private
            if isinstance(provider, module.NoOpMeterProvider) or (
                type(provider).__name__ == "_ProxyMeterProvider"
            ):
                return None
        cached = self._meters
        if cached is not None and cached[0] is provider:
            return cached[1]
        instruments = _Instruments(provider.get_meter(_SCOPE, __version__))  # type: ignore[attr-defined]
        self._meters = (provider, instruments)
        return instruments

    # ------------------------------------------------------------ one request

    def start(
        self,
        *,
        url: str,
        model: str,
        params: Mapping[str, Any],
        stream: bool,
        body: bytes | None,
        redact: Callable[[str], str],
        conversation_id: str | None = None,
    ) -> Operation | None:
        """The operation of one request, its span started; ``None`` when nothing
        would record it. ``params`` are the API parameters as sent (the body's
        fields besides model and messages); ``body`` is read only to capture
        the messages, when asked to."""
        tracer = self._current_tracer()
        instruments = self._current_instruments()
        if tracer is None and instruments is None:
            return None
        from yarl import URL

        where = URL(url)
        host = where.host or ""
        common: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": self.provider_name or provider_of(host),
            "gen_ai.request.model": model,
            "server.address": host,
        }
        if where.port is not None:
            common["server.port"] = where.port
        capture = capture_mode(self.capture_content)
        span = None
        inputs: dict[str, Any] = {}
        if tracer is not None:
            from opentelemetry.trace import SpanKind

            attributes = {**common, **_request_attributes(params)}
            if stream:  # the conventions: set on streamed calls only
                attributes["gen_ai.request.stream"] = True
            if conversation_id:
                attributes["gen_ai.conversation.id"] = conversation_id
            if capture and body:
                inputs = _input_content(body)
                if capture & SPAN:
                    attributes.update(inputs)
            span = tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes)
        operation = Operation(
            span, instruments, common, stream=stream, capture=capture, redact=redact
        )
        if capture & EVENT:
            operation.inputs = inputs
        return operation


class _Instruments:
    """The GenAI client metrics, created once per meter provider."""

    __slots__ = ("duration", "time_to_first_chunk", "tokens")

    def __init__(self, meter: Any) -> None:
        self.duration: Histogram = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_SECONDS,
        )
        self.tokens: Histogram = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKENS,
        )
        self.time_to_first_chunk: Histogram = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=_SECONDS,
        )


class Operation:
    """One GenAI call being recorded: its span (if traced), its metrics (if metered).

    The transport and the stream call it a few times per request, never per chunk:
    ``retry`` before each retry, ``end`` once (later calls do nothing).
    """

    __slots__ = (
        "_clock",
        "_common",
        "_instruments",
        "_redact",
        "_span",
        "_started",
        "capture",
        "ended",
        "inputs",
        "retries",
        "stream",
    )

    def __init__(
        self,
        span: Span | None,
        instruments: _Instruments | None,
        common: dict[str, Any],
        *,
        stream: bool,
        capture: int,
        redact: Callable[[str], str],
    ) -> None:
        self._span = span
        self._instruments = instruments
        self._common = common
        self._redact = redact
        # The clock of the stream's stats (the loop's): a time to first chunk is then
        # never longer than the whole call (uvloop's clock ticks in milliseconds).
        try:
            self._clock = asyncio.get_running_loop().time
        except RuntimeError:
            self._clock = time.monotonic
        self._started = self._clock()
        self.stream = stream
        self.capture = capture  # SPAN | EVENT bits
        self.inputs: dict[str, Any] = {}  # the input content, for the event (EVENT)
        self.retries = 0
        self.ended = False

    def attach(self) -> object:
        """Make this span the current one (work inside the call nests under it);
        returns the token for :meth:`detach`."""
        if self._span is None:
            return None
        from opentelemetry import context
        from opentelemetry.trace import set_span_in_context

        return context.attach(set_span_in_context(self._span))

    def detach(self, token: object) -> None:
        if token is not None:
            from opentelemetry import context

            context.detach(token)  # type: ignore[arg-type]

    def retry(self, error: BaseException, delay: float) -> None:
        """The request is about to be sent again after ``error``, in ``delay`` seconds."""
        self.retries += 1
        span = self._span
        if span is not None:
            span.add_event(
                "xstream.retry",
                {
                    "xstream.retry.attempt": self.retries,
                    "xstream.retry.delay": delay,
                    "error.type": _error_type(error),
                    "xstream.retry.reason": self._redact(str(error))[:500],
                },
            )

    def end(
        self,
        result: object = None,
        *,
        error: BaseException | None = None,
        time_to_first_chunk: float | None = None,
    ) -> None:
        """Record what is known and end the span (once). ``result``: the
        ``ChatCompletion`` or ``Response`` built so far (a stream left early
        passes what arrived); ``error``: what the operation ended with."""
        if self.ended:
            return
        self.ended = True
        try:  # recording must never break the call it records
            self._record(self._clock() - self._started, result, error, time_to_first_chunk)
        except Exception:
            log.warning("could not record the OpenTelemetry span or metrics", exc_info=True)

    def _record(
        self,
        duration: float,
        result: object,
        error: BaseException | None,
        time_to_first_chunk: float | None,
    ) -> None:
        summary = _summary(result)
        span = self._span
        if span is not None:
            attributes = dict(summary.attributes)
            if self.retries:
                attributes["http.request.resend_count"] = self.retries
            if time_to_first_chunk is not None and self.stream:
                attributes["gen_ai.response.time_to_first_chunk"] = time_to_first_chunk
            outputs = _output_content(result) if self.capture and result is not None else {}
            if self.capture & SPAN:
                attributes.update(outputs)
            if self.capture & EVENT and (self.inputs or outputs):
                span.add_event(
                    "gen_ai.client.inference.operation.details", {**self.inputs, **outputs}
                )
            if error is not None:
                attributes["error.type"] = _error_type(error)
                if result is not None:  # cut before its last event: the conventions' reason
                    attributes.setdefault("gen_ai.response.finish_reasons", ["error"])
                status = getattr(error, "status_code", None)
                if isinstance(status, int):
                    attributes["http.response.status_code"] = status
            span.set_attributes(attributes)
            if error is not None:
                from opentelemetry.trace import Status, StatusCode

                message = self._redact(f"{type(error).__name__}: {error}")[:1000]
                span.set_status(Status(StatusCode.ERROR, message))
            span.end()
        instruments = self._instruments
        if instruments is not None:
            common = dict(self._common)
            if summary.response_model:
                common["gen_ai.response.model"] = summary.response_model
            timed = common if error is None else {**common, "error.type": _error_type(error)}
            instruments.duration.record(duration, timed)
            if summary.input_tokens is not None:
                instruments.tokens.record(
                    summary.input_tokens, {**common, "gen_ai.token.type": "input"}
                )
            if summary.output_tokens is not None:
                instruments.tokens.record(
                    summary.output_tokens, {**common, "gen_ai.token.type": "output"}
                )
            if time_to_first_chunk is not None and self.stream:
                instruments.time_to_first_chunk.record(time_to_first_chunk, common)
