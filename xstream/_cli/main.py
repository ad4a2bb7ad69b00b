"""The command line: ``xstream chat "PROMPT"`` and ``xstream serve``.

``xstream serve`` runs the built-in server (the mock API under ``/v1``) and a
chat page at ``/`` that streams answers through a relay (:mod:`xstream._cli.page`).

``xstream chat`` streams an answer to stdout as it arrives and ends with a
one-line summary on stderr (time to first token, chunks, tokens/s, usage).
With no ``XAI_API_KEY`` and no base URL it runs an offline demo against the
built-in local server (:mod:`xstream.testing`), over real HTTP, and says so.

Exit codes: 0 done, 1 an API/connection/stream error (one line on stderr,
no traceback), 2 a usage error, 130 interrupted by Ctrl-C (the stream is
closed first, so the connection is released), at any moment, start-up included.

Nothing heavy is imported before a command runs: ``xstream --help`` loads
argparse and nothing of aiohttp or msgspec, and a Ctrl-C while a command
loads them is one line, not a traceback from the middle of an import.
"""

from __future__ import annotations

import os
import sys

from .._version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    import argparse
    import contextlib
    from collections.abc import Sequence
    from typing import Any, TextIO

    from .._client import AsyncClient
    from .._models.chat import ChatCompletionChunk
    from .._streams.chat import StreamStats
    from ..testing import Reply

__all__ = ["main"]

DEFAULT_MODEL = "grok-2-latest"
PLACEHOLDER_KEY = "xstream-placeholder-key"  # sent to keyless local servers
DEMO_DELAY = 0.02  # seconds between the demo server's events: slow enough to watch
DEMO_REASONING = (
    "The question is the famous one. The answer is known; the question was never "
    "quite worked out. Keep it light, and end with the number."
)  # what the demo "thinks" first with --reasoning, as a reasoning model streams it
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
_DIM, _RESET = "\x1b[2m", "\x1b[0m"


# --------------------------------------------------------------------------- arguments


def _parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="xstream",
        description="Stream chat completions from xAI or any OpenAI-compatible server.",
    )
    parser.add_argument("--version", action="version", version=f"xstream {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_chat(commands)
    _add_serve(commands)
    return parser


def _add_chat(commands: Any) -> None:
    chat = commands.add_parser(
        "chat",
        help="stream an answer to stdout",
        description="Stream an answer to stdout; a summary goes to stderr. Without "
        "XAI_API_KEY (and without --base-url) this is an offline demo against the "
        "built-in local server.",
    )
    chat.add_argument("prompt", help="what to ask")
    chat.add_argument(
        "--model",
        default=os.environ.get("XAI_MODEL") or DEFAULT_MODEL,
        help="model name (default: $XAI_MODEL or %(default)s)",
    )
    chat.add_argument("--system", help="a system message sent before the prompt")
    chat.add_argument("--temperature", type=float, help="sampling temperature")
    chat.add_argument("--max-tokens", type=int, help="the most tokens to generate")
    chat.add_argument(
        "--base-url", help="API base URL (default: $XAI_BASE_URL or https://api.x.ai/v1)"
    )
    chat.add_argument(
        "--max-retries", type=int, default=2, help="retries before the answer starts (default: 2)"
    )
    chat.add_argument(
        "--json",
        action="store_true",
        help="print each event's data exactly as the server sent it (the chunk JSON, "
        "then [DONE]), one per line, instead of the answer",
    )
    chat.add_argument(
        "--reasoning",
        action="store_true",
        help="also print reasoning deltas to stderr (models that stream them; the "
        "offline demo then thinks first)",
    )
    chat.add_argument(
        "--api",
        choices=("chat", "responses"),
        default="chat",
        help="chat completions (default), or the Responses API that xAI recommends",
    )
    chat.add_argument(
        "--ws", action="store_true", help="with --api responses: over a WebSocket session"
    )


def _add_serve(commands: Any) -> None:
    srv = commands.add_parser(
        "serve",
        help="run the built-in local OpenAI-compatible server, and a chat page",
        description="Serve POST /v1/chat/completions and the Responses API (/v1/responses) "
        "on a local port until Ctrl-C, and at / a chat page whose answers stream through "
        "a relay (stream.to_sse()). The page asks the built-in server, or with XAI_API_KEY "
        "(or --base-url) the real API.",
    )
    srv.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    srv.add_argument("--port", type=int, default=8000, help="port to bind (default: %(default)s)")
    srv.add_argument(
        "--delay", type=float, default=0.0, help="seconds between streamed events (default: 0)"
    )
    srv.add_argument(
        "--base-url",
        help="the API the chat page asks (default: $XAI_BASE_URL; with XAI_API_KEY "
        "https://api.x.ai/v1; else the built-in server)",
    )
    srv.add_argument(
        "--model",
        default=os.environ.get("XAI_MODEL") or DEFAULT_MODEL,
        help="the model the chat page asks for (default: $XAI_MODEL or %(default)s)",
    )


# --------------------------------------------------------------------------- output


def _styled(stream: TextIO, text: str) -> str:
    """``text`` dimmed when ``stream`` is a terminal (and NO_COLOR is unset)."""
    if stream.isatty() and not os.environ.get("NO_COLOR"):
        return f"{_DIM}{text}{_RESET}"
    return text


def _note(err: TextIO, text: str) -> None:
    """One line of commentary on stderr (never on stdout, which holds the answer)."""
    err.write(_styled(err, f"xstream: {text}") + "\n")
    err.flush()


class _Printer:
    """Writes deltas as they arrive: content to stdout, reasoning to stderr.

    Remembers whether a line is left open, so that an
    error or Ctrl-C still leaves the terminal on a fresh line.
    """

    def __init__(self, out: TextIO, err: TextIO, *, reasoning: bool) -> None:
        self.out, self.err = out, err
        self.reasoning = reasoning
        self._out_open = False
        self._err_open = False

    def chunk(self, chunk: ChatCompletionChunk) -> None:
        """Print one chunk's deltas (the first choice's)."""
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            thought = delta.reasoning_content or delta.reasoning
            if self.reasoning and thought:
                self._reasoning(thought)
            if delta.content:
                self._content(delta.content)

    def _content(self, text: str) -> None:
        if self._err_open:  # the thinking is over: end its line before the answer
            self.err.write("\n")
            self.err.flush()
            self._err_open = False
        self.out.write(text)
        self.out.flush()
        self._out_open = True

    def _reasoning(self, text: str) -> None:
        self.err.write(_styled(self.err, text))
        self.err.flush()
        self._err_open = True

    def end(self) -> None:
        """End the answer's line (and the reasoning's, if still open)."""
        if self._err_open:
            self.err.write("\n")
            self.err.flush()
            self._err_open = False
        if self._out_open:
            self.out.write("\n")
            self.out.flush()
            self._out_open = False


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


def _demo_reply(args: argparse.Namespace) -> Reply:
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
        _note(
            err,
            f"XAI_API_KEY is not set: sending a placeholder key to {url} "
            "(local servers usually need none)",
        )
        return PLACEHOLDER_KEY, url
    srv = await stack.enter_async_context(MockServer(default=_demo_reply(args)))
    _note(
        err,
        "XAI_API_KEY is not set, so this is the offline demo: the answer comes from "
        f"the built-in local server at {srv.base_url}, not from Grok.",
    )
    _note(err, "to ask the real API: export XAI_API_KEY=...  (or pass --base-url URL)")
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

    from .._client import AsyncClient

    printer = _Printer(out, err, reasoning=args.reasoning)
    async with contextlib.AsyncExitStack() as stack:
        key, base_url = await _endpoint(stack, args, err)
        client = AsyncClient(key, base_url=base_url, max_retries=args.max_retries)
        await stack.enter_async_context(client)
        if args.json:
            return await _wire(client, args, out, err)
        if args.api == "responses":
            return await _respond(client, args, out, err)
        stream = await client.chat.completions.create(
            model=args.model, messages=_messages(args), stream=True, **_params(args)
        )
        async with stream:
            try:
                async for chunk in stream:
                    printer.chunk(chunk)
            finally:
                printer.end()
        _note(err, _summary(stream.stats))
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
    _note(err, f"{stats.events} events, {stats.bytes} bytes, {_seconds(stats.elapsed)} in all")
    return 0


async def _respond(client: AsyncClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``--api responses``: stream the text deltas; the summary from the final response."""
    from .._models.responses import ResponseOutputTextDeltaEvent

    params = {"model": args.model, "input": args.prompt, **_responses_params(args)}
    session = client.responses.connect() if args.ws else None  # one WebSocket: _streams/ws_session
    if session is not None:
        stream = await session.create(**params)
    else:
        stream = await client.responses.create(stream=True, **params)
    async with stream:
        try:
            async for event in stream:
                if isinstance(event, ResponseOutputTextDeltaEvent):
                    out.write(event.delta)
                    out.flush()
        finally:
            out.write("\n")
            out.flush()
        final = await stream.get_final_response()
    if session is not None:
        await session.aclose()
    usage = final.usage
    counts = (
        f"{usage.input_tokens} input + {usage.output_tokens} output tokens"
        if usage is not None
        else "usage: not reported"
    )
    _note(err, f"{stream.stats.events} events, {counts}, {_seconds(stream.stats.elapsed)} in all")
    return 0


def _run_chat(args: argparse.Namespace) -> int:
    """Run the chat, turning failures into one line on stderr and an exit code."""
    import asyncio

    from .._exceptions import XStreamError

    out, err = sys.stdout, sys.stderr
    try:
        return asyncio.run(_chat(args, out, err))
    except KeyboardInterrupt:
        _note(err, "interrupted: the stream was closed")
        return EXIT_INTERRUPTED
    except XStreamError as exc:
        _fail(err, str(exc))
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader of stdout left (`| head`): stop quietly, and keep Python's
        # final flush of stdout from raising again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR


def _fail(err: TextIO, message: str) -> None:
    """Print ``error: ...`` as one line, with the API key (if any) blanked out."""
    from .._transport.redact import Redactor

    message = Redactor([os.environ.get("XAI_API_KEY") or ""]).redact(message)
    err.write("error: " + " ".join(message.split()) + "\n")
    err.flush()


# --------------------------------------------------------------------------- serve


def _serve(args: argparse.Namespace) -> int:
    """Run the local server and the chat page in the foreground until Ctrl-C."""
    from ..testing import Reply
    from .page import Upstream, serve_with_page

    url = args.base_url or os.environ.get("XAI_BASE_URL") or None
    upstream = Upstream(os.environ.get("XAI_API_KEY") or None, url, args.model)
    try:
        serve_with_page(args.host, args.port, default=Reply(delay=args.delay), upstream=upstream)
    except OSError as exc:  # the port is taken, the address is not local, ...
        _fail(sys.stderr, f"cannot serve on {args.host}:{args.port}: {exc}")
        return EXIT_ERROR
    return 0


# --------------------------------------------------------------------------- entry point


def _tolerant_output() -> None:
    """Replace characters the terminal cannot encode instead of crashing on them."""
    import io

    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    >>> main(["chat", "Hi", "--model", "grok-2-latest"])  # doctest: +SKIP
    """
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before the command's own handler: while it loads, say
        _note(sys.stderr, "interrupted")
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    _tolerant_output()
    if args.command == "serve":
        return _serve(args)
    return _run_chat(args)
