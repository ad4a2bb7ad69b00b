"""The command line: ``xstream chat "PROMPT"`` and ``xstream serve``.

``xstream serve`` runs the built-in server (the mock API under ``/v1``) and a
chat page at ``/`` that streams answers through a relay (:mod:`xstream._cli.page`).

``xstream chat`` streams an answer to stdout as it arrives and ends with a
one-line summary on stderr (time to first token, chunks, tokens/s, usage).
With no ``XAI_API_KEY`` and no base URL it runs an offline demo against the
built-in local server (:mod:`xstream.testing`), over real HTTP, and says so.

Exit codes: 0 done, 1 an API/connection/stream error (one line on stderr,
no traceback), 2 a usage error, 130 interrupted by Ctrl-C (the stream is
closed first, so the connection is released), from the moment this module runs.

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
    from collections.abc import Callable, Sequence
    from typing import Any

__all__ = ["main"]

DEFAULT_MODEL = "grok-4"  # as in the README's examples
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


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
    chat.add_argument("prompt", help="what to ask; - reads it from stdin")
    chat.add_argument(
        "--model",
        default=os.environ.get("XAI_MODEL") or DEFAULT_MODEL,
        help="model name (default: $XAI_MODEL or %(default)s)",
    )
    chat.add_argument("--system", help="a system message sent before the prompt")
    chat.add_argument(
        "--temperature", type=_number(float, 0, 2), help="sampling temperature, 0 to 2"
    )
    chat.add_argument(
        "--max-tokens", type=_number(int, 1), help="the most tokens to generate (1 or more)"
    )
    chat.add_argument(
        "--base-url", help="API base URL (default: $XAI_BASE_URL or https://api.x.ai/v1)"
    )
    chat.add_argument(
        "--max-retries",
        type=_number(int, 0),
        default=2,
        help="retries before the answer starts (default: 2)",
    )
    chat.add_argument(
        "--timeout",
        type=_number(float, 0, above=True),
        help="seconds for each wait: connecting, the response to start, the first "
        "token, and between two tokens (default: 10, 20, 600 and 120 s)",
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


def _number(
    kind: Callable[[str], Any], low: float, high: float | None = None, *, above: bool = False
) -> Callable[[str], Any]:
    """An argparse type: a ``kind`` number from ``low`` (excluded when ``above``)
    to ``high``, else a usage error saying the range."""
    import argparse

    noun = "a whole number" if kind is int else "a number"
    bounds = f"above {low:g}" if above else f"{low:g} or more"
    if high is not None:
        bounds = f"from {low:g} to {high:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if value != value or value < low or (above and value == low):  # NaN, too low
            raise argparse.ArgumentTypeError(f"{text} is not {bounds}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text} is not {bounds}")
        return value

    parse.__name__ = noun  # argparse names the type in its messages
    return parse


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
    srv.add_argument(
        "--port",
        type=_number(int, 0, 65535),
        default=8000,
        help="port to bind (default: %(default)s)",
    )
    srv.add_argument(
        "--delay",
        type=_number(float, 0),
        help="seconds between streamed events, of the mock API and of the chat page's "
        "built-in upstream (default: 0 for the API, 0.02 for the page, to watch)",
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
    srv.add_argument(
        "--store",
        metavar="REDIS_URL",
        help="make the chat page's answers resumable: a worker process streams each into "
        "this Redis (pip install 'xstream-llm[redis]') and the page reads it with "
        "EventSource, resuming after a reconnect, a refresh or this server's restart "
        "(with an upstream that outlives it: --base-url or XAI_API_KEY)",
    )
    srv.add_argument(
        "--lenient",
        action="store_true",
        help="take any model name, paths without /v1, any parameters and no key (by "
        "default the mock API refuses them as xAI does)",
    )


# --------------------------------------------------------------------------- serve


def _serve(args: argparse.Namespace) -> int:
    """Run the local server and the chat page in the foreground until Ctrl-C."""
    from ..testing import Reply
    from .page import PAGE_DELAY, Upstream, serve_with_page

    url = args.base_url or os.environ.get("XAI_BASE_URL") or None
    upstream = Upstream(os.environ.get("XAI_API_KEY") or None, url, args.model)
    try:
        serve_with_page(
            args.host,
            args.port,
            default=Reply(delay=args.delay or 0.0),
            upstream=upstream,
            strict=not args.lenient,
            page_delay=PAGE_DELAY if args.delay is None else args.delay,
            store=args.store,
        )
    except OSError as exc:  # the port is taken, the address is not local, ...
        from .chat import fail

        fail(sys.stderr, f"cannot serve on {args.host}:{args.port}: {exc}")
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

    >>> main(["chat", "Hi", "--model", "grok-4"])  # doctest: +SKIP
    """
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before the command's own handler: while it loads, say
        sys.stderr.write("xstream: interrupted\n")
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    _tolerant_output()
    if args.command == "serve":
        return _serve(args)
    if args.prompt == "-":
        args.prompt = sys.stdin.read().strip()
        if not args.prompt:
            sys.stderr.write("xstream chat: error: the prompt read from stdin is empty\n")
            return EXIT_USAGE
    from .chat import run_chat

    return run_chat(args)
