"""The blocking client is the async one's twin: generated, up to date, the same API.

* ``scripts/unasync.py --check``: the generated files are what the script makes
  from their async sources today, and every substitution of its table is used.
* Every public method (and each of its overloads) of every async resource has a
  blocking twin with the same parameters: names, kinds, defaults and types (the
  async type names read through the generator's own table).
* A keyword neither client declares is refused, by both, before anything is sent.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

import pytest

import xstream
from xstream._resources.chat import (
    AsyncChat,
    AsyncCompletions,
    AsyncCompletionsWithRawResponse,
    DeferredCompletion,
)
from xstream._resources.responses import AsyncResponses, AsyncResponsesWithRawResponse
from xstream._resources.sse import AsyncSSE
from xstream._resources.tool_runner import AsyncToolRunner
from xstream._streams.chat import AsyncStream
from xstream._streams.chat_events import AsyncChatCompletionStream
from xstream._streams.events import EventStream
from xstream._streams.managers import AsyncStreamManager
from xstream._streams.response_events import AsyncResponseStream
from xstream._streams.responses import ResponseStream
from xstream._streams.ws_session import ResponsesSession
from xstream._sync.chat import Chat, Completions, CompletionsWithRawResponse, SyncDeferredCompletion
from xstream._sync.chat_events import ChatCompletionStream
from xstream._sync.managers import StreamManager
from xstream._sync.response_events import SyncParsedResponseStream
from xstream._sync.responses import Responses, ResponsesWithRawResponse
from xstream._sync.sse import SSE
from xstream._sync.streams import Stream, SyncEventStream, SyncResponseStream
from xstream._sync.tool_runner import ToolRunner
from xstream._sync.ws_session import SyncResponsesSession

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-twin"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("unasync", ROOT / "scripts" / "unasync.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("unasync", module)
    spec.loader.exec_module(module)
    return module


UNASYNC = _generator()

PAIRS = [
    (AsyncChat, Chat),
    (AsyncCompletions, Completions),
    (AsyncCompletionsWithRawResponse, CompletionsWithRawResponse),
    (DeferredCompletion, SyncDeferredCompletion),
    (AsyncResponses, Responses),
    (AsyncResponsesWithRawResponse, ResponsesWithRawResponse),
    (AsyncSSE, SSE),
    (AsyncChatCompletionStream, ChatCompletionStream),
    (AsyncResponseStream, SyncParsedResponseStream),
    (AsyncStreamManager, StreamManager),
    (AsyncToolRunner, ToolRunner),
    (ResponsesSession, SyncResponsesSession),
]
# Methods with no blocking twin, on purpose: an aiohttp.web handler is async.
ASYNC_ONLY = {"to_aiohttp_response"}
# What the engine offers the sync facade and the stream kinds, not users.
PLUMBING = {
    "close_soon", "decode", "discard", "finished", "next_batch", "read_bytes", "reader_left",
    "receive", "salvage", "sse_end", "sse_item", "stopped", "watch",
}  # fmt: skip


def test_the_generated_files_are_up_to_date_and_every_substitution_is_used() -> None:
    generated, unused = UNASYNC.generate()
    assert unused == []
    stale = [str(p.relative_to(ROOT)) for p, text in generated.items() if p.read_text() != text]
    assert stale == [], "run: python scripts/unasync.py"


def test_the_check_fails_on_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the check above must be able to fail: a generated file edited by hand is stale
    generated, _ = UNASYNC.generate()
    path, text = next(iter(generated.items()))
    copy = tmp_path / path.name
    copy.write_text(text + "# edited by hand\n")
    monkeypatch.setattr(UNASYNC, "FILES", {"_resources/chat.py": str(copy)})
    monkeypatch.setattr(UNASYNC, "PACKAGE", ROOT / "xstream")
    assert UNASYNC.main(["--check"]) == 1


def _text(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _as_sync(annotation: Any) -> str:
    text = _text(annotation)
    for pattern, replacement in UNASYNC.SUBSTITUTIONS:
        if pattern.startswith(r"\b"):  # names, not imports or keywords
            text = re.sub(pattern, replacement, text)
    return text


def _shape(fn: Any, *, sync: bool) -> list[tuple[str, str, str, str]]:
    signature = inspect.signature(fn)
    shape = [
        (
            p.name,
            str(p.kind),
            repr(p.default),
            _text(p.annotation) if sync else _as_sync(p.annotation),
        )
        for p in signature.parameters.values()
    ]
    returns = signature.return_annotation
    shape.append(("return", "", "", _text(returns) if sync else _as_sync(returns)))
    return shape


def _public(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in vars(cls).items()
        if (not name.startswith("_") or name == "__call__") and callable(member)
    }


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS, ids=lambda c: c.__name__)
def test_every_async_method_has_a_twin_with_the_same_parameters(
    async_cls: type, sync_cls: type
) -> None:
    methods = {  # aclose() is close() in the twin (the async ``close`` is its alias)
        ("close" if n == "aclose" else n): m
        for n, m in _public(async_cls).items()
        if n not in ASYNC_ONLY
    }
    assert set(_public(sync_cls)) == set(methods)
    for name, method in methods.items():
        twin = getattr(sync_cls, name)
        assert _shape(twin, sync=True) == _shape(method, sync=False), name
        overloads = typing.get_overloads(method)
        assert [_shape(o, sync=True) for o in typing.get_overloads(twin)] == [
            _shape(o, sync=False) for o in overloads
        ], name
    properties = {n for n, m in vars(async_cls).items() if isinstance(m, property)}
    assert properties == {n for n, m in vars(sync_cls).items() if isinstance(m, property)}


def _user_api(cls: type) -> set[str]:
    names = {
        n
        for c in cls.__mro__
        if c.__module__.startswith("xstream")
        for n, v in vars(c).items()
        if not isinstance(v, types.MemberDescriptorType)  # instance attributes (slots)
    }
    return {n for n in names if not n.startswith("_")} - PLUMBING - ASYNC_ONLY


@pytest.mark.parametrize(
    ("async_cls", "sync_cls"),
    [(AsyncStream, Stream), (EventStream, SyncEventStream), (ResponseStream, SyncResponseStream)],
    ids=lambda c: c.__name__,
)
def test_the_blocking_streams_offer_what_the_async_ones_offer(
    async_cls: type, sync_cls: type
) -> None:
    # these wrap the async stream kinds (a thread hop per read): written by hand,
    # so the names users reach are compared here
    missing = _user_api(async_cls) - _user_api(sync_cls) - {"aclose"}
    assert missing == set()


def test_the_comparison_sees_a_difference() -> None:
    # the test above must be able to fail: two different methods do not compare equal
    assert _shape(AsyncCompletions.create, sync=False) != _shape(Completions.parse, sync=True)


def test_the_clients_take_the_same_options() -> None:
    async_init = inspect.signature(xstream.AsyncClient.__init__).parameters
    sync_init = inspect.signature(xstream.Client.__init__).parameters
    assert [p for p in async_init if p != "session"] == list(sync_init)
    assert {n: str(p.annotation) for n, p in async_init.items() if n != "session"} == {
        n: str(p.annotation) for n, p in sync_init.items()
    }
    assert str(inspect.signature(xstream.AsyncClient.with_options)).replace(
        "AsyncClient", "Client"
    ) == str(inspect.signature(xstream.Client.with_options))


async def test_a_misspelt_keyword_is_refused_by_both_clients() -> None:
    async with xstream.AsyncClient(KEY, base_url="http://127.0.0.1:9") as client:
        with pytest.raises(TypeError, match=r"'max_retires' \(did you mean 'max_retries'\?\)"):
            await client.chat.completions.create(model="m", messages=[], max_retires=1)  # type: ignore[call-overload]
        with pytest.raises(TypeError, match=r"extra_body"):
            await client.responses.create(model="m", input="x", vendor_flag=True)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="temperatur"):
            client.chat.completions.stream(model="m", messages=[], temperatur=1)  # type: ignore[call-arg]
    with xstream.Client(KEY, base_url="http://127.0.0.1:9") as sync:
        with pytest.raises(TypeError, match=r"'max_retires' \(did you mean 'max_retries'\?\)"):
            sync.chat.completions.create(model="m", messages=[], max_retires=1)  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="timout"):
            sync.responses.retrieve("resp_1", timout=3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="max_retires"):
        xstream.Client(KEY, max_retires=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="base_ulr"):
        xstream.AsyncClient(KEY, base_ulr="http://127.0.0.1:9")  # type: ignore[call-arg]
