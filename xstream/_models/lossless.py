"""Payloads that keep everything the server sent, typed where known.

msgspec decodes straight into Structs and has no place for keys a Struct does not
declare. The chat payloads therefore refuse unknown keys (``forbid_unknown_fields``):
the common chunk, whose every key is declared, decodes in one C call as before (an
untracked Struct, no dict), and a payload with a key nobody typed (a provider's
usage detail, an ``x_groq`` block, content given as a list of parts) fails that
decode quickly and is built here instead (:func:`build`).

What :func:`build` makes is an instance of the same class, or of its *kept* twin: a
subclass with an instance dict (``dict=True``) holding the keys no field declares,
as sent, at every depth (``delta.native_finish_reason``, ``extra_fields``). A twin is
still an instance of the class it twins; msgspec's encoders, ``==`` and ``repr``
see the declared fields only, as for any other instance. A top-level twin (a chunk,
a completion) also keeps the bytes it came from, which ``to_dict()`` gives back.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any, ClassVar, TypeVar

import msgspec

__all__ = [
    "Open",
    "build",
    "content_text",
    "keep_as",
    "kept_parts",
    "merge_extra",
    "set_raw",
    "with_kept",
]

_T = TypeVar("_T")
_EXTRA = "\x00extra"  # kept keys that a class attribute shadows (``to_dict``, ...)
_RAW = "\x00raw"  # the bytes a top-level payload was decoded from
_PARTS = "\x00parts"  # (content parts as sent, whether the reasoning text came from them)


class _Payload(msgspec.Struct, gc=False, kw_only=True):
    """Base of every payload Struct: untracked by the GC, keyword-only.

    Not ``omit_defaults``: that would drop non-None defaults such as
    ``role="assistant"`` and ``type="function"`` when a message is sent back."""


class Open(_Payload, forbid_unknown_fields=True, kw_only=True):
    """A payload that keeps the keys it does not declare (see the module's text):
    ``extra_fields`` gives them, ``to_dict()`` the whole object as JSON values."""

    _kept: ClassVar[bool] = False  # True on the twins, which hold kept keys or parts

    @property
    def extra_fields(self) -> dict[str, Any]:
        """The keys the server sent that this type does not declare, as sent."""
        if not self._kept:
            return {}
        kept = self.__dict__
        out = {k: v for k, v in kept.items() if k[:1] != "\x00"}
        shadowed = kept.get(_EXTRA)
        if shadowed:
            out.update(shadowed)
        return out

    def to_dict(self) -> dict[str, Any]:
        """This object as JSON values: for a chunk or completion that carried keys
        xstream does not declare, exactly the server's JSON; otherwise the fields that
        are set (not ``None``) and the keys kept, at every depth."""
        if self._kept:
            raw = self.__dict__.get(_RAW)
            if raw is not None:
                value: dict[str, Any] = msgspec.json.decode(raw)
                return value
        return fields_dict(self)

    def to_json(self) -> bytes:
        """:meth:`to_dict` as JSON: the server's bytes for a payload that kept them."""
        if self._kept:
            raw = self.__dict__.get(_RAW)
            if raw is not None:
                return bytes(raw)
        return msgspec.json.encode(fields_dict(self))


@functools.cache
def _public(cls: type) -> tuple[str, ...]:
    return tuple(n for n in cls.__struct_fields__ if not n.startswith("_"))  # type: ignore[attr-defined]


def _plain(value: Any) -> Any:
    if isinstance(value, Open):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, msgspec.Struct):
        return msgspec.to_builtins(value)
    return value


def fields_dict(obj: Open) -> dict[str, Any]:
    """``obj``'s set fields and kept keys as JSON values (content parts as sent)."""
    out: dict[str, Any] = {}
    for name in _public(type(obj)):
        value = getattr(obj, name)
        if value is not None:
            out[name] = _plain(value)
    if obj._kept:
        parts = obj.__dict__.get(_PARTS)
        if parts is not None:
            out["content"] = list(parts[0])
            if parts[1]:
                out.pop("reasoning_content", None)
        out.update(obj.extra_fields)
    return out


def kept_parts(obj: Open) -> tuple[Any, ...] | None:
    """The content parts ``obj`` was given as sent, if it was given a list."""
    if not obj._kept:
        return None
    parts = obj.__dict__.get(_PARTS)
    return None if parts is None else parts[0]


# -- the twins ------------------------------------------------------------------------------


@functools.cache
def _twin(cls: Any) -> type[Any]:
    """``cls``'s kept twin: the same fields, and an instance dict for what it keeps."""

    def body(ns: dict[str, Any]) -> None:
        ns.update(
            _kept=True,
            __module__=cls.__module__,
            __qualname__=cls.__qualname__,
            __doc__=cls.__doc__,
            __reduce__=_reduce,
        )

    return types.new_class(cls.__name__, (cls,), {"gc": True, "dict": True}, body)


def _reduce(self: Any) -> tuple[Any, ...]:
    base: Any = type(self).__mro__[1]
    fields = {name: getattr(self, name) for name in base.__struct_fields__}
    return _rebuild, (base, fields, dict(self.__dict__))


def _rebuild(base: Any, fields: dict[str, Any], kept: dict[str, Any]) -> Any:
    twin = _twin(base)(**fields)
    twin.__dict__.update(kept)
    return twin


def with_kept(obj: _T, kept: dict[str, Any] | None = None, **private: Any) -> _T:
    """``obj`` as its kept twin holding ``kept`` (extra keys, as sent) and the private
    entries given (``raw=``, ``parts=``); ``obj`` itself when there is nothing to keep."""
    if not kept and not private:
        return obj
    cls: Any = type(obj)
    base = cls.__mro__[1] if cls._kept else cls
    twin = obj if cls._kept else _twin(base)(**{n: getattr(obj, n) for n in base.__struct_fields__})
    store = twin.__dict__
    for key, value in (kept or {}).items():
        if key[:1] == "\x00" or hasattr(base, key):
            store.setdefault(_EXTRA, {})[key] = value
        else:
            store[key] = value
    for name, value in private.items():
        store["\x00" + name] = value
    return twin


def keep_as(source: Any, obj: _T) -> _T:
    """``obj`` (a copy of ``source`` as another class) keeping what ``source`` kept,
    its raw bytes aside (they are ``source``'s JSON, not ``obj``'s)."""
    if not source._kept:
        return obj
    private = {k[1:]: v for k, v in source.__dict__.items() if k[:1] == "\x00" and k != _RAW}
    shadowed = private.pop("extra", None)
    kept = {k: v for k, v in source.__dict__.items() if k[:1] != "\x00"}
    if shadowed:
        kept.update(shadowed)
    result: _T = with_kept(obj, kept, **private)
    return result


def set_raw(obj: Any, raw: bytes) -> Any:
    """``obj`` keeping ``raw``, the bytes it was decoded from."""
    return with_kept(obj, raw=raw)


# -- building from JSON values ------------------------------------------------------------


@functools.cache
def _schema(cls: Any) -> dict[str, tuple[type | None, bool]]:
    """``cls``'s declared keys: the :class:`Open` type of the value (of its items,
    for a tuple), if any, and whether it is a tuple."""
    out: dict[str, tuple[type | None, bool]] = {}
    for field in msgspec.structs.fields(cls):
        if not field.name.startswith("_"):
            out[field.encode_name] = _child(field.type)
    return out


def _child(tp: Any) -> tuple[type | None, bool]:
    origin = typing.get_origin(tp)
    members = typing.get_args(tp) if origin in (types.UnionType, typing.Union) else (tp,)
    for member in members:
        if isinstance(member, type) and issubclass(member, Open):
            return member, False
        if typing.get_origin(member) is tuple:
            inner = typing.get_args(member)[0]
            if isinstance(inner, type) and issubclass(inner, Open):
                return inner, True
    return None, False


_PARTS_TYPES: set[type] = set()


def accepts_parts(cls: type[Any]) -> type[Any]:
    """Mark ``cls`` as taking ``content`` as a list of parts (see :func:`content_text`)."""
    _PARTS_TYPES.add(cls)
    return cls


def build(cls: type[Any], value: Any) -> Any:
    """``value`` (decoded JSON) as ``cls``, losing nothing: declared keys typed
    (``null`` where a default belongs taken as the default), other keys kept (that
    payload is then a kept twin, and so is the top one: the chunk's mark that something
    inside it was kept), content given as a list of parts read as text (see
    :func:`content_text`).

    Raises ``msgspec.ValidationError`` when a declared key has a value of the wrong type."""
    obj, kept = _build(cls, value)
    if kept and not obj._kept:
        obj = with_kept(obj, {})  # the mark: something inside kept keys or parts
    return obj


def _build(cls: Any, value: Any) -> tuple[Any, bool]:
    """``value`` as ``cls``, and whether anything in it was kept. Only a payload that
    keeps keys or parts itself is built as its twin (converted straight into it)."""
    if not isinstance(value, dict):
        return msgspec.convert(value, cls), False
    schema, nested = _schema(cls), _nested(cls)
    unknown = value.keys() - schema.keys()
    inside = nested.intersection(value)
    if unknown or inside:
        scalars = {
            k: v for k, v in value.items() if v is not None and k not in unknown and k not in inside
        }
    else:
        scalars = {k: v for k, v in value.items() if v is not None}
    kept = False
    children: dict[str, Any] = {}
    for key in inside:
        item = value[key]
        child, many = schema[key]
        if item is None:
            continue
        if many and isinstance(item, list):
            built = [_within(child, x, f".{key}[{i}]") for i, x in enumerate(item)]
            children[key] = tuple(b[0] for b in built)
            kept = kept or any(b[1] for b in built)
        elif not many and isinstance(item, dict):
            children[key], inner = _within(child, item, f".{key}")
            kept = kept or inner
        else:
            scalars[key] = item  # of the wrong shape: convert says so, with where
    parts = scalars.get("content")
    private: dict[str, Any] = {}
    if isinstance(parts, list) and cls in _PARTS_TYPES:
        text, reasoning = content_text(parts)
        scalars["content"] = text
        derived = reasoning is not None and scalars.get("reasoning_content") is None
        if derived:
            scalars["reasoning_content"] = reasoning
        private[_PARTS] = (tuple(parts), derived)
    if not unknown and not private:
        obj = msgspec.convert(scalars, cls)
    else:
        base = cls.__mro__[1] if cls._kept else cls
        obj = msgspec.convert(scalars, _twin(base))
        store = obj.__dict__
        for key in value:  # the kept keys, in the order they came
            if key in unknown:
                if key[:1] == "\x00" or hasattr(base, key):
                    store.setdefault(_EXTRA, {})[key] = value[key]
                else:
                    store[key] = value[key]
        store.update(private)
        kept = True
    for key, item in children.items():
        setattr(obj, key, item)
    return obj, kept


@functools.cache
def _nested(cls: Any) -> frozenset[str]:
    """``cls``'s declared keys whose values are payloads (or tuples of them)."""
    return frozenset(key for key, (child, _) in _schema(cls).items() if child is not None)


def _within(cls: Any, value: Any, where: str) -> tuple[Any, bool]:
    """:func:`_build` of a value inside another, its errors saying where from the top."""
    try:
        return _build(cls, value)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if " - at `$" in message:
            message = message.replace(" - at `$", f" - at `${where}", 1)
        else:
            message += f" - at `${where}`"
        raise msgspec.ValidationError(message) from None


_REASONING_PARTS = frozenset({"thinking", "reasoning", "reasoning_text"})


def content_text(parts: list[Any]) -> tuple[str | None, str | None]:
    """Content given as a list of typed parts, as text: the ``text`` parts joined,
    and the reasoning parts (Mistral's ``thinking``, whose ``thinking`` is a string or
    a list of text parts; ``reasoning``) joined; ``None`` for a kind with no part."""
    text: list[str] = []
    reasoning: list[str] = []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" or (kind is None and isinstance(part.get("text"), str)):
            piece = part.get("text")
            if isinstance(piece, str):
                text.append(piece)
        elif kind in _REASONING_PARTS:
            inner = part.get(kind, part.get("text"))
            if isinstance(inner, str):
                reasoning.append(inner)
            elif isinstance(inner, list):
                sub, _ = content_text(inner)
                if sub is not None:
                    reasoning.append(sub)
    return ("".join(text) if text else None), ("".join(reasoning) if reasoning else None)


def merge_extra(into: dict[str, Any] | None, extra: dict[str, Any]) -> dict[str, Any] | None:
    """Keys kept from one more payload merged into those kept so far: the last value
    that is not ``null`` wins, objects merged key by key (``x_groq``'s ``id`` first,
    its ``usage`` last)."""
    if not extra:
        return into
    if into is None:
        into = {}
    for key, value in extra.items():
        old = into.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            into[key] = merge_extra(dict(old), value)
        elif value is not None or key not in into:
            into[key] = value
    return into
