"""The built-in server's WebSocket mode for the Responses API (``GET /v1/responses``
with ``Upgrade: websocket``), as xAI and OpenAI speak it.

The client sends ``response.create`` messages (``generate: false`` warms up: an
empty response to chain to); each answer's events go back as one message each.
``previous_response_id`` finds a stored response, or a ``store: false`` one held
by this socket only (it dies with the socket, as on the real API). The server's
``responses.cuts`` close the socket mid-response (code 1011) after that many
events; ``ws_setup_delay`` (seconds) delays every upgrade, a simulated round trip.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from aiohttp import WSMsgType, web
from multidict import CIMultiDict, CIMultiDictProxy

from .script import RecordedRequest

MockServer = Any  # xstream.testing.MockServer (which imports this module)

__all__ = ["is_websocket", "serve_websocket"]

_ENCODE = msgspec.json.Encoder().encode


def is_websocket(request: web.Request) -> bool:
    """Whether ``request`` asks for the Responses WebSocket."""
    return request.headers.get("Upgrade", "").lower() == "websocket" and request.path.rstrip(
        "/"
    ).endswith("/responses")


async def serve_websocket(server: MockServer, request: web.Request) -> web.StreamResponse:
    """One socket: its turns, in order, with this socket's ``store: false`` state."""
    delay = getattr(server, "ws_setup_delay", 0.0)
    if delay:
        await asyncio.sleep(delay)
    ws = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024)
    await ws.prepare(request)
    server.connections_seen += 1
    held: dict[str, dict[str, Any]] = {}  # store=false responses, on this socket only
    async for msg in ws:
        if msg.type is not WSMsgType.TEXT:
            continue
        try:
            body = msgspec.json.decode(msg.data)
        except msgspec.DecodeError:
            await ws.send_str(_error("invalid_json", "send JSON messages"))
            continue
        if not isinstance(body, dict) or body.get("type") != "response.create":
            await ws.send_str(_error("invalid_request", "send response.create messages"))
            continue
        if not await _turn(server, ws, body, held, msg.data.encode()):
            break
    return ws


async def _turn(
    server: MockServer,
    ws: web.WebSocketResponse,
    body: dict[str, Any],
    held: dict[str, Any],
    raw: bytes,
) -> bool:
    """Answer one ``response.create``; False when the socket was closed on purpose."""
    responses = server.responses
    server.requests.append(_record(body, raw))
    previous = body.get("previous_response_id")
    if previous is not None and previous not in responses.stored and previous not in held:
        await ws.send_str(
            _error("previous_response_not_found", f"Previous response {previous!r} not found")
        )
        return True
    changed = responses._check_input(body.get("input"))
    if changed:
        await ws.send_str(_error("invalid_request", changed))
        return True
    reply = server._queue.popleft() if server._queue else server.default
    number = next(responses._ids)
    generate = body.get("generate", True) is not False
    text = reply.text if generate else ""
    calls = reply.tool_calls if generate else ()
    response, events = responses._build(number, body, text, reply.chunk_size, calls)
    if not generate:
        response["output"] = []
        events = [e for e in events if e["type"] in ("response.created", "response.completed")]
        for n, event in enumerate(events):
            event["sequence_number"] = n
        events[-1]["response"] = response
    if body.get("store") is False:
        held[response["id"]] = response
    else:
        responses.stored[response["id"]] = response
        responses.events[response["id"]] = events
    for item in response["output"]:
        responses.sent_items[item["id"]] = item
    stop = responses.cuts.pop(0) if responses.cuts else len(events)
    for event in events[:stop]:
        await ws.send_str(_ENCODE(event).decode())
    if stop < len(events):
        await ws.close(code=1011, message=b"cut on purpose")
        return False
    return True


def _record(body: dict[str, Any], raw: bytes) -> RecordedRequest:
    headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    return RecordedRequest(method="WS", path="/v1/responses", headers=headers, body=raw, json=body)


def _error(code: str, message: str) -> str:
    return _ENCODE(
        {
            "type": "error",
            "error": {"type": "invalid_request_error", "code": code, "message": message},
        }
    ).decode()
