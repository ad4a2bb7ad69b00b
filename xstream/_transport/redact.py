"""Redaction: the one rule that keeps secrets out of everything xstream shows.

Messages, exception attributes (``body``, ``payload``) and log lines are built
from server bytes, OS errors and URLs; any of them may echo the API key. A
secret is replaced by ``***`` wherever it stands as a token of its own, that
is, not glued to letters, digits, ``-`` or ``_``. That is how keys appear
(``Bearer KEY``, ``"key": "KEY"``, ``?key=KEY``) and it never mangles ordinary
words: a one-letter test key ``k`` leaves "check" as it is. The library and
the CLI use this one rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeVar

__all__ = ["MASK", "Redactor"]

MASK = "***"
_E = TypeVar("_E", bound=BaseException)
_EDGE = "A-Za-z0-9_\\-"


class Redactor:
    """Blanks ``secrets`` out of text, bytes, decoded JSON values and exceptions.

    >>> Redactor(["k"]).redact("check: bad key k")
    'check: bad key ***'
    """

    __slots__ = ("_bytes", "_text")

    def __init__(self, secrets: Iterable[str]) -> None:
        found = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._text: re.Pattern[str] | None = None
        self._bytes: re.Pattern[bytes] | None = None
        if found:
            alternatives = "|".join(re.escape(s) for s in found)
            pattern = f"(?<![{_EDGE}])(?:{alternatives})(?![{_EDGE}])"
            self._text = re.compile(pattern)
            self._bytes = re.compile(pattern.encode())

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        return text if self._text is None else self._text.sub(MASK, text)

    def redact_bytes(self, data: bytes) -> bytes:
        return data if self._bytes is None else self._bytes.sub(MASK.encode(), data)

    def redact_value(self, value: Any) -> Any:
        """A decoded JSON value (or text, or bytes) with secrets blanked out, at any depth."""
        if self._text is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, bytes):
            return self.redact_bytes(value)
        if isinstance(value, dict):
            return {self.redact_value(k): self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact_value(v) for v in value)
        return value

    def scrub(self, error: _E) -> _E:
        """``error`` with secrets blanked out of its ``args`` and every attribute
        that holds text or decoded JSON (``message``, ``body``, ``payload``, ``code``, ...).
        Returns the same object, so ``raise redactor.scrub(error)`` keeps its traceback."""
        if self._text is None:
            return error
        error.args = tuple(self.redact_value(a) for a in error.args)
        for name, value in list(vars(error).items()):
            if isinstance(value, str | bytes | dict | list | tuple):
                setattr(error, name, self.redact_value(value))
        return error
