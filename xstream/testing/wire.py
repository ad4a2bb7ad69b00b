"""How the built-in server writes a stream: the payloads as ``data:`` events, the
framing and faults a :class:`~.script.Reply` asks for laid out as a plan
(keep-alives, drops, stalls, trickles, ``[DONE]``), and the writer that sends a
plan to one response (batches, exact write sizes, delays).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from .script import (
    _USAGE_BYTES,
    DEFAULT_ERROR_PAYLOAD,
    Reply,
    _chunk,
    _Payload,
    _Script,
    _SoFar,
)

_BATCH_BYTES = 64 * 1024  # join events up to this size per write when nothing is timed
_POLL_SECONDS = 0.02  # how often a stall checks whether the client left


# --------------------------------------------------------------------------- wire plan


@dataclass(frozen=True)
class _Drop:
    """Abort the TCP connection (no clean end of the chunked body)."""


@dataclass(frozen=True)
class _Hold:
    """Send nothing for ``seconds`` (or until the client leaves)."""

    seconds: float


@dataclass(frozen=True)
class _Trickle:
    """Send one byte every ``interval`` for ``seconds``, never ending a line."""

    interval: float
    seconds: float


@dataclass(frozen=True)
class _End:
    """The stream was cut short by a fault: the body ends here, without ``[DONE]``."""


_Step = bytes | _Drop | _Hold | _Trickle | _End
_ENCODER = msgspec.json.Encoder()


def _dumps_for(reply: Reply) -> Callable[[Any], bytes]:
    if reply.unicode_escape:
        return lambda obj: json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode()
    return _ENCODER.encode


def _encode_events(payloads: list[_Payload], reply: Reply) -> list[bytes]:
    """``data: {json}`` + blank line per payload, each distinct chunk encoded once."""
    dumps, end = _dumps_for(reply), reply.line_end.encode() * 2
    cache: dict[int, bytes] = {}  # by id(): the payloads list keeps every key alive
    cuts: dict[int, tuple[bytes, bytes]] = {}  # chunk -> its bytes around the usage
    events = []
    for payload in payloads:
        if isinstance(payload, _SoFar):
            cut = cuts.get(id(payload.chunk))
            if cut is None:
                encoded = dumps(payload.chunk)
                at = encoded.rindex(b',"system_fingerprint"')
                cut = cuts[id(payload.chunk)] = (b"data: " + encoded[:at], encoded[at:] + end)
            prompt, completion = payload.prompt, payload.completion
            usage = _USAGE_BYTES % (
                prompt,
                completion,
                prompt + completion,
                prompt,
                payload.reasoning,
            )
            events.append(cut[0] + usage + cut[1])
            continue
        event = cache.get(id(payload))
        if event is None:
            event = cache[id(payload)] = b"data: " + dumps(payload) + end
        events.append(event)
    return events


def _oversized_line(script: _Script, size: int) -> bytes:
    """A valid chunk (no choices, padded) whose ``data:`` line is exactly ``size`` bytes."""
    encoded = _ENCODER.encode(_chunk(script, [], x_padding=""))
    cut = encoded.index(b'"x_padding":"') + len(b'"x_padding":"')
    head, tail = b"data: " + encoded[:cut], encoded[cut:]
    padding = size - len(head) - len(tail)
    if padding < 0:
        return (b"data: " + b"x" * size)[:size]
    return head + b"x" * padding + tail


def _fault_steps(reply: Reply, script: _Script) -> dict[int, list[_Step]]:
    """Faults keyed by how many chunk events precede them."""
    end, dumps = reply.line_end.encode(), _dumps_for(reply)
    faults: dict[int, list[_Step]] = {}

    def at(position: int | None, *steps: _Step) -> None:
        if position is not None:
            faults.setdefault(position, []).extend(steps)

    at(reply.malformed_after, b"data: {not json" + end * 2)
    bad = dumps(_chunk(script, [{"index": 0, "delta": {"content": "\x00"}}]))
    at(reply.invalid_utf8_after, b"data: " + bad.replace(b"\\u0000", b"\xff") + end * 2)
    if reply.oversized_event_bytes is not None:
        line = _oversized_line(script, reply.oversized_event_bytes)
        if reply.oversized_unterminated:
            at(1, line, _Hold(reply.stall_seconds), _End())
        else:
            at(1, line + end * 2)
    error = dumps(dict(reply.error_payload or DEFAULT_ERROR_PAYLOAD))
    prefix = b"event: error" + end if reply.error_as_event_type else b""
    at(reply.error_event_after, prefix + b"data: " + error + end * 2, _End())
    at(reply.stall_after, _Hold(reply.stall_seconds))
    at(
        reply.trickle_after,
        b"data: ",
        _Trickle(reply.trickle_interval, reply.stall_seconds),
        _End(),
    )
    at(reply.drop_after, _Drop())
    return faults


def _build_plan(events: list[bytes], reply: Reply, script: _Script) -> list[_Step]:
    """The body as written: events, keep-alives, faults, ``[DONE]``, trailing bytes."""
    end = reply.line_end.encode()
    faults = _fault_steps(reply, script)
    last = len(events)
    for position in [p for p in faults if p > last]:
        faults.setdefault(last, []).extend(faults.pop(position))
    keepalive, every = b": keep-alive" + end * 2, reply.keepalive_every
    plan: list[_Step] = []
    for count, event in enumerate([*events, None]):
        for step in faults.get(count, ()):
            plan.append(step)
            if isinstance(step, (_End, _Drop)):
                return plan
        if event is None:
            break
        plan.append(event)
        if every and (count + 1) % every == 0:
            plan.append(keepalive)
    if not reply.no_done:
        plan.append(b"data: [DONE]" + end * 2)
    if reply.trailing_after_done:
        plan.append(reply.trailing_after_done)
    return plan


# --------------------------------------------------------------------------- writing


class _ClientGone(ConnectionResetError):
    """The client closed the connection while the stream was held open."""


class _Writer:
    """Writes a plan to one response: batching, write_size pieces, delays and faults."""

    def __init__(
        self,
        resp: web.StreamResponse,
        request: web.Request,
        reply: Reply,
        closing: Callable[[], bool],
    ) -> None:
        self._resp, self._request, self._reply, self._closing = resp, request, reply, closing
        self._pending = bytearray()  # bytes not yet written (batch or write_size carry)

    async def run(self, plan: list[_Step]) -> bool:
        """Write the whole plan; return False when the connection was dropped on purpose."""
        reply = self._reply
        batching = reply.delay == 0 and reply.write_size is None
        if reply.first_delay:
            await asyncio.sleep(reply.first_delay)
        for number, step in enumerate(plan):
            if not isinstance(step, bytes):
                await self._flush()
                if not await self._act(step):
                    return False
                continue
            if reply.delay and number:
                await asyncio.sleep(reply.delay)
            self._pending += step
            if not batching or len(self._pending) >= _BATCH_BYTES:
                await self._write_whole_pieces()
        await self._flush()
        return True

    async def _write_whole_pieces(self) -> None:
        size = self._reply.write_size
        if size is None:
            await self._flush()
            return
        data, cut = self._pending, len(self._pending) - len(self._pending) % size
        for start in range(0, cut, size):
            await self._write(bytes(data[start : start + size]))
        del data[:cut]

    async def _flush(self) -> None:
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            await self._write(data)

    async def _write(self, data: bytes) -> None:
        await self._resp.write(data)
        if self._reply.write_size is not None:
            await asyncio.sleep(0)  # let each piece leave on its own

    async def _act(self, step: _Step) -> bool:
        if isinstance(step, _Drop):
            await self._drop()
            return False
        if isinstance(step, _Trickle):
            deadline = time.monotonic() + step.seconds
            while time.monotonic() < deadline and not self._closing():
                await self._write(b"x")
                await asyncio.sleep(step.interval)
        elif isinstance(step, _Hold):
            await self._hold(step.seconds)
        return True

    async def _hold(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._closing():
            transport = self._request.transport
            if transport is None or transport.is_closing():
                raise _ClientGone("the client left during a stall")
            await asyncio.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    async def _drop(self) -> None:
        transport = self._request.transport
        if transport is None:
            return
        # Close (FIN) in the middle of the chunked body rather than abort (RST): a
        # reset lets the client's kernel discard bytes it received but had not
        # read yet, so "after N chunks" would not be deterministic. The client
        # still sees the body cut short: a transfer-encoding error.
        transport.close()
