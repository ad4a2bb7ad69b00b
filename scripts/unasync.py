"""Generate the blocking resources from the async ones (httpcore's unasync is the model).

    python scripts/unasync.py           # (re)write xstream/_sync/{chat,responses,sse}.py
    python scripts/unasync.py --check   # fail when a generated file is stale, or a
                                        # substitution was never used

The async resources in ``xstream/_resources/`` are the source. Their methods only
build a call and hand it to ``self._api``; in the generated twin ``self._api`` is a
:class:`~xstream._sync.api.SyncAPI`, which runs the same pipeline on the client's
loop thread. So the twin is the source with ``async``/``await`` dropped and the
async names replaced by their blocking twins, through the ordered table below.
Each generated file has its imports sorted and is formatted by the pinned ruff.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "xstream"

# source (async) -> generated (blocking), both under xstream/
FILES = {
    "_resources/chat.py": "_sync/chat.py",
    "_resources/responses.py": "_sync/responses.py",
    "_resources/sse.py": "_sync/sse.py",
    "_streams/chat_events.py": "_sync/chat_events.py",
    "_streams/response_events.py": "_sync/response_events.py",
    "_streams/managers.py": "_sync/managers.py",
    "_resources/runner.py": "_sync/runner.py",
    "_resources/tool_runner.py": "_sync/tool_runner.py",
    "_resources/response_runner.py": "_sync/response_runner.py",
}

# Ordered (pattern, replacement): regular expressions, applied in turn to the whole text.
SUBSTITUTIONS: list[tuple[str, str]] = [
    # imports: the twins live in xstream/_sync/, what both share stays where it is
    (r"from \.\._streams\.chat import AsyncStream\n", "from .streams import Stream\n"),
    (r"from \.\._streams\.chat_events import ", "from .chat_events import "),
    (r"from \.\._streams\.response_events import ", "from .response_events import "),
    (
        r"from \.\._streams\.responses import ResponseStream\n",
        "from .streams import SyncResponseStream\n",
    ),
    (r"from \.\._streams\.events import EventStream\n", "from .streams import SyncEventStream\n"),
    (
        r"from \.\._streams\.ws_session import ResponsesSession\n",
        "from .ws_session import SyncResponsesSession\n",
    ),
    (r"from \.calls import ", "from .._resources.calls import "),
    (
        r"from \.chat import AsyncStream, StreamStats\n",
        "from .._streams.chat import StreamStats\nfrom .streams import Stream\n",
    ),
    (r"from \.relay import aiohttp_response, relay\n", "from .._streams.relay import relay_sync\n"),
    (r"\nif TYPE_CHECKING:\n    from aiohttp import web\n", "\n"),
    (r"from \.responses import ResponseStream\n", "from .streams import SyncResponseStream\n"),
    (r"from \.events import ", "from .._streams.events import "),
    # the types of what iterates, and of what is awaited
    (r"\bAsyncGenerator\[(.+?), None\]", r"Generator[\1, None, None]"),
    (r"\bAsyncGenerator\b", "Generator"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAwaitable\[(\w+)\]", r"\1"),
    (r"\b_AsyncClosable\b", "_Closable"),
    # coroutines become calls; the async protocols their blocking ones
    (r"``async with``", "``with``"),
    (r"\basync def ", "def "),
    (r"\bawait ", ""),
    (r"\basync with ", "with "),
    (r"\basync for ", "for "),
    (r"\n    close = aclose[^\n]*\n", "\n"),
    (r"\baclose\b", "close"),
    (r"__aiter__", "__iter__"),
    (r"__anext__", "__next__"),
    (r"\banext\(", "next("),
    (r"__aenter__", "__enter__"),
    (r"__aexit__", "__exit__"),
    (r"\brelay\(", "relay_sync("),
    (r"(\n\s*)for (\w+) in ([^\n]+):\n\s+yield \2\n", r"\1yield from \3\n"),
    # the resources and what they make
    (r"\bAsyncAPI\b", "SyncAPI"),
    (r"\bAsyncChat\b", "Chat"),
    (r"\bAsyncCompletionsWithRawResponse\b", "CompletionsWithRawResponse"),
    (r"\bAsyncCompletions\b", "Completions"),
    (r"\bAsyncResponsesWithRawResponse\b", "ResponsesWithRawResponse"),
    (r"\bAsyncResponses\b", "Responses"),
    (r"\bAsyncSSE\b", "SSE"),
    (r"\bDeferredCompletion\b", "SyncDeferredCompletion"),
    (r"\bAsyncToolRunner\b", "ToolRunner"),
    (r"\bAsyncRunnerBase\b", "RunnerBase"),
    (r"\bAsyncResponsesToolRunner\b", "ResponsesToolRunner"),
    (r"\bAsyncStreamManager\b", "StreamManager"),
    (r"\bAsyncChatCompletionStreamManager\b", "ChatCompletionStreamManager"),
    (r"\bAsyncChatCompletionStream\b", "ChatCompletionStream"),
    (r"\bAsyncResponseStreamManager\b", "SyncResponseStreamManager"),
    (r"\bAsyncResponseStream\b", "SyncParsedResponseStream"),
    (r"\bResponseStream\b", "SyncResponseStream"),
    (r"\bResponsesSession\b", "SyncResponsesSession"),
    (r"\bAsyncStream\b", "Stream"),
    (r"\bEventStream\b", "SyncEventStream"),
]

# A method preceded by this comment has no blocking twin (it is dropped).
ASYNC_ONLY = "# unasync: async only"

_DOCSTRING = re.compile(r'\A"""(.*?)"""\n', re.S)


def header(source: str) -> str:
    return (
        f'"""GENERATED from ``xstream/{source}`` by ``scripts/unasync.py``: do not edit.\n\n'
        f"The blocking twin of ``{source}``: the same methods, parameters and docstrings,\n"
        "without async and await; what needs the event loop crosses to the client's loop\n"
        "thread in :class:`~xstream._sync.api.SyncAPI` and the streams of ``_sync/streams.py``.\n"
        '"""\n'
    )


def drop_async_only(text: str) -> str:
    """Drop each method marked :data:`ASYNC_ONLY` (its decorators, def and body), with
    the marker."""
    out: list[str] = []
    marker: int | None = None  # the marker's indentation, while its method is dropped
    in_body = False  # the method's ``def`` line was passed
    for line in text.splitlines(keepends=True):
        indent = len(line) - len(line.lstrip())
        if marker is not None:
            if not line.strip():
                continue
            if indent > marker or not in_body:
                in_body = in_body or line.lstrip().startswith(("def ", "async def "))
                continue
            marker, in_body = None, False
            out.append("\n")
        if line.strip() == ASYNC_ONLY:
            marker = indent
            while out and not out[-1].strip():
                out.pop()  # the blank lines before it go too
            out.append("\n")
            continue
        out.append(line)
    return "".join(out)


def unasync(text: str, used: set[int]) -> str:
    text = drop_async_only(text)
    for index, (pattern, replacement) in enumerate(SUBSTITUTIONS):
        text, count = re.subn(pattern, replacement, text)
        if count:
            used.add(index)
    return text


def ruff_format(text: str, path: Path) -> str:
    """``text`` with its imports sorted and formatted, as the pinned ruff wants it."""
    for command in (
        ["check", "--fix", "--select", "I,F401", "--exit-zero", "--quiet"],
        ["format"],
    ):
        text = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--stdin-filename", str(path), "-"],
            input=text,
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout
    return text


def generate() -> tuple[dict[Path, str], list[str]]:
    """The generated files' text, and the substitutions no file used."""
    used: set[int] = set()
    out: dict[Path, str] = {}
    for source, target in FILES.items():
        text = (PACKAGE / source).read_text()
        match = _DOCSTRING.match(text)
        if match is None:
            raise SystemExit(f"xstream/{source} must start with a docstring")
        body = unasync(text[match.end() :], used)
        path = PACKAGE / target
        out[path] = ruff_format(header(source) + body, path)
    unused = [SUBSTITUTIONS[i][0] for i in range(len(SUBSTITUTIONS)) if i not in used]
    return out, unused


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when stale; write nothing")
    args = parser.parse_args(argv)
    generated, unused = generate()
    problems = [f"substitution never used: {pattern!r}" for pattern in unused]
    for path, text in generated.items():
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        if args.check:
            if not path.exists() or path.read_text() != text:
                problems.append(f"{shown} is stale: run python scripts/unasync.py")
        elif not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {shown}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
