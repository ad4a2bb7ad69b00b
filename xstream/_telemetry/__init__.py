"""Floor 3: the OpenTelemetry span and metrics of one GenAI call (:mod:`.telemetry`) and what
they record (:mod:`.attributes`)."""
