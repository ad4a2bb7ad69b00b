"""Merge the chunks of a stream into one :class:`ChatCompletion`.

The work is linear in the bytes received: ``add`` only appends each text piece
to a list, and ``result`` joins each list once. (``s += piece`` on a growing
string, or joining on every ``add``, would make a long answer quadratic.)
"""

from __future__ import annotations

from itertools import chain
from typing import Any, TypeVar, overload

import msgspec

from .._exceptions import XStreamError
from .._models.chat import (
    Annotation,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChoiceLogprobs,
    ChunkChoice,
    Function,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from .._models.lossless import merge_extra, with_kept

__all__ = ["ChatCompletionAccumulator", "ToolArgumentsError", "parse_tool_arguments"]

T = TypeVar("T")


def plain_choice(chunk: ChatCompletionChunk, choice: ChunkChoice) -> bool:
    """The one test of the common chunk's choice: content (and role) and nothing
    else (no finish, logprobs, tool call, refusal, reasoning in any field,
    citations, annotations, content as parts or a key no Struct declares), in a real chunk (``object`` set; Azure's content-filter notices
    have none). Such a choice merges by appending its text (its chunk's usage,
    fingerprint and service tier replacing the last) and its events are ``chunk``
    and ``content.delta``; every other chunk takes the general path.

    :meth:`ChatCompletionAccumulator.add_all`, :meth:`ChatCompletionStreamState.handle_chunk`
    and ``AsyncChatCompletionStream`` (and its generated sync twin) inline this
    test for speed; ``tests/protocol/test_one_chunk_path.py`` holds every inline
    copy to these conjuncts, so a new delta field is added here and the test
    names each copy that lacks it.
    """
    delta = choice.delta
    return bool(
        choice.finish_reason is None
        and choice.logprobs is None
        and delta.tool_calls is None
        and delta.refusal is None
        and delta.reasoning_content is None
        and delta.reasoning is None
        and delta.reasoning_details is None
        and chunk.citations is None
        and delta.annotations is None
        and not chunk._kept
        and chunk.object
    )


_BLOCK = 16  # pieces per block, blocks per run: few, each a reference every full GC visits


class Pieces(list[str]):
    """A text that arrives in pieces (one per delta), kept at about its own size.

    A delta's text is appended as it comes (the hot path appends to the list
    itself); :meth:`compact`, called once per network read, joins every
    ``_BLOCK`` new pieces into one block, and every ``_BLOCK`` blocks into one
    run. So a long answer costs its text plus a few objects per 256 deltas,
    not an object and a list slot per delta, and each character is copied at
    most twice on the way (linear, whatever the length).
    """

    __slots__ = ("blocks", "runs")

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0  # the leading entries that are runs
        self.blocks = 0  # ... and, with them, the leading entries already joined

    def compact(self) -> None:
        """Join the pieces that came since the last block, when there are enough."""
        if len(self) - self.blocks < _BLOCK:
            return
        self[self.blocks :] = ["".join(self[self.blocks :])]
        self.blocks += 1
        if self.blocks - self.runs >= _BLOCK:
            self[self.runs :] = ["".join(self[self.runs :])]
            self.runs += 1
            self.blocks = self.runs


_NO_TEXT = Pieces()  # never added to (see _ChoiceParts.own_texts), nor these (_add_call):
_NO_CALLS: list[Any] = []
_NO_CALLS_BY_INDEX: dict[int, Any] = {}


def _join(pieces: list[str]) -> str | None:
    """The pieces joined, or ``None`` when there were none. The list is collapsed to
    its join, so calling ``result()`` again costs nothing for the text already joined."""
    if not pieces:
        return None
    if len(pieces) > 1:
        pieces[:] = ["".join(pieces)]
        if isinstance(pieces, Pieces):
            pieces.runs = pieces.blocks = 1
    return pieces[0]


class _ToolCallParts:
    """The pieces of one tool call seen so far."""

    __slots__ = ("arguments", "extra", "function_extra", "id", "index", "name", "seq", "type")

    def __init__(self, index: int, seq: int) -> None:
        self.index = index
        self.seq = seq  # order of first appearance, to order calls sharing an index
        self.id = ""
        self.type = ""
        self.name = ""
        self.arguments = Pieces()
        self.extra: dict[str, Any] | None = None  # keys no Struct declares, merged
        self.function_extra: dict[str, Any] | None = None

    def add(self, delta: ToolCallDelta) -> None:
        if delta.id and not self.id:
            self.id = delta.id
        if delta.type and not self.type:
            self.type = delta.type
        if delta._kept:
            self.extra = merge_extra(self.extra, delta.extra_fields)
        function = delta.function
        if function is not None:
            if function.name and not self.name:
                self.name = function.name
            if function.arguments:
                self.arguments.append(function.arguments)
            if function._kept:
                self.function_extra = merge_extra(self.function_extra, function.extra_fields)

    def result(self) -> ToolCall:
        function = with_kept(
            Function(name=self.name, arguments=_join(self.arguments) or ""), self.function_extra
        )
        call = ToolCall(id=self.id, type=self.type or "function", function=function)
        return with_kept(call, self.extra)


class _ChoiceParts(msgspec.Struct, gc=False):
    """The pieces of one choice seen so far.

    Untracked by the garbage collector (it refers to its texts and lists, never back
    to the accumulator), so neither it nor the accumulator's dict of choices is an
    object that every full collection visits, per stream."""

    index: int
    role: str | None = None
    finish_reason: str | None = None
    content: Pieces = msgspec.field(default_factory=Pieces)
    # The texts and calls few answers have start as shared empties, made their own
    # when the first piece comes (fewer objects for the collector per stream).
    reasoning: Pieces = msgspec.field(default_factory=lambda: _NO_TEXT)  # whichever field
    reasoning_named: Pieces = msgspec.field(default_factory=lambda: _NO_TEXT)  # "reasoning"
    reasoning_details: list[Any] | None = None
    refusal: Pieces = msgspec.field(default_factory=lambda: _NO_TEXT)
    logprobs_content: list[tuple[TokenLogprob, ...]] | None = None
    logprobs_refusal: list[tuple[TokenLogprob, ...]] | None = None
    calls: list[_ToolCallParts] = msgspec.field(default_factory=lambda: _NO_CALLS)
    calls_by_index: dict[int, _ToolCallParts] = msgspec.field(
        default_factory=lambda: _NO_CALLS_BY_INDEX
    )
    added: int = 0  # deltas added one by one since the last compact()
    annotations: list[Annotation] | None = None
    content_parts: list[Any] | None = None  # once a delta sent content as parts
    extra: dict[str, Any] | None = None  # the deltas' keys no Struct declares
    choice_extra: dict[str, Any] | None = None  # ... and the choices'
    # Providers' choice fields, from the chunks that take the general path (the first
    # and the finishing one: where providers put them).
    native_finish_reason: str | None = None
    stop_reason: Any = None
    content_filter_results: Any = None

    def add(self, choice: ChunkChoice) -> None:
        self.added += 1
        if self.added >= 4 * _BLOCK:  # a chunk at a time (no read to compact at): now and then
            self.compact()
        delta = choice.delta
        if delta.role is not None and self.role is None:
            self.role = delta.role
        if delta.content:
            self.content.append(delta.content)
        if delta.reasoning_content or delta.reasoning is not None or delta.refusal:
            self.own_texts()  # once per chunk, before any of those texts grows
        if delta.reasoning_content:
            self.reasoning.append(delta.reasoning_content)
        elif delta.reasoning:
            self.reasoning.append(delta.reasoning)
        if delta.reasoning is not None:
            self.reasoning_named.append(delta.reasoning)
        if delta.reasoning_details:
            if self.reasoning_details is None:
                self.reasoning_details = []
            self.reasoning_details.extend(delta.reasoning_details)
        if delta.refusal:
            self.refusal.append(delta.refusal)
        if delta.tool_calls:
            for call in delta.tool_calls:
                self._add_call(call)
        if choice.finish_reason is not None:
            self.finish_reason = choice.finish_reason
        if choice.native_finish_reason is not None:
            self.native_finish_reason = choice.native_finish_reason
        if choice.stop_reason is not None:
            self.stop_reason = choice.stop_reason
        if choice.content_filter_results is not None:
            self.content_filter_results = choice.content_filter_results
        if delta.annotations:
            if self.annotations is None:
                self.annotations = []
            self.annotations.extend(delta.annotations)
        if delta._kept:
            self.extra = merge_extra(self.extra, delta.extra_fields)
        if choice._kept:
            self.choice_extra = merge_extra(self.choice_extra, choice.extra_fields)
        parts = delta.content_parts
        if parts is not None:
            if self.content_parts is None:  # the text so far, as the first part
                before = "".join(self.content[:-1] if delta.content else self.content)
                self.content_parts = [{"type": "text", "text": before}] if before else []
            self.content_parts.extend(parts)
        elif delta.content and self.content_parts is not None:
            self.content_parts.append({"type": "text", "text": delta.content})
        logprobs = choice.logprobs
        if logprobs is not None:
            if logprobs.content is not None:
                if self.logprobs_content is None:
                    self.logprobs_content = []
                self.logprobs_content.append(logprobs.content)
            if logprobs.refusal is not None:
                if self.logprobs_refusal is None:
                    self.logprobs_refusal = []
                self.logprobs_refusal.append(logprobs.refusal)

    def own_texts(self) -> _ChoiceParts:
        """Give the choice texts of its own (not the shared empties): before a piece
        is added, or a reader holds on to them."""
        if self.reasoning is _NO_TEXT:
            self.reasoning = Pieces()
        if self.reasoning_named is _NO_TEXT:
            self.reasoning_named = Pieces()
        if self.refusal is _NO_TEXT:
            self.refusal = Pieces()
        return self

    def compact(self) -> None:
        """Keep the texts at about their own size (see :class:`Pieces`); once per read."""
        self.added = 0
        self.content.compact()
        self.reasoning.compact()
        self.reasoning_named.compact()
        self.refusal.compact()
        for call in self.calls:
            call.arguments.compact()

    def _add_call(self, delta: ToolCallDelta) -> None:
        parts = self.calls_by_index.get(delta.index)
        # A new id at a known index starts a new call: some servers send every
        # call complete, each with its own id, but all with the same (or no) index.
        if parts is None or (delta.id and parts.id and delta.id != parts.id):
            if self.calls is _NO_CALLS:
                self.calls, self.calls_by_index = [], {}
            parts = _ToolCallParts(delta.index, len(self.calls))
            self.calls.append(parts)
            self.calls_by_index[delta.index] = parts
        parts.add(delta)

    def result(self) -> Choice:
        calls = sorted(self.calls, key=lambda c: (c.index, c.seq))
        message = ChatCompletionMessage(
            role=self.role or "assistant",
            content=_join(self.content),
            reasoning_content=_join(self.reasoning),
            refusal=_join(self.refusal),
            tool_calls=tuple(c.result() for c in calls) if calls else None,
            reasoning=_join(self.reasoning_named),
            reasoning_details=(
                tuple(self.reasoning_details) if self.reasoning_details is not None else None
            ),
            annotations=tuple(self.annotations) if self.annotations is not None else None,
        )
        if self.content_parts is not None:
            message = with_kept(message, self.extra, parts=(tuple(self.content_parts), False))
        else:
            message = with_kept(message, self.extra)
        logprobs = None
        if self.logprobs_content is not None or self.logprobs_refusal is not None:
            logprobs = ChoiceLogprobs(
                content=_chain(self.logprobs_content),
                refusal=_chain(self.logprobs_refusal),
            )
        choice = Choice(
            index=self.index,
            message=message,
            finish_reason=self.finish_reason,
            logprobs=logprobs,
            native_finish_reason=self.native_finish_reason,
            stop_reason=self.stop_reason,
            content_filter_results=self.content_filter_results,
        )
        return with_kept(choice, self.choice_extra)


def _chain(
    pieces: list[tuple[TokenLogprob, ...]] | None,
) -> tuple[TokenLogprob, ...] | None:
    if pieces is None:
        return None
    if len(pieces) > 1:
        pieces[:] = [tuple(chain.from_iterable(pieces))]
    return pieces[0] if pieces else ()


class ChatCompletionAccumulator:
    """Merge a stream's chunks into one :class:`ChatCompletion`.

    ``add`` every chunk in order; ``result()`` may be called at any time, as often
    as wanted. Choices are merged by ``index`` (for ``n > 1``); text fields are
    concatenated, tool calls merged by their ``index`` (arguments concatenated),
    ``role`` is the first seen, ``finish_reason``, ``usage``, ``citations`` and
    ``system_fingerprint`` the last seen.

    >>> acc = ChatCompletionAccumulator()
    >>> for chunk in chunks:  # doctest: +SKIP
    ...     acc.add(chunk)
    >>> acc.result().choices[0].message.content  # doctest: +SKIP
    'Hello, world'
    """

    __slots__ = (
        "_choices",
        "_citations",
        "_created",
        "_extra",
        "_fast",
        "_id",
        "_model",
        "_prompt_filter_results",
        "_provider",
        "chunks_added",
        "last_usage",
        "service_tier",
        "system_fingerprint",
    )

    def __init__(self) -> None:
        self.chunks_added = 0
        """How many chunks were added."""
        self._id = ""
        self._model = ""
        self._created: int | None = None
        self.last_usage: Usage | None = None
        """The last usage a chunk reported (``usage`` reads it)."""
        self.system_fingerprint: str | None = None
        """The last ``system_fingerprint`` a chunk carried."""
        self._citations: tuple[str, ...] | None = None
        self.service_tier: str | None = None
        """The last ``service_tier`` a chunk carried."""
        self._choices: dict[int, _ChoiceParts] = {}
        self._extra: dict[str, Any] | None = None  # the chunks' keys no Struct declares
        self._fast: _ChoiceParts | None = None  # where add_all may append (_plain_parts)
        self._provider: str | None = None  # OpenRouter's, as the general path saw it last
        self._prompt_filter_results: Any = None  # Azure's, on its first chunk

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Merge one chunk into the completion."""
        self.chunks_added += 1
        if not self._id and chunk.id:
            self._id = chunk.id
        if not self._model and chunk.model:
            self._model = chunk.model
        if self._created is None and chunk.created:
            self._created = chunk.created
        if chunk.usage is not None:
            self.last_usage = chunk.usage
        if chunk.system_fingerprint is not None:
            self.system_fingerprint = chunk.system_fingerprint
        if chunk.citations is not None:
            self._citations = chunk.citations
        if chunk.service_tier is not None:
            self.service_tier = chunk.service_tier
        if chunk._kept:
            self._extra = merge_extra(self._extra, chunk.extra_fields)
        if chunk.provider is not None:
            self._provider = chunk.provider
        if chunk.prompt_filter_results is not None:
            self._prompt_filter_results = chunk.prompt_filter_results
        choices = self._choices
        chunk_choices = chunk.choices
        for choice in chunk_choices:
            parts = choices.get(choice.index)
            if parts is None:
                parts = choices[choice.index] = _ChoiceParts(choice.index)
            parts.add(choice)
        # Only add() changes what the fast path of add_all depends on: worked out here.
        self._fast = self._plain_parts(chunk_choices[0].index if len(chunk_choices) == 1 else None)

    def add_all(self, chunks: list[ChatCompletionChunk]) -> None:
        """``add`` each chunk, in one loop: what a stream merges per network read.

        Same result as calling :meth:`add` on each. The common chunk (one choice,
        the one seen last, whose role is known, and a piece of content, nothing
        else) costs a few attribute tests and an append, with no method call;
        ``usage`` and ``system_fingerprint`` (the last seen wins) are taken once
        per batch, from its end.
        """
        slow = 0
        parts = self._fast
        for chunk in chunks:
            chunk_choices = chunk.choices
            if parts is not None and len(chunk_choices) == 1:
                choice = chunk_choices[0]
                delta = choice.delta
                if (  # plain_choice(chunk, choice), inline, for the last choice seen
                    choice.index == parts.index
                    and choice.finish_reason is None
                    and choice.logprobs is None
                    and delta.tool_calls is None
                    and delta.refusal is None
                    and delta.reasoning_content is None
                    and delta.reasoning is None
                    and delta.reasoning_details is None
                    and chunk.citations is None
                    and delta.annotations is None
                    and not chunk._kept
                    and chunk.object
                ):
                    text = delta.content
                    if text:
                        parts.content.append(text)
                    tier = chunk.service_tier  # OpenAI sends it on every chunk
                    if tier is not None:
                        self.service_tier = tier
                    continue
            self.add(chunk)
            slow += 1
            parts = self._fast
        self.chunks_added += len(chunks) - slow
        if not chunks:
            return
        last = chunks[-1]  # the last usage and fingerprint seen win (often the last chunk's)
        usage, fingerprint = last.usage, last.system_fingerprint
        if (usage is None or fingerprint is None) and len(chunks) > 1:
            for chunk in reversed(chunks):
                if usage is None:
                    usage = chunk.usage
                if fingerprint is None:
                    fingerprint = chunk.system_fingerprint
                if usage is not None and fingerprint is not None:
                    break
        if usage is not None:
            self.last_usage = usage
        if fingerprint is not None:
            self.system_fingerprint = fingerprint
        if slow:
            self.compact()
        elif parts is not None and len(parts.content) - parts.content.blocks >= _BLOCK:
            parts.content.compact()  # only the fast path's choice grew: compact() in short

    def compact(self) -> None:
        """Keep what was merged at about the size of its text (once per read: the
        streams call it; :meth:`add_all` does). A read of a paced stream brings one
        delta: only the content can have grown then, and a length test says whether
        it is time to join."""
        for parts in self._choices.values():
            if parts.added:
                parts.compact()
            elif len(parts.content) - parts.content.blocks >= _BLOCK:
                parts.content.compact()

    def head_in(self, parts: _ChoiceParts) -> bool:
        """Whether what only a chunk's first sight sets (id, model, created, the
        choice's role) is in: then a chunk of content only adds its text, and its
        usage, fingerprint and service tier replace the last."""
        return (
            bool(self._id and self._model and self._created is not None) and parts.role is not None
        )

    def _plain_parts(self, index: int | None = None) -> _ChoiceParts | None:
        """The choice the fast path of :meth:`add_all` may append to: ``index``'s
        (default: the only choice), once the head (id, model, created, role) is in."""
        if not (self._id and self._model and self._created is not None):
            return None
        choices = self._choices
        if index is None:
            if len(choices) != 1:
                return None
            (parts,) = choices.values()
        else:
            parts = choices[index]
        return parts if parts.role is not None else None

    @property
    def usage(self) -> Usage | None:
        """The last usage the server reported, if any."""
        return self.last_usage

    def result(self) -> ChatCompletion:
        """Everything added so far, as one ``ChatCompletion`` (choices by ``index``)."""
        completion = ChatCompletion(
            id=self._id,
            created=self._created,
            model=self._model,
            choices=tuple(self._choices[i].result() for i in sorted(self._choices)),
            usage=self.last_usage,
            system_fingerprint=self.system_fingerprint,
            citations=self._citations,
            service_tier=self.service_tier,
            provider=self._provider,
            prompt_filter_results=self._prompt_filter_results,
        )
        return with_kept(completion, self._extra)


# -- tool arguments -----------------------------------------------------------------------


class ToolArgumentsError(XStreamError, ValueError):
    """A tool call's ``arguments`` are not valid JSON (or not valid for the type asked).

    ``tool_call_id``, ``name`` and ``arguments`` (the full text) say which call.
    """

    def __init__(self, message: str, *, tool_call_id: str, name: str, arguments: str) -> None:
        super().__init__(message)
        self.tool_call_id = tool_call_id
        self.name = name
        self.arguments = arguments


_SHOWN = 200  # characters of the arguments shown in an error message


@overload
def parse_tool_arguments(call: ToolCall) -> Any: ...
@overload
def parse_tool_arguments(call: ToolCall, type: type[T]) -> T: ...
def parse_tool_arguments(call: ToolCall, type: type[T] | None = None) -> Any:
    """Decode a tool call's JSON ``arguments``, into ``type`` when given.

    Empty arguments (some servers send ``""`` for a function without
    parameters) decode as ``{}``. Raises :class:`ToolArgumentsError`.

    >>> class Weather(msgspec.Struct):
    ...     city: str
    >>> parse_tool_arguments(call, Weather)  # doctest: +SKIP
    Weather(city='Paris')
    """
    arguments = call.function.arguments
    text = arguments if arguments.strip() else "{}"
    try:
        if type is None:
            return msgspec.json.decode(text)
        return msgspec.json.decode(text, type=type)
    except msgspec.ValidationError as exc:
        what = f"do not match {getattr(type, '__name__', repr(type))}: {exc}"
        raise _arguments_error(call, what) from exc
    except msgspec.DecodeError as exc:
        raise _arguments_error(call, f"are not valid JSON: {exc}") from exc


def _arguments_error(call: ToolCall, what: str) -> ToolArgumentsError:
    arguments = call.function.arguments
    shown = arguments if len(arguments) <= _SHOWN else arguments[:_SHOWN] + "..."
    return ToolArgumentsError(
        f"the arguments of tool {call.function.name!r} (call {call.id!r}) {what}; "
        f"arguments: {shown!r}",
        tool_call_id=call.id,
        name=call.function.name,
        arguments=arguments,
    )


ToolArgumentsError.__module__ = "xstream"  # shown (and pickled) by its public name
