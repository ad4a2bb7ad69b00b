"""PartialJSON: a JSON text parsed as it arrives, the value so far at any time.

Structured output streams as a JSON text cut into deltas. Showing the object
while it grows needs its value after every delta. Parsing the whole text again
each time (as the OpenAI SDK does) costs time that grows with the square of the
length; this parser reads each character once and keeps what it has built:

- closed values (a finished string, number, object or array) are built once
  and put in their parent; with a ``type``, a closed object that the type
  describes at that place becomes that type (a Struct, dataclass or TypedDict),
  so the value is "typed as far as the type allows";
- :attr:`PartialJSON.value` copies only the containers still open (the path to
  the value being written) and adds the open string as far as it has arrived.
  Closed values are shared, never copied again.

An unfinished number is shown as far as what arrived is a valid number (``-1.5e``
shows ``-1.5``, ``1.`` shows ``1``), so a key never vanishes once shown; an
unfinished ``true``/``false``/``null``, an unfinished key, or a key whose value
has not started, are not shown.

Sans-IO and pure Python: strings are consumed a run at a time with ``re``, not
character by character.

>>> p = PartialJSON()
>>> p.feed('{"city": "Par')
>>> p.value
{'city': 'Par'}
>>> p.feed('is", "days": [1, 2')
>>> p.value
{'city': 'Paris', 'days': [1, 2]}
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

__all__ = ["PartialJSON"]

_MISSING: Final[Any] = object()

_PLAIN = re.compile(r'[^"\\]*')  # a run of string characters without quote or escape
_SPACE = re.compile(r"[ \t\n\r]*")
_NUMBER_CHARS = re.compile(r"[-+0-9.eE]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_HEX = re.compile(r"[0-9a-fA-F]{4}")
_ESCAPES: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_LITERALS: Final = {"true": True, "false": False, "null": None}

# What a frame waits for.
_KEY_OR_END, _KEY, _COLON, _VALUE_OR_END, _VALUE, _COMMA_OR_END = range(6)


class _Frame:
    """An open object or array: what it holds so far and what comes next."""

    __slots__ = ("container", "expect", "is_object", "key", "type")

    def __init__(self, is_object: bool, type: Any) -> None:
        self.is_object = is_object
        self.container: Any = {} if is_object else []
        self.expect = _KEY_OR_END if is_object else _VALUE_OR_END
        self.key: str | None = None
        self.type = type  # a msgspec.inspect.Type, or None when unknown


class PartialJSONError(ValueError):
    """The text is not JSON: ``offset`` is where, counted in characters."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at character {offset}")
        self.offset = offset


class PartialJSON:
    """Parse a JSON text fed in pieces; :attr:`value` is the value so far.

    ``type`` (anything msgspec can decode into) types the closed objects it
    describes. ``feed`` raises :class:`PartialJSONError` (a ``ValueError``) at
    the first character that cannot be JSON; the parser then stops, and
    :attr:`value` stays what it was before that character.
    """

    __slots__ = (
        "_cache",
        "_escape",
        "_frames",
        "_high",
        "_offset",
        "_pieces",
        "_root",
        "_root_type",
        "_scalar",
        "_string_is_key",
        "done",
        "error",
    )

    def __init__(self, type: Any = None) -> None:
        self._frames: list[_Frame] = []
        self._root: Any = _MISSING
        self._root_type = _type_info(type)
        self._pieces: list[str] | None = None  # the open string's decoded pieces
        self._string_is_key = False
        self._escape = ""  # an escape sequence split across pieces
        self._high = ""  # a high surrogate waiting for its low half
        self._scalar: str | None = None  # an open number or literal
        self._offset = 0
        self._cache: Any = _MISSING
        self.done = False
        """Whether the top-level value is complete."""
        self.error: PartialJSONError | None = None
        """Why parsing stopped, if the text is not JSON."""

    # ------------------------------------------------------------------ public

    def feed(self, text: str) -> None:
        """Parse one more piece of the text."""
        if self.error is not None:
            raise self.error
        if not text:
            return
        self._cache = _MISSING
        try:
            self._parse(text)
        except PartialJSONError as exc:
            self.error = exc
            raise
        self._offset += len(text)

    @property
    def value(self) -> Any:
        """The value so far (``None`` before any value started)."""
        cached = self._cache
        if cached is _MISSING:
            cached = self._cache = self._materialize()
        return cached

    # ------------------------------------------------------------------ parsing

    def _parse(self, text: str) -> None:
        i, n = 0, len(text)
        while i < n:
            if self._pieces is not None:
                i = self._string(text, i)
                continue
            if self._scalar is not None:
                i = self._more_scalar(text, i)
                continue
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
            if i >= n:
                break
            char = text[i]
            frames = self._frames
            if not frames:
                if self._root is not _MISSING:
                    raise PartialJSONError(f"unexpected {char!r} after the value", self._at(i))
                self._start_value(char, i)
                i += 1
                continue
            frame = frames[-1]
            expect = frame.expect
            if expect in (_VALUE, _VALUE_OR_END):
                if char == "]" and expect == _VALUE_OR_END:
                    self._close(i)
                else:
                    self._start_value(char, i)
            elif expect == _COMMA_OR_END:
                if char == ",":
                    frame.expect = _KEY if frame.is_object else _VALUE
                elif char == ("}" if frame.is_object else "]"):
                    self._close(i)
                else:
                    raise PartialJSONError(f"expected ',' or a close, got {char!r}", self._at(i))
            elif expect == _COLON:
                if char != ":":
                    raise PartialJSONError(f"expected ':', got {char!r}", self._at(i))
                frame.expect = _VALUE
            elif char == '"':  # _KEY or _KEY_OR_END
                self._pieces, self._string_is_key = [], True
            elif char == "}" and expect == _KEY_OR_END:
                self._close(i)
            else:
                raise PartialJSONError(f"expected a key, got {char!r}", self._at(i))
            i += 1

    def _at(self, i: int) -> int:
        return self._offset + i

    def _start_value(self, char: str, i: int) -> None:
        if char == '"':
            self._pieces, self._string_is_key = [], False
        elif char == "{" or char == "[":
            self._frames.append(_Frame(char == "{", self._child_type()))
        elif char == "-" or "0" <= char <= "9" or char in "tfn":
            self._scalar = char
        else:
            raise PartialJSONError(f"expected a value, got {char!r}", self._at(i))

    def _string(self, text: str, i: int) -> int:
        """Consume string characters from ``i``; return where parsing goes on."""
        pieces = self._pieces
        assert pieces is not None
        n = len(text)
        while i < n:
            if self._escape:
                i = self._more_escape(text, i)
                continue
            end = _PLAIN.match(text, i).end()  # type: ignore[union-attr]
            if end > i:
                self._flush_high()
                pieces.append(text[i:end])
                i = end
            if i >= n:
                break
            if text[i] == '"':
                self._flush_high()
                value = "".join(pieces)
                self._pieces = None
                if self._string_is_key:
                    frame = self._frames[-1]
                    frame.key, frame.expect = value, _COLON
                else:
                    self._add(value)
                return i + 1
            self._escape = "\\"
            i += 1
        return i

    def _more_escape(self, text: str, i: int) -> int:
        pieces = self._pieces
        assert pieces is not None
        escape = self._escape
        if len(escape) == 1:
            kind = text[i]
            i += 1
            if kind == "u":
                self._escape = "\\u"
                return i
            self._escape = ""
            decoded = _ESCAPES.get(kind)
            if decoded is None:
                raise PartialJSONError(f"invalid escape \\{kind}", self._at(i - 1))
            self._flush_high()
            pieces.append(decoded)
            return i
        need = 6 - len(escape)
        escape += text[i : i + need]
        i += min(need, len(text) - i)
        if len(escape) < 6:
            self._escape = escape
            return i
        self._escape = ""
        if not _HEX.fullmatch(escape, 2):
            raise PartialJSONError(f"invalid escape {escape!r}", self._at(i - 6))
        code = int(escape[2:], 16)
        if 0xD800 <= code < 0xDC00:  # a high surrogate: its low half may follow
            self._flush_high()
            self._high = chr(code)
        elif 0xDC00 <= code < 0xE000 and self._high:
            pair = 0x10000 + ((ord(self._high) - 0xD800) << 10) + (code - 0xDC00)
            self._high = ""
            pieces.append(chr(pair))
        else:
            self._flush_high()
            pieces.append(chr(code))
        return i

    def _flush_high(self) -> None:
        if self._high:
            assert self._pieces is not None
            self._pieces.append(self._high)  # a lone surrogate, as json.loads keeps it
            self._high = ""

    def _more_scalar(self, text: str, i: int) -> int:
        scalar = self._scalar
        assert scalar is not None
        if scalar[0] in "tfn":
            literal = next(w for w in _LITERALS if w[0] == scalar[0])
            take = text[i : i + len(literal) - len(scalar)]
            scalar += take
            if not literal.startswith(scalar):
                raise PartialJSONError(f"invalid literal {scalar!r}", self._at(i))
            i += len(take)
            if scalar == literal:
                self._scalar = None
                self._add(_LITERALS[literal])
            else:
                self._scalar = scalar
            return i
        end = _NUMBER_CHARS.match(text, i).end()  # type: ignore[union-attr]
        scalar += text[i:end]
        if end == len(text):  # the number may go on in the next piece
            self._scalar = scalar
            return end
        self._scalar = None
        self._add(_number(scalar, self._at(end)))
        return end

    def _child_type(self) -> Any:
        frames = self._frames
        if not frames:
            return self._root_type
        frame = frames[-1]
        if frame.is_object:
            return _member_type(frame.type, frame.key)
        return _item_type(frame.type, len(frame.container))

    def _add(self, value: Any) -> None:
        """Put a closed value in its place."""
        frames = self._frames
        if not frames:
            self._root = value
            self.done = True
            return
        frame = frames[-1]
        if frame.is_object:
            frame.container[frame.key] = value
        else:
            frame.container.append(value)
        frame.expect = _COMMA_OR_END

    def _close(self, i: int) -> None:
        frame = self._frames.pop()
        if frame.expect == _VALUE or frame.expect == _KEY:
            raise PartialJSONError("a comma before a close", self._at(i))
        self._add(_typed(frame.container, frame.type))

    def finish(self) -> None:
        """The text ended: close a top-level number (the only value that needs it)."""
        if self._scalar is not None and not self._frames and self.error is None:
            scalar, self._scalar = self._scalar, None
            self._cache = _MISSING
            self._add(_number(scalar, self._offset))

    # ------------------------------------------------------------------ the value

    def _materialize(self) -> Any:
        if self._root is not _MISSING:
            return self._root
        child = self._open_scalar()
        for frame in reversed(self._frames):
            container = frame.container.copy()
            if child is not _MISSING:
                if frame.is_object:
                    container[frame.key] = child
                else:
                    container.append(child)
            child = container
        return None if child is _MISSING else child

    def _open_scalar(self) -> Any:
        if self._pieces is not None:
            if self._string_is_key:
                return _MISSING
            pieces = self._pieces
            if len(pieces) > 1:
                pieces[:] = ["".join(pieces)]
            return pieces[0] if pieces else ""  # a pending high surrogate waits for its pair
        scalar = self._scalar
        if scalar is not None and scalar[0] not in "tfn":
            # as far as it is a valid number: "-1.5e" shows -1.5, so that a shown
            # number never vanishes while its exponent arrives
            valid = _NUMBER.match(scalar)
            if valid is not None:
                return _number(valid.group(), 0)
        return _MISSING


def _number(text: str, offset: int) -> int | float:
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise PartialJSONError(f"invalid number {text!r}", offset)
    if match.group(1) is None and match.group(2) is None:
        return int(text)
    return float(text)


# -- types: which type describes which place -----------------------------------------------


def _type_info(type: Any) -> Any:
    if type is None:
        return None
    try:
        return _unwrap(msgspec.inspect.type_info(type))
    except Exception:  # not a type msgspec knows (a pydantic model, an unresolvable hint)
        return None


def _unwrap(info: Any) -> Any:
    """The object or array type inside an optional/union/metadata wrapper."""
    inspect = msgspec.inspect
    while isinstance(info, inspect.Metadata):
        info = info.type
    if isinstance(info, inspect.UnionType):
        members = [_unwrap(t) for t in info.types if not isinstance(t, inspect.NoneType)]
        shaped = [t for t in members if t is not None]
        return shaped[0] if len(shaped) == 1 else None
    if isinstance(info, _OBJECT_TYPES + _ARRAY_TYPES + (inspect.DictType,)):
        return info
    return None


_OBJECT_TYPES: tuple[type, ...] = (
    msgspec.inspect.StructType,
    msgspec.inspect.DataclassType,
    msgspec.inspect.TypedDictType,
)
_ARRAY_TYPES: tuple[type, ...] = (
    msgspec.inspect.ListType,
    msgspec.inspect.VarTupleType,
    msgspec.inspect.TupleType,
    msgspec.inspect.SetType,
    msgspec.inspect.FrozenSetType,
)


def _member_type(info: Any, key: str | None) -> Any:
    if isinstance(info, _OBJECT_TYPES):
        fields: Any = info.fields  # type: ignore[attr-defined]
        for field in fields:
            if field.encode_name == key:
                return _unwrap(field.type)
        return None
    if isinstance(info, msgspec.inspect.DictType):
        return _unwrap(info.value_type)
    return None


def _item_type(info: Any, index: int) -> Any:
    if isinstance(info, msgspec.inspect.TupleType):
        return _unwrap(info.item_types[index]) if index < len(info.item_types) else None
    if isinstance(info, _ARRAY_TYPES):
        return _unwrap(info.item_type)  # type: ignore[attr-defined]
    return None


def _typed(container: Any, info: Any) -> Any:
    """A closed object as the type its place calls for, when it fits; else as it is."""
    if isinstance(container, dict) and isinstance(info, _OBJECT_TYPES):
        try:
            return msgspec.convert(container, info.cls)  # type: ignore[attr-defined]
        except msgspec.ValidationError:
            return container
    return container
