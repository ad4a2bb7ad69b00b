"""The sans-IO state machine of typed chat events: chunks in, events out, and the
completion they add up to (:class:`ChatCompletionStreamState`). The async stream
and the sync facade drive the same one."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from .._models.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChunkChoice,
    ParsedChatCompletion,
    ParsedChatCompletionMessage,
    ParsedChoice,
    ParsedFunction,
    ParsedToolCall,
    ToolCall,
)
from .._models.lossless import keep_as
from .accumulate import (
    ChatCompletionAccumulator,
    _ChoiceParts,
    _join,
    _ToolCallParts,
    plain_choice,
)
from .chat_events import (
    ChatCompletionStreamEvent,
    ChunkEvent,
    ContentDeltaEvent,
    ContentDoneEvent,
    FunctionToolCallArgumentsDeltaEvent,
    FunctionToolCallArgumentsDoneEvent,
    LogprobsContentDeltaEvent,
    LogprobsContentDoneEvent,
    LogprobsRefusalDeltaEvent,
    LogprobsRefusalDoneEvent,
    ReasoningDeltaEvent,
    ReasoningDoneEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
    _logprobs,
    _Text,
)
from .partial import PartialJSON
from .schema import (
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    RefusalError,
    ToolArgumentsTypes,
    parse_output,
)

__all__ = ["ChatCompletionStreamState", "parse_completion"]

T = TypeVar("T")


def _partial_value(parser: PartialJSON | None) -> Any:
    return parser.value if parser is not None else None


# -- the state machine ----------------------------------------------------------------------


class _ChoiceState:
    """What one choice has announced so far, and what its text lengths are."""

    __slots__ = (
        "call",
        "calls_done",
        "content",
        "content_done",
        "content_length",
        "content_text",
        "fast",
        "logprobs_content_done",
        "logprobs_refusal_done",
        "parsed",
        "parser",
        "parsers",
        "parts",
        "plain",
        "reasoning_done",
        "reasoning_length",
        "reasoning_text",
        "refusal_done",
        "refusal_length",
        "refusal_text",
        "tool_parsed",
    )

    def __init__(self, parts: _ChoiceParts, response_type: Any) -> None:
        self.parts = parts
        self.content = parts.content  # parts' own list, one attribute away on the fast path
        self.content_text = _Text(parts.content)
        texts = parts.own_texts()  # lists of their own, which the _Text views follow
        self.refusal_text = _Text(texts.refusal)
        self.reasoning_text = _Text(texts.reasoning)
        self.content_length = self.refusal_length = self.reasoning_length = 0
        self.content_done = self.refusal_done = self.reasoning_done = False
        self.logprobs_content_done = self.logprobs_refusal_done = False
        self.call: _ToolCallParts | None = None  # the call being streamed
        self.calls_done: set[int] = set()  # id() of the calls announced done
        self.parser = PartialJSON(response_type) if response_type is not None else None
        self.parsed: Any = None  # the T, once content.done parsed it
        self.parsers: dict[int, PartialJSON] = {}  # id(call) -> its arguments' parser
        self.tool_parsed: dict[int, Any] = {}  # id(call) -> parsed_arguments when done
        # Nothing but content so far (no reasoning, refusal, tool call, logprobs or
        # finish): the fast path of handle_chunk holds.
        self.plain = True
        # ... and the accumulator has the head (id, model, created, role): the fast
        # path may merge a content chunk itself.
        self.fast = False

    def feed(self, content: str) -> Any:
        """Parse one more piece of the content; the object so far (``None`` untyped)."""
        parser = self.parser
        if parser is None:
            return None
        if parser.error is None:
            try:  # noqa: SIM105 - per delta: no context manager
                parser.feed(content)
            except ValueError:
                pass  # not JSON: content.done says why
        return parser.value


class ChatCompletionStreamState(Generic[T]):
    """Turn chunks into events, and keep the completion they add up to.

    Sans-IO: ``handle_chunk(chunk)`` returns the chunk's events. Useful on its own
    with chunks from ``create(stream=True)``::

        state = ChatCompletionStreamState(response_format=Weather)
        async for chunk in await client.chat.completions.create(..., stream=True):
            for event in state.handle_chunk(chunk):
                ...
        completion = state.get_final_completion()

    ``response_format``: a type (for ``parsed``), or ``None``; ``tools``: the
    ``tools`` sent (types or dicts), to parse their calls' arguments.
    """

    def __init__(
        self,
        *,
        response_format: type[T] | None = None,
        tools: Iterable[Any] | None = None,
    ) -> None:
        self._accumulator = ChatCompletionAccumulator()
        self._type = response_format
        self._tools = ToolArgumentsTypes(tools)
        self._choices: dict[int, _ChoiceState] = {}

    # ------------------------------------------------------------ results

    @property
    def current_completion_snapshot(self) -> ParsedChatCompletion[T]:
        """The completion so far (``parsed`` set once the content is complete)."""
        return self._parsed(self._accumulator.result(), final=False)

    def get_final_completion(self) -> ParsedChatCompletion[T]:
        """The completion, every message's ``parsed`` a ``T`` (with a
        ``response_format`` type). Raises :class:`RefusalError` when the model
        refused, :class:`LengthFinishReasonError` / :class:`ContentFilterFinishReasonError`
        when it stopped before the answer was whole, :class:`OutputValidationError`
        when the content does not fit."""
        return self._parsed(self._accumulator.result(), final=True)

    def _parsed(self, completion: ChatCompletion, *, final: bool) -> ParsedChatCompletion[T]:
        choices: list[ParsedChoice[T]] = []
        for choice in completion.choices:
            state = self._choices.get(choice.index)
            message = choice.message
            parsed = None
            if final and self._type is not None:
                parsed = self._final_parsed(choice, state, completion)
            elif state is not None:
                parsed = state.parsed if state.content_done else _partial_value(state.parser)
            calls = None
            parts = self._accumulator._choices.get(choice.index)
            if message.tool_calls is not None and parts is None:  # not streamed: parse()
                calls = tuple(
                    _parsed_call(c, self._tools.parse(c.function.name, c.function.arguments, c.id))
                    for c in message.tool_calls
                )
            elif message.tool_calls is not None and parts is not None:
                ordered = sorted(
                    parts.calls, key=lambda c: (c.index, c.seq)
                )  # as result() has them
                calls = tuple(
                    _parsed_call(c, self._call_parsed(state, p, c.function.arguments, final))
                    for c, p in zip(message.tool_calls, ordered, strict=True)
                )
            parsed_message = ParsedChatCompletionMessage[T](
                role=message.role,
                content=message.content,
                reasoning_content=message.reasoning_content,
                refusal=message.refusal,
                tool_calls=calls,
                reasoning=message.reasoning,
                reasoning_details=message.reasoning_details,
                annotations=message.annotations,
                parsed=parsed,
            )
            choices.append(
                keep_as(
                    choice,
                    ParsedChoice[T](
                        index=choice.index,
                        message=keep_as(message, parsed_message),
                        finish_reason=choice.finish_reason,
                        logprobs=choice.logprobs,
                        native_finish_reason=choice.native_finish_reason,
                        stop_reason=choice.stop_reason,
                        content_filter_results=choice.content_filter_results,
                    ),
                )
            )
        return keep_as(
            completion,
            ParsedChatCompletion[T](
                id=completion.id,
                created=completion.created,
                model=completion.model,
                choices=tuple(choices),
                usage=completion.usage,
                system_fingerprint=completion.system_fingerprint,
                citations=completion.citations,
                service_tier=completion.service_tier,
                provider=completion.provider,
                prompt_filter_results=completion.prompt_filter_results,
            ),
        )

    def _final_parsed(self, choice: Any, state: _ChoiceState | None, completion: Any) -> Any:
        message = choice.message
        if message.refusal is not None:
            raise RefusalError(message.refusal, completion=completion)
        if state is not None and state.parsed is not None:
            return state.parsed
        assert self._type is not None
        reason = choice.finish_reason
        if reason == "length":
            raise LengthFinishReasonError(
                "the answer stopped at the token limit before the structured output was "
                "complete (finish_reason='length')",
                content=message.content or "",
                completion=completion,
            )
        if reason == "content_filter":
            raise ContentFilterFinishReasonError(
                "the server's content filter stopped the answer (finish_reason='content_filter')",
                content=message.content or "",
                completion=completion,
            )
        if message.content is None:
            return None
        return parse_output(self._type, message.content, completion=completion)

    def _call_parsed(
        self, state: _ChoiceState | None, call: _ToolCallParts, arguments: str, final: bool
    ) -> Any:
        if state is not None and id(call) in state.calls_done:
            return state.tool_parsed.get(id(call))
        if final:
            return self._tools.parse(call.name, arguments, call.id)
        return _partial_value(state.parsers.get(id(call)) if state is not None else None)

    # ------------------------------------------------------------ chunks to events

    def handle_chunk(self, chunk: ChatCompletionChunk) -> list[ChatCompletionStreamEvent[T]]:
        """Add one chunk; return its events, in the OpenAI SDK's order.

        The one place that decides how a chunk merges into the completion and which
        events it makes. The common chunk (:func:`plain_choice`: one choice of
        content, whose head the accumulator has) appends its text and makes
        ``chunk`` and ``content.delta``; every other one takes the general path.
        Chunks without ``object`` (Azure's content-filter notices) are skipped, as
        the OpenAI SDK skips them. The whole chunk is taken in before its first
        event is made (its snapshot shows it).
        """
        choices = chunk.choices
        if len(choices) == 1:
            choice = choices[0]
            state = self._choices.get(choice.index)
            if state is not None and state.fast and plain_choice(chunk, choice):
                accumulator = self._accumulator
                if chunk.usage is not None:
                    accumulator.last_usage = chunk.usage
                if chunk.system_fingerprint is not None:
                    accumulator.system_fingerprint = chunk.system_fingerprint
                if chunk.service_tier is not None:
                    accumulator.service_tier = chunk.service_tier
                content = choice.delta.content
                if content is None:
                    return [ChunkEvent(chunk, self)]
                if content:
                    state.content.append(content)
                    state.content.compact()  # a chunk at a time: a length test, mostly
                state.content_length += len(content)
                return [
                    ChunkEvent(chunk, self),
                    ContentDeltaEvent(
                        content,
                        state.content_text,
                        state.content_length,
                        None if state.parser is None else state.feed(content),
                    ),
                ]
        if not chunk.object:
            return []
        return self._chunk_events(chunk)

    def iter_events(
        self, chunks: Iterable[ChatCompletionChunk]
    ) -> Iterator[ChatCompletionStreamEvent[T]]:
        """The events of ``chunks`` (:meth:`handle_chunk`'s), each chunk added as its
        events are reached: the state never runs ahead of what was handed out."""
        handle = self.handle_chunk
        for chunk in chunks:
            yield from handle(chunk)
        yield from self.end_events()

    def end_events(self) -> list[ChatCompletionStreamEvent[T]]:
        """The stream is complete: the ``arguments.done`` of a tool call still open (a
        server that sent no ``finish_reason`` after it). Nothing after a finish."""
        events: list[ChatCompletionStreamEvent[T]] = []
        for state in self._choices.values():
            if state.call is not None:
                self._call_done(state, state.call, events)
        return events

    def fast_path(
        self,
    ) -> tuple[
        dict[int, _ChoiceState],
        ChatCompletionAccumulator,
        Callable[[ChatCompletionChunk], list[ChatCompletionStreamEvent[T]]],
    ]:
        """What a stream needs to inline :meth:`handle_chunk`'s fast path (its choices'
        states, the accumulator) and the general path for the rest. The copy is held
        to :func:`plain_choice` by ``tests/protocol/test_one_chunk_path.py`` and to
        :meth:`handle_chunk`'s events by the recorded-events tests."""
        return self._choices, self._accumulator, self._chunk_events

    def _chunk_events(self, chunk: ChatCompletionChunk) -> list[ChatCompletionStreamEvent[T]]:
        """Every chunk the fast path of :meth:`handle_chunk` does not take."""
        accumulator = self._accumulator
        accumulator.add(chunk)
        events: list[ChatCompletionStreamEvent[T]] = [ChunkEvent(chunk, self)]
        for choice in chunk.choices:
            state = self._choices.get(choice.index)
            if state is None:
                parts = accumulator._choices[choice.index]
                state = self._choices[choice.index] = _ChoiceState(parts, self._type)
            if state.plain and not plain_choice(chunk, choice):
                state.plain = False
            self._choice_events(choice, state, events)
        for state in self._choices.values():
            state.fast = state.plain and accumulator.head_in(state.parts)
        return events

    def _choice_events(self, choice: ChunkChoice, state: _ChoiceState, events: list[Any]) -> None:
        delta = choice.delta
        content = delta.content
        reasoning = delta.reasoning_content or delta.reasoning
        if reasoning:
            state.reasoning_length += len(reasoning)
            events.append(
                ReasoningDeltaEvent(reasoning, state.reasoning_text, state.reasoning_length)
            )
        elif (
            not state.reasoning_done
            and state.reasoning_length
            and (content or delta.refusal or delta.tool_calls or choice.finish_reason)
        ):
            self._reasoning_done(state, events)
        if content is not None:
            if content and state.call is not None:  # content after a call: the call is done
                self._call_done(state, state.call, events)
            state.content_length += len(content)
            parsed = state.feed(content) if state.refusal_length == 0 else None
            events.append(
                ContentDeltaEvent(content, state.content_text, state.content_length, parsed)
            )
        refusal = delta.refusal
        if refusal is not None:
            state.refusal_length += len(refusal)
            events.append(RefusalDeltaEvent(refusal, state.refusal_text, state.refusal_length))
        calls = delta.tool_calls
        if calls:
            self._call_deltas(choice, state, events)
        logprobs = choice.logprobs
        if logprobs is not None:
            parts = self._accumulator._choices[choice.index]
            if logprobs.content and parts.logprobs_content:
                lp = parts.logprobs_content
                events.append(
                    LogprobsContentDeltaEvent(list(logprobs.content), lp, sum(map(len, lp)))
                )
            if logprobs.refusal and parts.logprobs_refusal:
                lp = parts.logprobs_refusal
                events.append(
                    LogprobsRefusalDeltaEvent(list(logprobs.refusal), lp, sum(map(len, lp)))
                )
        # Done events come after the deltas of the chunk, as the OpenAI SDK orders them.
        finished = self._accumulator._choices[choice.index].finish_reason is not None
        if finished:
            self._text_done(choice.index, state, events)
            if state.call is not None:
                self._call_done(state, state.call, events)
        if calls:
            self._calls_started(choice, state, events)
            if finished:  # a call in the finishing chunk is done with it
                self._call_done(state, state.call, events)  # type: ignore[arg-type]

    # The tool calls of one delta: their argument deltas now, their dones after.
    def _call_deltas(self, choice: ChunkChoice, state: _ChoiceState, events: list[Any]) -> None:
        parts = self._accumulator._choices[choice.index]
        for delta in choice.delta.tool_calls or ():
            call = parts.calls_by_index[delta.index]
            piece = delta.function.arguments if delta.function is not None else None
            parser = self._parser_for(state, call)
            parsed = None
            if parser is not None:
                if piece and parser.error is None:
                    with contextlib.suppress(ValueError):
                        parser.feed(piece)
                parsed = parser.value
            events.append(
                FunctionToolCallArgumentsDeltaEvent(
                    call.name,
                    delta.index,
                    _Text(call.arguments),
                    sum(map(len, call.arguments)),
                    parsed,
                    piece or "",
                )
            )

    def _calls_started(self, choice: ChunkChoice, state: _ChoiceState, events: list[Any]) -> None:
        parts = self._accumulator._choices[choice.index]
        for delta in choice.delta.tool_calls or ():
            call = parts.calls_by_index[delta.index]
            if call is not state.call:
                self._text_done(choice.index, state, events)
                if state.call is not None:
                    self._call_done(state, state.call, events)
                state.call = call

    def _parser_for(self, state: _ChoiceState, call: _ToolCallParts) -> PartialJSON | None:
        parser = state.parsers.get(id(call))
        if parser is None and call.name and self._tools.knows(call.name):
            parser = state.parsers[id(call)] = PartialJSON(self._tools.partial_type(call.name))
        return parser

    def _call_done(self, state: _ChoiceState, call: _ToolCallParts, events: list[Any]) -> None:
        if id(call) in state.calls_done:
            return
        state.calls_done.add(id(call))
        arguments = _join(call.arguments) or ""
        parsed = self._tools.parse(call.name, arguments, call.id)
        state.tool_parsed[id(call)] = parsed
        events.append(
            FunctionToolCallArgumentsDoneEvent(call.name, call.index, arguments, parsed, call.id)
        )

    def _reasoning_done(self, state: _ChoiceState, events: list[Any]) -> None:
        state.reasoning_done = True
        events.append(ReasoningDoneEvent(state.reasoning_text.upto(state.reasoning_length)))

    def _text_done(self, index: int, state: _ChoiceState, events: list[Any]) -> None:
        if state.reasoning_length and not state.reasoning_done:
            self._reasoning_done(state, events)
        if state.content_length and not state.content_done:
            state.content_done = True
            content = state.content_text.upto(state.content_length)
            parsed = None
            if self._type is not None and state.refusal_length == 0:
                parsed = parse_output(
                    self._type, content, completion=self.current_completion_snapshot
                )
                state.parsed = parsed
            events.append(ContentDoneEvent(content, parsed))
        if state.refusal_length and not state.refusal_done:
            state.refusal_done = True
            events.append(RefusalDoneEvent(state.refusal_text.upto(state.refusal_length)))
        parts = self._accumulator._choices[index]
        if parts.logprobs_content is not None and not state.logprobs_content_done:
            state.logprobs_content_done = True
            events.append(LogprobsContentDoneEvent(_logprobs(parts.logprobs_content)))
        if parts.logprobs_refusal is not None and not state.logprobs_refusal_done:
            state.logprobs_refusal_done = True
            events.append(LogprobsRefusalDoneEvent(_logprobs(parts.logprobs_refusal)))


def _parsed_call(call: ToolCall, parsed: Any) -> ParsedToolCall:
    """``call`` with its ``parsed_arguments`` (the keys it kept, kept)."""
    function = call.function
    return keep_as(
        call,
        ParsedToolCall(
            id=call.id,
            type=call.type,
            function=keep_as(
                function,
                ParsedFunction(
                    name=function.name, arguments=function.arguments, parsed_arguments=parsed
                ),
            ),
        ),
    )


def parse_completion(
    completion: ChatCompletion, state: ChatCompletionStreamState[T]
) -> ParsedChatCompletion[T]:
    """A non-streamed completion parsed as ``state`` would parse a stream's."""
    return state._parsed(completion, final=True)
