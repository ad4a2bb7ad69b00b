"""What a GenAI span says about one call: the request's and the response's
attributes, and (opt-in) the messages' content, in OpenTelemetry's GenAI
semantic conventions.

:mod:`.telemetry` records them; nothing here imports opentelemetry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from .._models.chat import ChatCompletion
from .._models.responses import Response

# Request parameters -> span attributes, with the type each must have.
_FLOAT = (int, float)
_PARAMS: tuple[tuple[str, str, tuple[type, ...]], ...] = (
    ("temperature", "gen_ai.request.temperature", _FLOAT),
    ("top_p", "gen_ai.request.top_p", _FLOAT),
    ("top_k", "gen_ai.request.top_k", _FLOAT),
    ("frequency_penalty", "gen_ai.request.frequency_penalty", _FLOAT),
    ("presence_penalty", "gen_ai.request.presence_penalty", _FLOAT),
    ("max_tokens", "gen_ai.request.max_tokens", (int,)),
    ("max_completion_tokens", "gen_ai.request.max_tokens", (int,)),
    ("max_output_tokens", "gen_ai.request.max_tokens", (int,)),
    ("seed", "gen_ai.request.seed", (int,)),
    ("reasoning_effort", "gen_ai.request.reasoning.level", (str,)),
)


# ---------------------------------------------------------------- attributes


def _error_type(error: BaseException) -> str:
    """``error.type``: the exception's class name (low cardinality, documented)."""
    return type(error).__qualname__


def _request_attributes(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, key, types in _PARAMS:
        value = params.get(name)
        if isinstance(value, types) and not isinstance(value, bool):
            out[key] = value
    stop = params.get("stop")
    if isinstance(stop, str):
        out["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, list | tuple) and all(isinstance(s, str) for s in stop):
        out["gen_ai.request.stop_sequences"] = list(stop)
    n = params.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        out["gen_ai.request.choice.count"] = n
    reasoning = params.get("reasoning")  # the Responses API: {"effort": "high"}
    if isinstance(reasoning, Mapping) and isinstance(reasoning.get("effort"), str):
        out["gen_ai.request.reasoning.level"] = reasoning["effort"]
    output_type = _output_type(params)
    if output_type:
        out["gen_ai.output.type"] = output_type
    return out


def _output_type(params: Mapping[str, Any]) -> str | None:
    fmt = params.get("response_format")
    text = params.get("text")  # the Responses API: {"format": {"type": "json_schema"}}
    if fmt is None and isinstance(text, Mapping):
        fmt = text.get("format")
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind in ("json_object", "json_schema"):
        return "json"
    if fmt is not None and not isinstance(fmt, Mapping):  # response_format=SomeStruct
        return "json"
    return "text" if kind == "text" else None


class _Summary:
    __slots__ = ("attributes", "input_tokens", "output_tokens", "response_model")

    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}
        self.response_model: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None


def _summary(result: object) -> _Summary:
    """The response attributes of a ChatCompletion or a Response (else none)."""
    out = _Summary()
    cached: int | None = None
    written: int | None = None  # tokens written to the provider's cache
    reasoning: int | None = None
    result_id: str | None = None
    model: str | None = None
    if isinstance(result, ChatCompletion):
        reasons = [c.finish_reason for c in result.choices if c.finish_reason]
        result_id, model = result.id, result.model
        usage = result.usage
        if usage is not None:
            out.input_tokens, out.output_tokens = usage.prompt_tokens, usage.completion_tokens
            details = usage.prompt_tokens_details
            if details is not None:
                cached = details.cached_tokens
                written = details.cache_write_tokens
            if usage.completion_tokens_details is not None:
                reasoning = usage.completion_tokens_details.reasoning_tokens
    elif isinstance(result, Response):
        reasons = _response_reasons(result)
        result_id, model = result.id, result.model
        counts = result.usage
        if counts is not None:
            out.input_tokens, out.output_tokens = counts.input_tokens, counts.output_tokens
            if counts.input_tokens_details is not None:
                cached = counts.input_tokens_details.cached_tokens
            if counts.output_tokens_details is not None:
                reasoning = counts.output_tokens_details.reasoning_tokens
    else:
        return out
    attributes = out.attributes
    if result_id:
        attributes["gen_ai.response.id"] = result_id
    if model:
        attributes["gen_ai.response.model"] = out.response_model = model
    if reasons:
        attributes["gen_ai.response.finish_reasons"] = reasons
    if out.input_tokens is not None:
        attributes["gen_ai.usage.input_tokens"] = out.input_tokens
        attributes["gen_ai.usage.output_tokens"] = out.output_tokens
        if cached:
            attributes["gen_ai.usage.cache_read.input_tokens"] = cached
        if written:
            attributes["gen_ai.usage.cache_creation.input_tokens"] = written
        if reasoning:
            attributes["gen_ai.usage.reasoning.output_tokens"] = reasoning
    return out


def _response_reasons(response: Response) -> list[str]:
    """A Responses API status as a finish reason, in the chat completions' words."""
    if response.status == "completed":
        calls = any(item.type == "function_call" for item in response.output)
        return ["tool_calls" if calls else "stop"]
    if response.status == "incomplete":
        reason = response.incomplete_details.reason if response.incomplete_details else None
        return ["length" if reason == "max_output_tokens" else reason or "incomplete"]
    if response.status == "failed":
        return ["error"]
    return []


# ---------------------------------------------------------------- content (opt-in)

_JSON = msgspec.json.Encoder()


def _text_parts(content: object) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[dict[str, Any]] = []
    if isinstance(content, list | tuple):
        for part in content:
            if isinstance(part, Mapping):
                text = part.get("text")
                kind = part.get("type") or "text"
                if isinstance(text, str):
                    parts.append({"type": "text", "content": text})
                else:
                    parts.append({"type": str(kind)})  # an image, a file: named, not copied
    return parts


def _input_content(body: bytes) -> dict[str, str]:
    """``gen_ai.input.messages`` (and ``gen_ai.system_instructions``) from a request body."""
    try:
        sent = msgspec.json.decode(body)
    except ValueError:
        return {}
    if not isinstance(sent, dict):
        return {}
    messages: list[dict[str, Any]] = []
    raw = sent.get("messages")
    if raw is None:  # the Responses API
        given = sent.get("input")
        raw = [{"role": "user", "content": given}] if isinstance(given, str) else given
    for message in raw if isinstance(raw, list) else ():
        if isinstance(message, dict):
            messages.append(_message_parts(message))
    out = {"gen_ai.input.messages": _JSON.encode(messages).decode()}
    instructions = sent.get("instructions")
    if isinstance(instructions, str) and instructions:
        out["gen_ai.system_instructions"] = _JSON.encode(
            [{"type": "text", "content": instructions}]
        ).decode()
    return out


def _message_parts(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    kind = message.get("type")
    if kind == "function_call_output":  # a Responses API input item
        part = {
            "type": "tool_call_response",
            "id": message.get("call_id"),
            "response": message.get("output"),
        }
        return {"role": "tool", "parts": [part]}
    if kind == "function_call":
        call = {
            "type": "tool_call",
            "id": message.get("call_id"),
            "name": message.get("name"),
            "arguments": message.get("arguments"),
        }
        return {"role": "assistant", "parts": [call]}
    if role == "tool":
        part = {
            "type": "tool_call_response",
            "id": message.get("tool_call_id"),
            "response": message.get("content"),
        }
        return {"role": "tool", "parts": [part]}
    parts = _text_parts(message.get("content"))
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict):
            function = call.get("function") or {}
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments"),
                }
            )
    return {"role": role or kind or "user", "parts": parts}


def _output_content(result: object) -> dict[str, str]:
    """``gen_ai.output.messages`` from a ChatCompletion or a Response."""
    messages: list[dict[str, Any]] = []
    if isinstance(result, ChatCompletion):
        for choice in result.choices:
            msg = choice.message
            parts: list[dict[str, Any]] = []
            reasoning = msg.reasoning_content
            if reasoning:
                parts.append({"type": "reasoning", "content": reasoning})
            if msg.content:
                parts.append({"type": "text", "content": msg.content})
            for call in msg.tool_calls or ():
                parts.append(
                    {
                        "type": "tool_call",
                        "id": call.id,
                        "name": call.function.name,
                        "arguments": call.function.arguments,
                    }
                )
            messages.append(
                {"role": "assistant", "parts": parts, "finish_reason": choice.finish_reason}
            )
    elif isinstance(result, Response):
        parts = []
        for item in result.output:
            if item.type == "message":
                parts.extend(
                    {"type": "text", "content": p.text} for p in item.content or () if p.text
                )
            elif item.type == "function_call":
                parts.append(
                    {
                        "type": "tool_call",
                        "id": item.call_id,
                        "name": item.name,
                        "arguments": item.arguments,
                    }
                )
        reasons = _response_reasons(result)
        messages.append(
            {"role": "assistant", "parts": parts, "finish_reason": reasons[0] if reasons else None}
        )
    else:
        return {}
    return {"gen_ai.output.messages": _JSON.encode(messages).decode()}
