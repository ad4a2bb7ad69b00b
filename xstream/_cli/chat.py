"""``xstream chat``: one answer streamed to stdout, everything else on stderr.

stdout holds the answer and nothing else. stderr holds the notes: the offline
demo's notice, reasoning (with ``--reasoning``), a live status line while the
answer has not started (on a terminal only: never in pipes or with ``--json``),
why an answer ended early (``length``, ``content_filter``), and the summary.

Loaded only when the command runs (``xstream --help`` imports none of it).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    import argparse
    import asyncio
    import contextlib
    import logging
    from typing import Any, TextIO

    from .._client import AsyncClient
    from .._models.chat import ChatCompletionChunk
    from .._streams.chat import StreamStats
    from ..testing import Reply

__all__ = ["DEMO_DELAY", "DEMO_REASONING", "run_chat"]

PLACEHOLDER_KEY = "xstream-placeholder-key"  # sent to keyless local servers
DEMO_DELAY = 0.02  # seconds between the demo server's events: slow enough to watch
DEMO_REASONING = (
    "The question is the famous one. The answer is known; the question was never "
    "quite worked out. Keep it light, and end with the number."
)  # what the demo "thinks" first with --reasoning, as a reasoning model streams it
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
STATUS_EVERY = 0.1  # seconds between two redraws of the status line
_DIM, _RESET, _CLEAR_LINE = "\x1b[2m", "\x1b[0m", "\r\x1b[2K"
_ENDED_EARLY = {
    "length": 'the answer was cut at the token limit (finish_reason "length"; '
    "raise --max-tokens for more)",
    "max_output_tokens": "the answer was cut at the token limit (max_output_tokens; "
    "raise --max-tokens for more)",
    "content_filter": "the answer was stopped by the content filter "
    '(finish_reason "content_filter")',
}


# --------------------------------------------------------------------------- output


def _styled(stream: TextIO, text: str) -> str:
    """``text`` dimmed when ``stream`` is a terminal (and NO_COLOR is unset)."""
    if stream.isatty() and not os.environ.get("NO_COLOR"):
        return f"{_DIM}{text}{_RESET}"
    return text


def note(err: TextIO, text: str) -> None:
    """One line of commentary on stderr (never on stdout, which holds the answer)."""
    err.write(_styled(err, f"xstream: {text}") + "\n")
    err.flush()


class Status:
    """The live status line on stderr while the answer has not started: elapsed
    time, reasoning tokens so far (when the server sends them), retries. Shown on
    a terminal only, redrawn in place, and wiped once the answer starts."""

    def __init__(self, err: TextIO, model: str, *, enabled: bool) -> None:
        self.err, self.model, self.enabled = err, model, enabled
        self.reasoning_tokens: int | None = None  # as the server counts them
        self.reasoning_deltas = 0  # what we count when it does not (yet)
        self.retries = 0
        self._started = 0.0
        self._task: asyncio.Task[None] | None = None
        self._shown = False

    def start(self) -> None:
        import asyncio

        self._started = asyncio.get_running_loop().time()
        if self.enabled:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def line(self, now: float) -> str:
        parts = [f"waiting for {self.model}: {now - self._started:.1f} s"]
        if self.reasoning_tokens:
            parts.append(f"{self.reasoning_tokens} reasoning tokens")
        elif self.reasoning_deltas:  # estimated, one token a delta: "~", as the summary says
            parts.append(f"~{self.reasoning_deltas} reasoning tokens")
        if self.retries:
            parts.append(f"{self.retries} {'retry' if self.retries == 1 else 'retries'}")
        return ", ".join(parts) + " (Ctrl-C to stop)"

    async def _run(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        while True:
            self.err.write(_CLEAR_LINE + _styled(self.err, f"xstream: {self.line(loop.time())}"))
            self.err.flush()
            self._shown = True
            await asyncio.sleep(STATUS_EVERY)

    def stop(self) -> None:
        """Wipe the line for good (the answer started, or the command ends)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        if self._shown:
            self.err.write(_CLEAR_LINE)
            self.err.flush()
            self._shown = False


def _retry_counter(status: Status) -> logging.Handler:
    """A handler on the ``xstream`` logger counting the retries it reports."""
    import logging

    class Retries(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if str(record.msg).startswith("retrying"):
                status.retries += 1

    return Retries(logging.DEBUG)


class _Printer:
    """Writes deltas as they arrive: content to stdout, reasoning to stderr.

    Remembers whether a line is left open, so that an error or Ctrl-C still
    leaves the terminal on a fresh line; stops the status line at the first text.
    """

    def __init__(self, out: TextIO, err: TextIO, status: Status, *, reasoning: bool) -> None:
        self.out, self.err, self.status = out, err, status
        self.reasoning = reasoning
        self.finish_reason: str | None = None
        self.content = 0  # pieces of answer printed
        self._out_open = False
        self._err_open = False

    def chunk(self, chunk: ChatCompletionChunk) -> None:
        """Print one chunk's deltas (the first choice's)."""
        usage = chunk.usage
        if usage is not None and usage.completion_tokens_details is not None:
            self.status.reasoning_tokens = usage.completion_tokens_details.reasoning_tokens
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
            delta = choice.delta
            thought = delta.reasoning_content or delta.reasoning
            if thought:
                self.thought(thought)
            if delta.content:
                self.text(delta.content)

    def text(self, text: str) -> None:
        self.status.stop()
        if self._err_open:  # the thinking is over: end its line before the answer
            self.err.write("\n")
            self.err.flush()
            self._err_open = False
        self.out.write(text)
        self.out.flush()
        self._out_open = True
        self.content += 1

    def thought(self, text: str) -> None:
        self.status.reasoning_deltas += 1
        if not self.reasoning:
            return
        self.status.stop()
        self.err.write(_styled(self.err, text))
        self.err.flush()
        self._err_open = True

    def end(self) -> None:
        """End the answer's line (and the reasoning's, if still open)."""
        self.status.stop()
        if self._err_open:
            self.err.write("\n")
            self.err.flush()
            self._err_open = False
        if self._out_open:
            self.out.write("\n")
            self.out.flush()
            self._out_open = False

    def ended_early(self, reason: str | None) -> None:
        """Say on stderr why the answer ended, when it was not complete."""
        said = _ENDED_EARLY.get(reason or "")
        if said is None:
            return
        if not self.content:
            said += "; no answer text came before it"
            spent = self.status.reasoning_tokens
            if spent:
                said += f" ({spent} tokens went to reasoning)"
        note(self.err, said)


def _summary(stats: StreamStats) -> str:
    """The one-line report: latency, chunks, throughput, usage, total time."""
    first = stats.time_to_first_content
    if first is None:
        first = stats.time_to_first_chunk
    usage, rate = stats.usage, stats.tokens_per_second
    parts = [
        f"first token after {_seconds(first)}" if first is not None else "no token",
        f"{stats.chunks} chunks",
        # without usage from the server, tokens are estimated by chunks: say so with "~"
        f"{'' if usage else '~'}{rate:.1f} tokens/s" if rate is not None else "n/a tokens/s",
        f"usage: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens"
        if usage is not None
        else "usage: not reported",
        f"{_seconds(stats.elapsed)} in all",
    ]
    return ", ".join(parts)


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


# --------------------------------------------------------------------------- chat


def demo_reply(args: argparse.Namespace) -> Reply:
    """What the offline demo's server answers: paced to watch, thinking first with
    ``--reasoning`` (``--max-tokens`` it honours as a server does: the request says it)."""
    from ..testing import Reply

    return Reply(delay=DEMO_DELAY, reasoning=DEMO_REASONING if args.reasoning else None)


async def _endpoint(
    stack: contextlib.AsyncExitStack, args: argparse.Namespace, err: TextIO
) -> tuple[str, str | None]:
    """The API key and base URL to use; starts the demo server when there is neither."""
    from ..testing import MockServer

    base_url = args.base_url
    key = os.environ.get("XAI_API_KEY")
    if key:
        return key, base_url
    url = base_url or os.environ.get("XAI_BASE_URL")
    if url:
        note(
            err,
            f"XAI_API_KEY is not set: sending a placeholder key to {url} "
            "(local servers usually need none)",
        )
        return PLACEHOLDER_KEY, url
    srv = await stack.enter_async_context(MockServer(default=demo_reply(args)))
    note(
        err,
        "XAI_API_KEY is not set, so this is the offline demo: the answer comes from "
        f"the built-in local server at {srv.base_url}, not from Grok.",
    )
    note(err, "to ask the real API: export XAI_API_KEY=...  (or pass --base-url URL)")
    return PLACEHOLDER_KEY, srv.base_url


def _messages(args: argparse.Namespace) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": args.system}] if args.system else []
    messages.append({"role": "user", "content": args.prompt})
    return messages


def _params(args: argparse.Namespace) -> dict[str, Any]:
    """The optional API parameters the user set (unset ones are not sent)."""
    params: dict[str, Any] = {"stream_options": {"include_usage": True}}
    if args.temperature is not None:
        params["temperature"] = args.temperature
    if args.max_tokens is not None:
        params["max_tokens"] = args.max_tokens
    return params


async def _chat(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Stream one answer; ``async with`` closes stream, client and demo server on
    every way out, cancellation by Ctrl-C included."""
    import contextlib
    import logging

    from .._client import AsyncClient

    status = Status(err, args.model, enabled=err.isatty() and not args.json)
    logger = logging.getLogger("xstream")
    counter = _retry_counter(status)
    async with contextlib.AsyncExitStack() as stack:
        key, base_url = await _endpoint(stack, args, err)
        client = AsyncClient(
            key, base_url=base_url, max_retries=args.max_retries, timeout=args.timeout
        )
        await stack.enter_async_context(client)
        if args.json:
            return await _wire(client, args, out, err)
        logger.addHandler(counter)
        level, logger.level = logger.level, logging.DEBUG
        stack.callback(logger.removeHandler, counter)
        stack.callback(setattr, logger, "level", level)
        status.start()
        stack.callback(status.stop)
        printer = _Printer(out, err, status, reasoning=args.reasoning)
        if args.api == "responses":
            return await _respond(client, args, printer)
        stream = await client.chat.completions.create(
            model=args.model, messages=_messages(args), stream=True, **_params(args)
        )
        async with stream:
            try:
                async for chunk in stream:
                    printer.chunk(chunk)
            finally:
                printer.end()
        printer.ended_early(printer.finish_reason)
        note(err, _summary(stream.stats))
    return 0


def _responses_params(args: argparse.Namespace) -> dict[str, Any]:
    params = {
        "instructions": args.system,
        "temperature": args.temperature,
        "max_output_tokens": args.max_tokens,
    }
    return {name: value for name, value in params.items() if value is not None}


async def _wire(client: AsyncClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``--json``: each event's data as the server sent it, one per line (a generic
    event stream: nothing decoded, nothing re-encoded)."""
    if args.api == "responses":
        path, body = "responses", {"model": args.model, "input": args.prompt}
        body.update(_responses_params(args))
    else:
        path, body = "chat/completions", {"model": args.model, "messages": _messages(args)}
        body.update(_params(args))
    stream = await client.sse("POST", path, json={**body, "stream": True})
    async with stream:
        async for event in stream:
            out.write(event.data + "\n")
            out.flush()
    stats = stream.stats
    note(err, f"{stats.events} events, {stats.bytes} bytes, {_seconds(stats.elapsed)} in all")
    return 0


async def _respond(client: AsyncClient, args: argparse.Namespace, printer: _Printer) -> int:
    """``--api responses``: the text deltas to stdout, reasoning summaries to stderr
    (``--reasoning``), the summary from the final response."""
    from .._models import responses as r

    params = {"model": args.model, "input": args.prompt, **_responses_params(args)}
    # --ws: one WebSocket session (_streams/ws_session.py), else an HTTP request
    session = client.responses.connect() if getattr(args, "ws", False) else None
    if session is not None:
        stream = await session.create(**params)
    else:
        stream = await client.responses.create(stream=True, **params)
    summarised: set[str | None] = set()  # reasoning items whose summary came as deltas
    async with stream:
        try:
            async for event in stream:
                if isinstance(event, r.ResponseOutputTextDeltaEvent):
                    printer.text(event.delta)
                elif isinstance(
                    event,
                    r.ResponseReasoningSummaryTextDeltaEvent | r.ResponseReasoningTextDeltaEvent,
                ):
                    summarised.add(event.item_id)
                    printer.thought(event.delta)
                elif isinstance(event, r.ResponseOutputItemDoneEvent):
                    item = event.item
                    if item.type == "reasoning" and item.id not in summarised:
                        text = " ".join(part.text or "" for part in item.summary or ())
                        if text:
                            printer.thought(text)
        finally:
            printer.end()
        final = await stream.get_final_response()
    if session is not None:
        await session.aclose()
    usage = final.usage
    if usage is not None and usage.output_tokens_details is not None:
        printer.status.reasoning_tokens = usage.output_tokens_details.reasoning_tokens
    details = final.incomplete_details
    printer.ended_early(details.reason if details is not None else None)
    counts = (
        f"{usage.input_tokens} input + {usage.output_tokens} output tokens"
        if usage is not None
        else "usage: not reported"
    )
    stats = stream.stats
    note(printer.err, f"{stats.events} events, {counts}, {_seconds(stats.elapsed)} in all")
    return 0


def run_chat(args: argparse.Namespace) -> int:
    """Run the chat, turning failures into one line on stderr and an exit code."""
    import asyncio

    from .._exceptions import XStreamError

    out, err = sys.stdout, sys.stderr
    try:
        return asyncio.run(_chat(args, out, err))
    except KeyboardInterrupt:
        note(err, "interrupted: the stream was closed")
        return EXIT_INTERRUPTED
    except XStreamError as exc:
        fail(err, _explained(exc))
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader of stdout left (`| head`): stop quietly, and keep Python's
        # final flush of stdout from raising again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR


def _explained(exc: BaseException) -> str:
    """The error's message, in the command line's words where the library's name
    a Python argument, and saying a cut stream was cut."""
    from .._exceptions import (
        AuthenticationError,
        IncompleteStreamError,
        StreamDisconnectedError,
        error_message,
    )

    if isinstance(exc, AuthenticationError):
        detail = error_message(exc.body) or "unauthorized"
        return (
            f"HTTP {exc.status_code}: {detail} (the API key was refused: check "
            "XAI_API_KEY, and --base-url for a server other than xAI's)"
        )
    if isinstance(exc, IncompleteStreamError | StreamDisconnectedError):
        return f"the answer was cut: {exc}"
    return str(exc)


def fail(err: TextIO, message: str) -> None:
    """Print ``error: ...`` as one line, with the API key (if any) blanked out."""
    from .._transport.redact import Redactor

    message = Redactor([os.environ.get("XAI_API_KEY") or ""]).redact(message)
    err.write("error: " + " ".join(message.split()) + "\n")
    err.flush()
