"""What the built-in server refuses, as xAI refuses it (``MockServer(strict=True)``,
the default): an unknown model (404), a path without ``/v1`` or unknown (404),
invalid parameters (400), a missing or wrong API key (400: xAI answers a bad key
with 400, not 401). Error bodies have xAI's flat shape, ``{"code": ..., "error": ...}``.

Code tested against a lenient mock passes and then fails against the real API;
``MockServer(strict=False)`` (``xstream serve --lenient``) forgives all of this,
for servers other than xAI's and for tests that do not care.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from aiohttp import web

__all__ = ["XAI_MODELS", "flat_error", "refusal"]

# Model names xAI's API accepts (docs.x.ai models page; aliases included). A test of
# another name: MockServer(models=[...]) adds to these, or strict=False takes any.
XAI_MODELS = frozenset(
    {
        "grok-4",
        "grok-4-latest",
        "grok-4-0709",
        "grok-4-fast",
        "grok-4-fast-reasoning",
        "grok-4-fast-non-reasoning",
        "grok-4-1-fast",
        "grok-4-1-fast-reasoning",
        "grok-4-1-fast-non-reasoning",
        "grok-code-fast-1",
        "grok-3",
        "grok-3-latest",
        "grok-3-mini",
        "grok-3-mini-latest",
        "grok-3-fast",
        "grok-3-mini-fast",
    }
)

_INVALID = "Client specified an invalid argument"
_NOT_FOUND = "Some requested entity was not found"
_CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_ROUTES = ("/v1/chat/completions", "/v1/responses", "/v1/chat/deferred-completion/")


def flat_error(status: int, code: str, message: str) -> web.Response:
    """An error in xAI's flat shape."""
    return web.json_response({"code": code, "error": message}, status=status)


def refusal(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: Any,
    *,
    models: Collection[str],
    api_key: str | None,
) -> web.Response | None:
    """The error xAI would answer this request with, or ``None`` when it would take it."""
    if not path.startswith(_ROUTES) and path != "/v1/responses":
        hint = " (the base URL must end in /v1)" if not path.startswith("/v1/") else ""
        return flat_error(404, _NOT_FOUND, f"No route for {method} {path}{hint}")
    key_error = _key_error(headers, api_key)
    if key_error is not None:
        return flat_error(400, "Incorrect API key provided", key_error)
    if method != "POST" or path.startswith("/v1/chat/deferred-completion/"):
        return None  # GET/DELETE of stored responses, deferred results: no body to check
    if path.startswith("/v1/responses/"):
        return None
    if not isinstance(body, dict):
        return flat_error(400, _INVALID, "The request body is not a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return flat_error(400, _INVALID, "model: a model name is required")
    if model not in models:
        return flat_error(
            404,
            _NOT_FOUND,
            f"The model {model} does not exist or your team does not have access to it.",
        )
    problem = _parameter_problem(body, chat=path == "/v1/chat/completions")
    if problem is not None:
        return flat_error(400, _INVALID, problem)
    return None


def _key_error(headers: Mapping[str, str], api_key: str | None) -> str | None:
    auth = headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "No API key provided: send Authorization: Bearer <key> (from console.x.ai)"
    if api_key is not None and token != api_key:
        shown = f"{token[:2]}***{token[-2:]}" if len(token) > 6 else "***"
        return f"Incorrect API key provided: {shown}. You can obtain an API key from console.x.ai"
    return None


def _parameter_problem(body: Mapping[str, Any], *, chat: bool) -> str | None:
    """What is wrong with the parameters, in words, or ``None``."""
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: a non-empty list of messages is required"
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in _CHAT_ROLES:
                return f"messages[{index}]: each message needs a valid role"
    elif "input" not in body:
        return "input: the input is required"
    limits = ("max_tokens", "max_completion_tokens") if chat else ("max_output_tokens",)
    for name in limits:
        problem = _number(body, name, low=1, whole=True)
        if problem:
            return problem
    return (
        _number(body, "temperature", low=0, high=2)
        or _number(body, "top_p", low=0, high=1)
        or _number(body, "n", low=1, whole=True)
        or _number(body, "presence_penalty", low=-2, high=2)
        or _number(body, "frequency_penalty", low=-2, high=2)
    )


def _number(
    body: Mapping[str, Any],
    name: str,
    *,
    low: float,
    high: float | None = None,
    whole: bool = False,
) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    kinds: tuple[type, ...] = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        return f"{name}: expected {'an integer' if whole else 'a number'}, got {value!r}"
    if value < low or (high is not None and value > high):  # type: ignore[operator]
        bounds = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
        return f"{name}: must be {bounds}, got {value!r}"
    return None
