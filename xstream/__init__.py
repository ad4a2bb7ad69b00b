"""xstream: fast, correct, leak-free streaming chat completions for xAI and OpenAI-compatible APIs.

The path of the bytes, socket to ``async for`` (imports run the other way,
bottom to top; ``tests/test_architecture.py`` keeps it so)::

    socket ─► _transport (Transport: the one request path; retries, deadlines,
              │            error mapping, redaction, the pool)
              ▼
              _engine (StreamEngine: the one read loop) ◄── _sse (SSEDecoder, sans-IO)
              ▼
              _chat_stream / _event_stream / _response_stream (the stream kinds)
              ▼
              _chat / _responses / _sse_api, held by _client (AsyncClient)
              ▼
              async for ...   or  _portal ─► _sync_stream ─► _sync (Client): a batch
                                  per network read crosses to the caller's thread

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
    NotStreamedError,
    OverloadedError,
    PermissionDeniedError,
    ProtocolError,
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
    from ._chat import DeferredCompletion
    from ._chat_stream import AsyncStream, StreamStats
    from ._client import AsyncClient
    from ._event_stream import EventStream, EventStreamStats
    from ._response_stream import ResponseStream
    from ._response_types import (
        IncompleteDetails,
        InputTokensDetails,
        OutputTokensDetails,
        Response,
        ResponseAnnotation,
        ResponseCompletedEvent,
        ResponseContentPart,
        ResponseContentPartAddedEvent,
        ResponseContentPartDoneEvent,
        ResponseCreatedEvent,
        ResponseError,
        ResponseFailedEvent,
        ResponseFunctionCallArgumentsDeltaEvent,
        ResponseFunctionCallArgumentsDoneEvent,
        ResponseIncompleteEvent,
        ResponseInProgressEvent,
        ResponseOutputItem,
        ResponseOutputItemAddedEvent,
        ResponseOutputItemDoneEvent,
        ResponseOutputTextAnnotationAddedEvent,
        ResponseOutputTextDeltaEvent,
        ResponseOutputTextDoneEvent,
        ResponseQueuedEvent,
        ResponseReasoningSummaryPartAddedEvent,
        ResponseReasoningSummaryPartDoneEvent,
        ResponseReasoningSummaryTextDeltaEvent,
        ResponseReasoningSummaryTextDoneEvent,
        ResponseReasoningTextDeltaEvent,
        ResponseReasoningTextDoneEvent,
        ResponseRefusalDeltaEvent,
        ResponseRefusalDoneEvent,
        ResponseStreamEvent,
        ResponseSummaryPart,
        ResponseToolCallEvent,
        ResponseUsage,
        UnknownResponseEvent,
    )
    from ._sse_api import open_sse
    from ._sync import Client, SyncDeferredCompletion
    from ._sync_stream import Stream, SyncEventStream, SyncResponseStream

# name -> the private module that defines it, imported on first access (PEP 562)
_LAZY = {
    "AsyncClient": "._client",
    "AsyncStream": "._chat_stream",
    "Client": "._sync",
    "DeferredCompletion": "._chat",
    "EventStream": "._event_stream",
    "EventStreamStats": "._event_stream",
    "IncompleteDetails": "._response_types",
    "InputTokensDetails": "._response_types",
    "OutputTokensDetails": "._response_types",
    "Response": "._response_types",
    "ResponseAnnotation": "._response_types",
    "ResponseOutputTextAnnotationAddedEvent": "._response_types",
    "ResponseToolCallEvent": "._response_types",
    "ResponseCompletedEvent": "._response_types",
    "ResponseContentPart": "._response_types",
    "ResponseContentPartAddedEvent": "._response_types",
    "ResponseContentPartDoneEvent": "._response_types",
    "ResponseCreatedEvent": "._response_types",
    "ResponseError": "._response_types",
    "ResponseFailedEvent": "._response_types",
    "ResponseFunctionCallArgumentsDeltaEvent": "._response_types",
    "ResponseFunctionCallArgumentsDoneEvent": "._response_types",
    "ResponseInProgressEvent": "._response_types",
    "ResponseIncompleteEvent": "._response_types",
    "ResponseOutputItem": "._response_types",
    "ResponseOutputItemAddedEvent": "._response_types",
    "ResponseOutputItemDoneEvent": "._response_types",
    "ResponseOutputTextDeltaEvent": "._response_types",
    "ResponseOutputTextDoneEvent": "._response_types",
    "ResponseQueuedEvent": "._response_types",
    "ResponseReasoningSummaryPartAddedEvent": "._response_types",
    "ResponseReasoningSummaryPartDoneEvent": "._response_types",
    "ResponseReasoningSummaryTextDeltaEvent": "._response_types",
    "ResponseReasoningSummaryTextDoneEvent": "._response_types",
    "ResponseReasoningTextDeltaEvent": "._response_types",
    "ResponseReasoningTextDoneEvent": "._response_types",
    "ResponseRefusalDeltaEvent": "._response_types",
    "ResponseRefusalDoneEvent": "._response_types",
    "ResponseStream": "._response_stream",
    "ResponseStreamEvent": "._response_types",
    "ResponseSummaryPart": "._response_types",
    "ResponseUsage": "._response_types",
    "Stream": "._sync_stream",
    "StreamStats": "._chat_stream",
    "SyncDeferredCompletion": "._sync",
    "SyncEventStream": "._sync_stream",
    "SyncResponseStream": "._sync_stream",
    "UnknownResponseEvent": "._response_types",
    "open_sse": "._sse_api",
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
    "DeferredCompletion",
    "EventStream",
    "EventStreamStats",
    "EventTooLargeError",
    "FirstEventTimeoutError",
    "Function",
    "FunctionDelta",
    "IdleTimeoutError",
    "IncompleteDetails",
    "IncompleteStreamError",
    "InputTokensDetails",
    "InternalServerError",
    "InvalidUTF8Error",
    "MalformedEventError",
    "NotFoundError",
    "NotStreamedError",
    "OutputTokensDetails",
    "OverloadedError",
    "PermissionDeniedError",
    "PromptTokensDetails",
    "ProtocolError",
    "RateLimitError",
    "Response",
    "ResponseAnnotation",
    "ResponseCompletedEvent",
    "ResponseContentPart",
    "ResponseContentPartAddedEvent",
    "ResponseContentPartDoneEvent",
    "ResponseCreatedEvent",
    "ResponseError",
    "ResponseFailedEvent",
    "ResponseFunctionCallArgumentsDeltaEvent",
    "ResponseFunctionCallArgumentsDoneEvent",
    "ResponseInProgressEvent",
    "ResponseIncompleteEvent",
    "ResponseOutputItem",
    "ResponseOutputItemAddedEvent",
    "ResponseOutputItemDoneEvent",
    "ResponseOutputTextAnnotationAddedEvent",
    "ResponseOutputTextDeltaEvent",
    "ResponseOutputTextDoneEvent",
    "ResponseQueuedEvent",
    "ResponseReasoningSummaryPartAddedEvent",
    "ResponseReasoningSummaryPartDoneEvent",
    "ResponseReasoningSummaryTextDeltaEvent",
    "ResponseReasoningSummaryTextDoneEvent",
    "ResponseReasoningTextDeltaEvent",
    "ResponseReasoningTextDoneEvent",
    "ResponseRefusalDeltaEvent",
    "ResponseRefusalDoneEvent",
    "ResponseStream",
    "ResponseStreamEvent",
    "ResponseSummaryPart",
    "ResponseToolCallEvent",
    "ResponseUsage",
    "SSEDecoder",
    "ServerSentEvent",
    "ServerStreamError",
    "Stream",
    "StreamDisconnectedError",
    "StreamError",
    "StreamRateLimitError",
    "StreamStats",
    "SyncDeferredCompletion",
    "SyncEventStream",
    "SyncResponseStream",
    "Timeout",
    "TokenLogprob",
    "ToolArgumentsError",
    "ToolCall",
    "ToolCallDelta",
    "TopLogprob",
    "TotalTimeoutError",
    "UnknownResponseEvent",
    "UnprocessableEntityError",
    "Usage",
    "XStreamError",
    "__version__",
    "open_sse",
    "parse_tool_arguments",
]
