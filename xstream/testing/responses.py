"""The built-in server's Responses API (``/v1/responses``), for tests and the offline demo.

It answers as xAI does: a reasoning item with encrypted content (and a field
no SDK knows yet), a ``web_search_call`` with its action and progress events
when the request asks for the ``web_search`` tool, and a message whose text
carries a ``url_citation``; a :class:`Reply`'s ``tool_calls`` become
``function_call`` items after it (with no ``text``, instead of it), their
arguments streamed in ``chunk_size`` pieces. Responses are stored (``GET`` / ``DELETE
/v1/responses/{id}``); a ``background`` stream can be cut on purpose (``cuts``)
and resumed with ``?stream=true&starting_after=N``.

On every request it checks that the output items sent back as ``input`` are
exactly what it sent (no field lost, none added): a changed item is answered
with HTTP 400 and recorded in ``mismatches``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
from aiohttp import web

from .script import ToolCallScript

__all__ = ["MockResponses"]

_ENCODE = msgspec.json.Encoder().encode
_SOURCE = "https://example.org/hitchhikers-guide"


class MockResponses:
    """The Responses API state of one :class:`xstream.testing.MockServer`."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.sent_items: dict[str, dict[str, Any]] = {}  # by item id: what went out
        self.mismatches: list[str] = []
        self.cuts: list[int] = []  # cut the next streams after this many events (one each)
        self.resumable = True
        self._ids = itertools.count(1)

    # ------------------------------------------------------------ handling

    async def handle(
        self,
        request: web.Request,
        body: Any,
        text: str,
        chunk: int,
        calls: Sequence[ToolCallScript] = (),
    ) -> web.StreamResponse:
        parts = request.path.rstrip("/").split("/")
        if parts[-1] == "responses":
            if request.method != "POST" or not isinstance(body, dict):
                return _error(405 if request.method != "POST" else 400, "POST a JSON object")
            return await self._create(request, body, text, chunk, calls)
        response_id = parts[-1]
        if response_id not in self.stored:
            return _error(404, f"No response with id {response_id!r}")
        if request.method == "DELETE":
            del self.stored[response_id]
            return web.json_response({"id": response_id, "object": "response", "deleted": True})
        if request.query.get("stream") != "true":
            return web.json_response(self.stored[response_id])
        if not self.resumable:
            return _error(400, "This response cannot be streamed again")
        after = int(request.query.get("starting_after", "-1"))
        return await self._stream(request, self.events[response_id], after + 1)

    async def _create(
        self,
        request: web.Request,
        body: dict[str, Any],
        text: str,
        chunk: int,
        calls: Sequence[ToolCallScript],
    ) -> web.StreamResponse:
        changed = self._check_input(body.get("input"))
        if changed:
            return _error(400, changed)
        number = next(self._ids)
        response, events = self._build(number, body, text, chunk, calls)
        self.stored[response["id"]] = response
        self.events[response["id"]] = events
        for item in response["output"]:
            self.sent_items[item["id"]] = item
        if not body.get("stream"):
            return web.json_response(response)
        return await self._stream(request, events, 0)

    async def _stream(
        self, request: web.Request, events: list[dict[str, Any]], start: int
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        stop = self.cuts.pop(0) if self.cuts else len(events)
        for event in events[start:stop]:
            await response.write(
                b"event: " + event["type"].encode() + b"\ndata: " + _ENCODE(event) + b"\n\n"
            )
        if stop < len(events):
            if request.transport is not None:
                request.transport.close()  # cut mid-stream, as a flaky network would
            return response
        await response.write_eof()
        return response

    def _check_input(self, items: Any) -> str | None:
        """What came back changed, if anything (an item is known by its id)."""
        if not isinstance(items, list):
            return None
        for item in items:
            if not isinstance(item, dict):
                continue
            sent = self.sent_items.get(item.get("id"))  # type: ignore[arg-type]
            if sent is not None and item != sent:
                lost = sorted(set(sent) - set(item))
                added = sorted(set(item) - set(sent))
                message = (
                    f"output item {item.get('id')!r} came back changed "
                    f"(lost {lost}, added {added}, or values changed): send items back unchanged"
                )
                self.mismatches.append(message)
                return message
        return None

    # ------------------------------------------------------------ the answer

    def _build(
        self,
        number: int,
        body: dict[str, Any],
        text: str,
        chunk: int,
        calls: Sequence[ToolCallScript] = (),
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        rid = f"resp_{number:04d}"
        searching = any(
            isinstance(t, dict) and t.get("type") in ("web_search", "web_search_preview")
            for t in body.get("tools") or ()
        )
        reasoning = {
            "type": "reasoning",
            "id": f"rs_{number}",
            "summary": [{"type": "summary_text", "text": "Looking it up, then answering."}],
            "encrypted_content": f"enc-{number}-opaque==",
            "status": "completed",
            "x_reasoning_meta": {"effort": "low", "budget": [1, 2]},  # a field no SDK knows
        }
        items: list[dict[str, Any]] = [reasoning]
        if searching:
            items.append(
                {
                    "type": "web_search_call",
                    "id": f"ws_{number}",
                    "status": "completed",
                    "action": {
                        "type": "search",
                        "query": str(body.get("input"))[:60],
                        "sources": [{"type": "url", "url": _SOURCE}],
                    },
                }
            )
        annotation = {
            "type": "url_citation",
            "url": _SOURCE,
            "title": "The Guide",
            "start_index": 0,
            "end_index": min(len(text), 10),
        }
        message = {
            "type": "message",
            "id": f"msg_{number}",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": [annotation]}],
        }
        if text or not calls:
            items.append(message)
        items += [
            {
                "type": "function_call",
                "id": f"fc_{number}_{index}",
                "call_id": call.id or f"call_{number}_{index}",
                "name": call.name,
                "arguments": call.arguments,
                "status": "completed",
            }
            for index, call in enumerate(calls)
        ]
        words = len(str(body.get("input")).split())
        out_tokens = max(1, len(text.split()))
        response = {
            "id": rid,
            "object": "response",
            "created_at": 1_700_000_000 + number,
            "model": body.get("model") or "grok-4",
            "status": "completed",
            "background": bool(body.get("background")),
            "previous_response_id": body.get("previous_response_id"),
            "output": items,
            "usage": {
                "input_tokens": words,
                "output_tokens": out_tokens,
                "total_tokens": words + out_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 7},
                "server_side_tool_usage_details": {"web_search": 1} if searching else {},
                "num_server_side_tools_used": 1 if searching else 0,
                "cost_in_usd_ticks": 1_000_000 * (words + out_tokens),
            },
        }
        return response, list(_events(response, text, chunk, annotation))


def _events(
    response: dict[str, Any], text: str, chunk: int, annotation: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """The stream of one response, numbered."""
    started = {**response, "status": "in_progress", "output": [], "usage": None}
    numbers = itertools.count()

    def event(kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "sequence_number": next(numbers), **fields}

    yield event("response.created", response=started)
    yield event("response.in_progress", response=started)
    for index, item in enumerate(response["output"]):
        opening = {k: v for k, v in item.items() if k not in ("content", "status")}
        if item["type"] == "function_call":
            opening["arguments"] = ""
        yield event(
            "response.output_item.added",
            output_index=index,
            item={**opening, "status": "in_progress"},
        )
        if item["type"] == "function_call":
            arguments = item["arguments"]
            for start in range(0, len(arguments), chunk):
                yield event(
                    "response.function_call_arguments.delta",
                    output_index=index,
                    item_id=item["id"],
                    delta=arguments[start : start + chunk],
                )
            yield event(
                "response.function_call_arguments.done",
                output_index=index,
                item_id=item["id"],
                name=item["name"],
                arguments=arguments,
            )
        if item["type"] == "web_search_call":
            for phase in ("in_progress", "searching", "completed"):
                yield event(
                    f"response.web_search_call.{phase}", output_index=index, item_id=item["id"]
                )
        if item["type"] == "message":
            part = {"type": "output_text", "text": "", "annotations": []}
            yield event(
                "response.content_part.added",
                output_index=index,
                content_index=0,
                item_id=item["id"],
                part=part,
            )
            for start in range(0, len(text), chunk):
                yield event(
                    "response.output_text.delta",
                    output_index=index,
                    content_index=0,
                    item_id=item["id"],
                    delta=text[start : start + chunk],
                )
            yield event(
                "response.output_text.annotation.added",
                output_index=index,
                content_index=0,
                item_id=item["id"],
                annotation_index=0,
                annotation=annotation,
            )
            yield event(
                "response.output_text.done",
                output_index=index,
                content_index=0,
                item_id=item["id"],
                text=text,
            )
            yield event(
                "response.content_part.done",
                output_index=index,
                content_index=0,
                item_id=item["id"],
                part=item["content"][0],
            )
        yield event("response.output_item.done", output_index=index, item=item)
    yield event("response.completed", response=response)


def _error(status: int, message: str) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": str(status)}}
    return web.json_response(body, status=status)
