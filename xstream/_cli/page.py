"""What ``xstream serve`` runs: the mock API, plus a chat page that streams through a relay.

* ``GET /``: a small self-contained page (``_static/chat.html``) with a
  textbox; it POSTs the conversation to ``/relay/chat`` and reads the answer
  with ``fetch()`` and a stream reader (``EventSource`` cannot POST).
* ``POST /relay/chat``: opens a chat stream upstream and hands it on with
  ``stream.to_aiohttp_response()``: the page leaving closes the upstream stream.
* everything else: the mock API, exactly as :class:`MockServer` serves it.

The upstream is the built-in mock (a server of its own, paced so the answer can
be watched arriving, or at ``--delay``), or with ``XAI_API_KEY`` / a base URL, the
real API. Each request, and each upstream error, is one line of the log. The
relay takes JSON only, so another web site cannot make a visitor's browser
post to it (a cross-origin JSON request needs a CORS preflight it never gets).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import importlib.resources
import json
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .._client import AsyncClient
from .._exceptions import XStreamError
from .._streams.redis_store import RedisStore
from .._streams.relay import SSE_HEADERS, error_block
from .._streams.resumable import ResumableRelay
from ..testing import MockServer, Reply
from .worker import JOBS

__all__ = ["PAGE_DELAY", "ChatPageServer", "Upstream", "serve_with_page"]

PAGE_DELAY = 0.02  # seconds between the built-in upstream's events: slow enough to watch
MAX_MESSAGES = 200
MAX_CHARS = 200_000  # of all messages' content together
_ROLES = frozenset({"system", "user", "assistant"})


@dataclass(frozen=True)
class Upstream:
    """Where the page's answers come from: ``base_url=None`` is the built-in mock
    unless ``api_key`` is set (then xAI, the client's default)."""

    api_key: str | None = None
    base_url: str | None = None
    model: str = "grok-4"


class ChatPageServer(MockServer):
    """:class:`MockServer` plus the chat page at ``/`` and its relay."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        default: Reply | None = None,
        upstream: Upstream | None = None,
        *,
        strict: bool = True,
        page_delay: float = PAGE_DELAY,
        log: Callable[[str], None] | None = None,
        store: str | None = None,
    ) -> None:
        super().__init__(host, port, default, strict=strict)
        # With a Redis URL, answers are produced by a worker process into the store and
        # the page reads them with EventSource: they survive this server's restart.
        self.store_url = store
        self._answers: ResumableRelay | None = None
        self._worker: asyncio.subprocess.Process | None = None
        self.upstream = upstream or Upstream()
        self.page_delay = page_delay  # between the built-in upstream's events
        self.log = log  # one line per request, and per upstream error
        self.page_url = ""
        self.upstream_label = ""
        self._page = ""
        self.builtin: MockServer | None = None  # the built-in upstream, when it is that
        self._client: AsyncClient | None = None

    async def start(self) -> None:
        try:
            await self._start_upstream()
            await super().start()
        except BaseException:
            await self.close()
            raise
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.page_url = f"http://{host}:{self.port}/"

    async def _start_upstream(self) -> None:
        upstream = self.upstream
        key, base_url = upstream.api_key, upstream.base_url
        if key is None and base_url is None:
            self.builtin = MockServer(default=Reply(delay=self.page_delay), strict=self.strict)
            await self.builtin.start()
            base_url = self.builtin.base_url
            self.upstream_label = "the built-in offline server (not Grok)"
        self._client = AsyncClient(key or "xstream-placeholder-key", base_url=base_url)
        if not self.upstream_label:
            self.upstream_label = self._client.base_url
        template = importlib.resources.files("xstream").joinpath("_static/chat.html")
        self._page = template.read_text("utf-8").replace(
            "<!--upstream-->", html.escape(self.upstream_label)
        )
        if self.store_url is not None:
            self._page = self._page.replace("/*resumable*/ false", "true")
            self._answers = ResumableRelay(RedisStore(self.store_url), poll=0.5)
            self._worker = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "xstream._cli.worker", self.store_url,
                self.upstream.model, base_url or "",
            )  # fmt: skip

    async def close(self) -> None:
        client, self._client = self._client, None
        builtin, self.builtin = self.builtin, None
        worker, self._worker = self._worker, None
        answers, self._answers = self._answers, None
        if worker is not None and worker.returncode is None:
            worker.terminate()
            await worker.wait()
        if answers is not None:
            await answers.store.aclose()
        try:
            await super().close()
        finally:
            if client is not None:
                await client.aclose()
            if builtin is not None:
                await builtin.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.log is None:
            return await self._route(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            response = await self._route(request)
        except asyncio.CancelledError:  # the client left (the page's Stop, a closed tab)
            took = (loop.time() - started) * 1000
            self._say(
                f"{request.method} {request.path}: the client left after {took:.0f} ms "
                "(a relayed upstream stream is closed with it)"
            )
            raise
        took = (loop.time() - started) * 1000
        self._say(f"{request.method} {request.path} {response.status} ({took:.0f} ms)")
        return response

    def _say(self, line: str) -> None:
        if self.log is not None:
            self.log(" ".join(line.split()))  # one line, whatever the message held

    async def _route(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            if request.method not in ("GET", "HEAD"):
                return web.Response(status=405, headers={"Allow": "GET"})
            return web.Response(text=self._page, content_type="text/html", charset="utf-8")
        if request.path == "/relay/chat":
            if request.method != "POST":
                return web.Response(status=405, headers={"Allow": "POST"})
            return await self._relay(request)
        answers = request.path == "/relay/answers" or request.path.startswith("/relay/answers/")
        if answers and self._answers is not None:
            return await self._answer(request, self._answers)
        return await super()._handle(request)

    async def _answer(self, request: web.Request, answers: ResumableRelay) -> web.StreamResponse:
        """The resumable answers: ``POST /relay/answers`` asks (the worker answers into
        the store), ``GET /relay/answers/ID`` reads with ids (``Last-Event-ID``
        resumes), ``POST /relay/answers/ID/stop`` stops it."""
        parts = request.path.split("/")[3:]
        if not parts and request.method == "POST":
            messages = await _conversation(request)
            if isinstance(messages, web.Response):
                return messages
            answer_id = secrets.token_urlsafe(12)
            store = answers.store
            await store.create(answer_id)  # readers may come before the worker starts it
            assert isinstance(store, RedisStore)
            job = json.dumps({"id": answer_id, "messages": messages})
            await store.redis.lpush(JOBS, job)
            return web.json_response({"id": answer_id})
        if len(parts) == 1 and request.method == "GET":
            return await answers.to_aiohttp_response(request, parts[0])
        if len(parts) == 2 and parts[1] == "stop" and request.method == "POST":
            await answers.stop(parts[0])
            return web.json_response({"stopped": parts[0]})
        return web.Response(status=404, text="no such answer route")

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        messages = await _conversation(request)
        if isinstance(messages, web.Response):
            return messages
        assert self._client is not None
        try:
            stream = await self._client.chat.completions.create(
                model=self.upstream.model, messages=messages, stream=True
            )
        except XStreamError as exc:  # refused before the first chunk: one error event
            self._say(f"upstream error: {type(exc).__name__}: {exc}")
            return web.Response(status=502, body=error_block(exc), headers=SSE_HEADERS)
        response = await stream.to_aiohttp_response(request)
        if not stream.stats.done:  # the upstream broke off (the relay sent the page an error)
            self._say(f"upstream error: the stream ended early after {stream.stats.chunks} chunks")
        return response


def _stderr(line: str) -> None:
    print(f"xstream serve: {line}", file=sys.stderr, flush=True)


async def _conversation(request: web.Request) -> list[dict[str, str]] | web.Response:
    """The conversation a page posted, or the response that refuses it (415, 400)."""
    if request.content_type != "application/json":
        return web.Response(status=415, text="send the conversation as application/json")
    try:
        return _messages(await request.json())
    except ValueError as exc:
        return web.Response(status=400, text=str(exc))


def _messages(body: Any) -> list[dict[str, str]]:
    """The conversation the page sent, checked: ``{"messages": [{role, content}, ...]}``."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not 0 < len(messages) <= MAX_MESSAGES:
        raise ValueError(f"expected {{'messages': [...]}} with 1 to {MAX_MESSAGES} messages")
    out = []
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if role not in _ROLES or not isinstance(content, str):
            raise ValueError("each message needs a role (system, user, assistant) and a content")
        out.append({"role": role, "content": content})
    if sum(len(m["content"]) for m in out) > MAX_CHARS:
        raise ValueError(f"the conversation is longer than {MAX_CHARS} characters")
    return out


def serve_with_page(
    host: str,
    port: int,
    *,
    default: Reply | None = None,
    upstream: Upstream | None = None,
    strict: bool = True,
    page_delay: float = PAGE_DELAY,
    store: str | None = None,
) -> None:
    """Serve the mock API and the chat page in the foreground until Ctrl-C, logging
    each request and upstream error as one line on stderr."""

    async def main() -> None:
        srv = ChatPageServer(
            host,
            port,
            default,
            upstream,
            strict=strict,
            page_delay=page_delay,
            log=_stderr,
            store=store,
        )
        async with srv:
            print(f"xstream mock server on {srv.base_url} (Ctrl-C to stop)", flush=True)
            print(
                f"chat page on {srv.page_url} (answers from {srv.upstream_label})",
                flush=True,
            )
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
