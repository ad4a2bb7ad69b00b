"""Generated corpora for the benchmarks: deterministic, shaped like real xAI streams.

Every benchmark that needs "a chat completion stream" builds it here, so the
numbers of different benchmarks describe the same bytes. Nothing is random at
run time: the same ``seed`` gives the same corpus on every machine.

>>> body = sse_stream(chunk_payloads(3))
>>> body.count(b"data: ")
4
>>> body.endswith(b"data: [DONE]\\n\\n")
True
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable

__all__ = ["CORPORA", "Corpus", "chunk_payloads", "corpora", "pieces", "sse_stream"]

# Token-sized words; a few are non-ASCII so multi-byte UTF-8 sequences get
# split across piece boundaries, as they do on a real socket.
# fmt: off
_WORDS_ASCII = (
    "the", "of", "stream", "token", "model", "Grok", "answer", "is", "a", "fast",
    "event", "data", "and", "to", "in", "that", "it", "with", "for", "as", "on",
    "Python", "async", "bytes", "line", "chunk", "we", "can", "you", "42", ",", ".",
)
# fmt: on
_WORDS_OTHER = ("café", "—", "日本", "語", "🚀", "naïve", "…", "🙂", "Zürich", "→")
_NON_ASCII_RATE = 0.08  # share of words taken from _WORDS_OTHER

_PROMPT_TOKENS = 41
_CREATED = 1730000000
_MODEL = "grok-2-latest"


def chunk_payloads(n: int = 100_000, *, seed: int = 0) -> list[bytes]:
    """``n`` compact JSON ``chat.completion.chunk`` payloads of one stream.

    Raw UTF-8 (no ``\\u`` escapes), the same ``id`` throughout, ``usage``
    counting up, as xAI sends them with ``stream_options.include_usage``.
    Deterministic in ``seed``.
    """
    rng = random.Random(seed)
    stream_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    fingerprint = "fp_" + "".join(rng.choice("0123456789abcdef") for _ in range(10))
    # Everything but the content and the token counts is the same in every
    # chunk: format it once, then fill in the three fields that vary.
    head = (
        f'{{"id":"{stream_id}","object":"chat.completion.chunk","created":{_CREATED},'
        f'"model":"{_MODEL}","choices":[{{"index":0,"delta":{{"content":'
    )
    middle = (
        f',"role":"assistant"}}}}],"usage":{{"prompt_tokens":{_PROMPT_TOKENS},"completion_tokens":'
    )
    tail = (
        f',"prompt_tokens_details":{{"text_tokens":{_PROMPT_TOKENS},"audio_tokens":0,'
        f'"image_tokens":0,"cached_tokens":0}}}},"system_fingerprint":"{fingerprint}"}}'
    )
    out: list[bytes] = []
    for i in range(1, n + 1):
        words = [
            rng.choice(_WORDS_OTHER if rng.random() < _NON_ASCII_RATE else _WORDS_ASCII)
            for _ in range(rng.randint(1, 6))
        ]
        content = json.dumps(" " + " ".join(words), ensure_ascii=False)
        text = f'{head}{content}{middle}{i},"total_tokens":{_PROMPT_TOKENS + i}{tail}'
        out.append(text.encode("utf-8"))
    return out


def sse_stream(
    payloads: Iterable[bytes], *, line_end: bytes = b"\n", keepalive_every: int = 0
) -> bytes:
    """The ``text/event-stream`` body carrying ``payloads``, ending with ``[DONE]``.

    Each payload becomes ``data: <payload>`` and a blank line. With
    ``keepalive_every=N`` a ``: keep-alive`` comment block follows every N-th
    event (comments dispatch nothing: the event count does not change).
    """
    blank = line_end * 2
    comment = b": keep-alive" + blank
    parts: list[bytes] = []
    for i, payload in enumerate(payloads, 1):
        parts.append(b"data: " + payload + blank)
        if keepalive_every and i % keepalive_every == 0:
            parts.append(comment)
    parts.append(b"data: [DONE]" + blank)
    return b"".join(parts)


def pieces(body: bytes, size: int) -> list[bytes]:
    """``body`` split into ``size``-byte pieces (the last may be shorter)."""
    if size < 1:
        raise ValueError("size must be positive")
    return [body[i : i + size] for i in range(0, len(body), size)]


class Corpus:
    """A named stream body and the number of events it dispatches (``[DONE]`` included)."""

    __slots__ = ("body", "events", "name")

    def __init__(self, name: str, body: bytes, events: int) -> None:
        self.name = name
        self.body = body
        self.events = events

    def __repr__(self) -> str:
        return f"Corpus({self.name!r}, {len(self.body)} bytes, {self.events} events)"


# name -> (line_end, keepalive_every) given to sse_stream
CORPORA: dict[str, tuple[bytes, int]] = {
    "LF": (b"\n", 0),
    "CRLF": (b"\r\n", 0),
    "LF+keep-alive/10": (b"\n", 10),
}


def corpora(n: int = 100_000, *, seed: int = 0) -> list[Corpus]:
    """The standard corpora of :data:`CORPORA`, all over the same ``n`` payloads."""
    payloads = chunk_payloads(n, seed=seed)
    return [
        Corpus(name, sse_stream(payloads, line_end=end, keepalive_every=every), n + 1)
        for name, (end, every) in CORPORA.items()
    ]
