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
}

# Ordered (pattern, replacement): regular expressions, applied in turn to the whole text.
SUBSTITUTIONS: list[tuple[str, str]] = [
    # imports: the twins live in xstream/_sync/, the shared builders stay in _resources
    (r"from \.\._streams\.chat import AsyncStream\n", "from .streams import Stream\n"),
    (
        r"from \.\._streams\.chat_events import AsyncChatCompletionStream, "
        r"AsyncChatCompletionStreamManager\n",
        "from .streams import ChatCompletionStream, ChatCompletionStreamManager\n",
    ),
    (
        r"from \.\._streams\.response_events import AsyncResponseStream, "
        r"AsyncResponseStreamManager\n",
        "from .streams import SyncParsedResponseStream, SyncResponseStreamManager\n",
    ),
    (r"from \.\._streams\.responses import ResponseStream\n", "from .streams import SyncResponseStream\n"),
    (r"from \.\._streams\.events import EventStream\n", "from .streams import SyncEventStream\n"),
    (r"from \.calls import ", "from .._resources.calls import "),
    # coroutines become calls
    (r"\basync def ", "def "),
    (r"\bawait ", ""),
    (r"\basync with ", "with "),
    (r"\basync for ", "for "),
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
    (r"\bAsyncChatCompletionStreamManager\b", "ChatCompletionStreamManager"),
    (r"\bAsyncChatCompletionStream\b", "ChatCompletionStream"),
    (r"\bAsyncResponseStreamManager\b", "SyncResponseStreamManager"),
    (r"\bAsyncResponseStream\b", "SyncParsedResponseStream"),
    (r"\bResponseStream\b", "SyncResponseStream"),
    (r"\bAsyncStream\b", "Stream"),
    (r"\bEventStream\b", "SyncEventStream"),
]

_DOCSTRING = re.compile(r'\A"""(.*?)"""\n', re.S)


def header(source: str) -> str:
    return (
        f'"""GENERATED from ``xstream/{source}`` by ``scripts/unasync.py``: do not edit.\n\n'
        f"The blocking twin of ``{source}``: the same methods, parameters and docstrings,\n"
        "each call run on the client's loop thread by :class:`~xstream._sync.api.SyncAPI`.\n"
        '"""\n'
    )


def unasync(text: str, used: set[int]) -> str:
    for index, (pattern, replacement) in enumerate(SUBSTITUTIONS):
        text, count = re.subn(pattern, replacement, text)
        if count:
            used.add(index)
    return text


def ruff_format(text: str, path: Path) -> str:
    """``text`` with its imports sorted and formatted, as the pinned ruff wants it."""
    for command in (
        ["check", "--fix", "--select", "I", "--exit-zero", "--quiet"],
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
