"""Typed events over a chat stream: what the chunks mean, as they arrive.

``client.chat.completions.stream(...)`` gives these events, with the OpenAI
SDK's names, fields and order, so code ports by changing the import:

* ``chunk`` for every chunk, with the completion so far (``snapshot``);
* ``content.delta`` / ``content.done``, ``refusal.delta`` / ``refusal.done``;
* ``tool_calls.function.arguments.delta`` / ``.done``: ``done`` as soon as the
  call is complete (the next call, content or the end of the choice begins),
  not at the end of the stream, so a tool can start while the model goes on;
* ``logprobs.content.delta`` / ``.done``, ``logprobs.refusal.delta`` / ``.done``;
* and what the OpenAI SDK lacks: ``reasoning.delta`` / ``reasoning.done``.

With ``response_format=T``, ``content.delta`` carries ``parsed``: the object
so far, from :class:`~xstream._protocol.partial.PartialJSON` (each character read
once: linear in the length of the answer, where re-parsing the whole text per
delta is quadratic); ``content.done`` carries the ``T``.

The state machine (:class:`ChatCompletionStreamState`) is sans-IO: chunks in,
events out. The async stream and the sync facade drive the same one.

Text snapshots (``snapshot`` of a delta, ``arguments`` so far) are built when
read, from the text already kept for the final completion, so a stream whose
snapshots nobody reads costs no string copies.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, Union

import msgspec

from .._models.chat import ChatCompletionChunk, ParsedChatCompletion, TokenLogprob
from .accumulate import _join

__all__ = [
    "ChatCompletionStreamEvent",
    "ChunkEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "FunctionToolCallArgumentsDeltaEvent",
    "FunctionToolCallArgumentsDoneEvent",
    "LogprobsContentDeltaEvent",
    "LogprobsContentDoneEvent",
    "LogprobsRefusalDeltaEvent",
    "LogprobsRefusalDoneEvent",
    "ReasoningDeltaEvent",
    "ReasoningDoneEvent",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
]

T = TypeVar("T")


class _Snapshots(Protocol):
    """What a chunk event reads its snapshot from (the stream's state)."""

    @property
    def current_completion_snapshot(self) -> ParsedChatCompletion[Any]: ...


# -- events ---------------------------------------------------------------------------------


class _Event(msgspec.Struct, gc=False):
    """Base of the events: ``type`` names the kind; ``to_dict()`` gives the fields.

    Structs (built in C: an event costs a third of a Python object) that hold
    no reference back to the stream's events, hence untracked by the GC. Fields
    with a leading underscore are where a snapshot is read from when asked for.
    """

    type: ClassVar[str]
    _fields: ClassVar[tuple[str, ...]]

    def to_dict(self) -> dict[str, Any]:
        """The event's fields (``type`` first), as the OpenAI SDK's ``model_dump()`` has them."""
        return {"type": self.type, **{name: getattr(self, name) for name in self._fields}}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({fields})"


class _Text:
    """Where a snapshot of a growing text is read from: its pieces, joined on demand."""

    __slots__ = ("pieces",)

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces

    def upto(self, length: int) -> str:
        text = _join(self.pieces) or ""
        return text if len(text) == length else text[:length]


class ChunkEvent(_Event):
    """Every chunk, with ``snapshot``: the completion so far (``ParsedChatCompletion``).

    The snapshot is built when first read, from the stream's state at that time:
    read it while handling the event (a later read shows the stream as it is then,
    as the OpenAI SDK's snapshot, which it updates in place, does)."""

    type: ClassVar[Literal["chunk"]] = "chunk"
    _fields = ("chunk", "snapshot")
    chunk: ChatCompletionChunk
    _state: _Snapshots
    _snapshot: ParsedChatCompletion[Any] | None = None

    @property
    def snapshot(self) -> ParsedChatCompletion[Any]:
        if self._snapshot is None:
            self._snapshot = self._state.current_completion_snapshot
        return self._snapshot


class ContentDeltaEvent(_Event):
    """New content: ``delta``, ``snapshot`` (the content so far) and, with a
    ``response_format`` type, ``parsed``: the object so far (closed values complete,
    an open string as far as it arrived; closed objects typed where the type says)."""

    type: ClassVar[Literal["content.delta"]] = "content.delta"
    _fields = ("delta", "snapshot", "parsed")
    delta: str
    _text: _Text
    _length: int
    parsed: Any

    @property
    def snapshot(self) -> str:
        return self._text.upto(self._length)


class ContentDoneEvent(_Event, Generic[T]):
    """The content is complete: ``content`` and ``parsed`` (the ``T``, or ``None``)."""

    type: ClassVar[Literal["content.done"]] = "content.done"
    _fields = ("content", "parsed")
    content: str
    parsed: T | None


class RefusalDeltaEvent(_Event):
    """New refusal text: ``delta`` and ``snapshot`` (the refusal so far)."""

    type: ClassVar[Literal["refusal.delta"]] = "refusal.delta"
    _fields = ("delta", "snapshot")
    delta: str
    _text: _Text
    _length: int

    @property
    def snapshot(self) -> str:
        return self._text.upto(self._length)


class RefusalDoneEvent(_Event):
    """The refusal is complete: ``refusal``."""

    type: ClassVar[Literal["refusal.done"]] = "refusal.done"
    _fields = ("refusal",)
    refusal: str


class ReasoningDeltaEvent(_Event):
    """New reasoning text (xAI's ``reasoning_content``, or ``reasoning``):
    ``delta`` and ``snapshot`` (the reasoning so far). Not in the OpenAI SDK."""

    type: ClassVar[Literal["reasoning.delta"]] = "reasoning.delta"
    _fields = ("delta", "snapshot")
    delta: str
    _text: _Text
    _length: int

    @property
    def snapshot(self) -> str:
        return self._text.upto(self._length)


class ReasoningDoneEvent(_Event):
    """The reasoning is complete (content, a refusal or a tool call began, or the
    choice finished): ``reasoning``."""

    type: ClassVar[Literal["reasoning.done"]] = "reasoning.done"
    _fields = ("reasoning",)
    reasoning: str


class FunctionToolCallArgumentsDeltaEvent(_Event):
    """A piece of tool call ``index``'s arguments: ``arguments_delta``, ``arguments``
    (the JSON text so far), ``name``, and ``parsed_arguments`` (the object so far,
    for a tool declared from a type or as strict; else ``None``)."""

    type: ClassVar[Literal["tool_calls.function.arguments.delta"]] = (
        "tool_calls.function.arguments.delta"
    )
    _fields = ("name", "index", "arguments", "parsed_arguments", "arguments_delta")
    name: str
    index: int
    _text: _Text
    _length: int
    parsed_arguments: Any
    arguments_delta: str

    @property
    def arguments(self) -> str:
        return self._text.upto(self._length)


class FunctionToolCallArgumentsDoneEvent(_Event):
    """Tool call ``index`` is complete: ``name``, ``arguments`` (the JSON text) and
    ``parsed_arguments`` (into the tool's type, as JSON for a strict dict tool, else
    ``None``). ``id`` is the call's id, to send its result back with."""

    type: ClassVar[Literal["tool_calls.function.arguments.done"]] = (
        "tool_calls.function.arguments.done"
    )
    _fields = ("name", "index", "arguments", "parsed_arguments")
    name: str
    index: int
    arguments: str
    parsed_arguments: Any
    id: str


class LogprobsContentDeltaEvent(_Event):
    """Log probabilities of new content tokens: ``content``, ``snapshot`` (all so far)."""

    type: ClassVar[Literal["logprobs.content.delta"]] = "logprobs.content.delta"
    _fields = ("content", "snapshot")
    content: list[TokenLogprob]
    _parts: list[tuple[TokenLogprob, ...]]
    _length: int

    @property
    def snapshot(self) -> list[TokenLogprob]:
        return _logprobs(self._parts)[: self._length]


class LogprobsContentDoneEvent(_Event):
    """All content token log probabilities: ``content``."""

    type: ClassVar[Literal["logprobs.content.done"]] = "logprobs.content.done"
    _fields = ("content",)
    content: list[TokenLogprob]


class LogprobsRefusalDeltaEvent(_Event):
    """Log probabilities of new refusal tokens: ``refusal``, ``snapshot`` (all so far)."""

    type: ClassVar[Literal["logprobs.refusal.delta"]] = "logprobs.refusal.delta"
    _fields = ("refusal", "snapshot")
    refusal: list[TokenLogprob]
    _parts: list[tuple[TokenLogprob, ...]]
    _length: int

    @property
    def snapshot(self) -> list[TokenLogprob]:
        return _logprobs(self._parts)[: self._length]


class LogprobsRefusalDoneEvent(_Event):
    """All refusal token log probabilities: ``refusal``."""

    type: ClassVar[Literal["logprobs.refusal.done"]] = "logprobs.refusal.done"
    _fields = ("refusal",)
    refusal: list[TokenLogprob]


ChatCompletionStreamEvent = Union[  # noqa: UP007 - a type alias users import
    ChunkEvent,
    ContentDeltaEvent,
    ContentDoneEvent[T],
    RefusalDeltaEvent,
    RefusalDoneEvent,
    ReasoningDeltaEvent,
    ReasoningDoneEvent,
    FunctionToolCallArgumentsDeltaEvent,
    FunctionToolCallArgumentsDoneEvent,
    LogprobsContentDeltaEvent,
    LogprobsContentDoneEvent,
    LogprobsRefusalDeltaEvent,
    LogprobsRefusalDoneEvent,
]


def _logprobs(parts: list[tuple[TokenLogprob, ...]]) -> list[TokenLogprob]:
    if len(parts) > 1:
        parts[:] = [tuple(token for part in parts for token in part)]
    return list(parts[0]) if parts else []
