"""xstream: fast, correct, leak-free streaming chat completions for xAI and OpenAI-compatible APIs.

The transport (aiohttp) and the sync facade's loop (anyio) load on first use of
the names that need them, so ``import xstream`` stays cheap for code (and
command lines) that only touch types, errors or the decoder.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._accumulate import ChatCompletionAccumulator, ToolArgumentsError, parse_tool_arguments
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ConnectTimeoutError,
    EventTooLargeError,
    FirstEventTimeoutError,
    IdleTimeoutError,
    IncompleteStreamError,
    InternalServerError,
    InvalidUTF8Error,
    MalformedEventError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    ServerStreamError,
    StreamDisconnectedError,
    StreamError,
    StreamRateLimitError,
    TotalTimeoutError,
    UnprocessableEntityError,
    XStreamError,
)
from ._sse import ServerSentEvent, SSEDecoder
from ._timeouts import Timeout
from ._types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ChoiceLogprobs,
    ChunkChoice,
    CompletionTokensDetails,
    Function,
    FunctionDelta,
    PromptTokensDetails,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    TopLogprob,
    Usage,
)
from ._version import __version__

if TYPE_CHECKING:
    from ._client import AsyncClient
    from ._stream import AsyncStream, StreamStats
    from ._sync import Client, Stream

# name -> the private module that defines it, imported on first access (PEP 562)
_LAZY = {
    "AsyncClient": "._client",
    "AsyncStream": "._stream",
    "Client": "._sync",
    "Stream": "._sync",
    "StreamStats": "._stream",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'xstream' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "ChatCompletion",
    "ChatCompletionAccumulator",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "Choice",
    "ChoiceDelta",
    "ChoiceLogprobs",
    "ChunkChoice",
    "Client",
    "CompletionTokensDetails",
    "ConfigurationError",
    "ConflictError",
    "ConnectTimeoutError",
    "EventTooLargeError",
    "FirstEventTimeoutError",
    "Function",
    "FunctionDelta",
    "IdleTimeoutError",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidUTF8Error",
    "MalformedEventError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "PromptTokensDetails",
    "RateLimitError",
    "SSEDecoder",
    "ServerSentEvent",
    "ServerStreamError",
    "Stream",
    "StreamDisconnectedError",
    "StreamError",
    "StreamRateLimitError",
    "StreamStats",
    "Timeout",
    "TokenLogprob",
    "ToolArgumentsError",
    "ToolCall",
    "ToolCallDelta",
    "TopLogprob",
    "TotalTimeoutError",
    "UnprocessableEntityError",
    "Usage",
    "XStreamError",
    "__version__",
    "parse_tool_arguments",
]
