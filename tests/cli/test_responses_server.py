"""The Responses API end to end over the built-in server (xstream.testing.MockServer):
reasoning with encrypted content, a server-side tool call, citations, stored responses,
background streams cut and resumed, and a server that checks each turn's items."""

from __future__ import annotations

from typing import Any

import pytest

import xstream
from xstream.testing import MockServer, Reply, ToolCallScript

TOOLS = [{"type": "web_search"}]


async def test_a_two_turn_conversation_comes_back_unchanged(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    stream = await client.responses.create(
        model="grok-4", input="Who wrote the Guide?", stream=True, tools=TOOLS,
        include=["reasoning.encrypted_content"],
    )  # fmt: skip
    events = [event async for event in stream]
    final = await stream.get_final_response()
    reasoning, search, message = final.output
    assert reasoning.type == "reasoning" and reasoning.encrypted_content == "enc-1-opaque=="
    assert search.type == "web_search_call" and search.action["query"] == "Who wrote the Guide?"
    assert message.content is not None and message.content[0].annotations is not None
    assert message.content[0].annotations[0].type == "url_citation"
    phases = [e.phase for e in events if isinstance(e, xstream.ResponseToolCallEvent)]
    assert phases == ["in_progress", "searching", "completed"]
    assert any(isinstance(e, xstream.ResponseOutputTextAnnotationAddedEvent) for e in events)
    assert final.usage is not None and final.usage.cost_usd is not None

    # turn 2, streamed and not: the server checks every item came back exactly as sent
    again = await client.responses.create(
        model="grok-4", input=[*final.output, {"role": "user", "content": "And why?"}], tools=TOOLS
    )
    assert again.status == "completed" and server.responses.mismatches == []
    stream = await client.responses.create(
        model="grok-4", input=[*again.output, {"role": "user", "content": "Thanks"}], stream=True
    )
    assert (await stream.get_final_response()).output_text == xstream.testing.DEFAULT_TEXT


async def test_scripted_function_calls_over_http_and_the_websocket_alike(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    """``Reply(tool_calls=...)`` answers ``function_call`` items (no message when
    there is no text), arguments streamed in ``chunk_size`` pieces; the caller's
    ``function_call_output`` chains to it, over HTTP and over the WebSocket."""
    call = ToolCallScript("get_weather", '{"city":"Paris"}', id="call_paris")
    server.enqueue(
        Reply(text="", tool_calls=[call], chunk_size=5), Reply(text="Sunny.", chunk_size=3)
    )
    stream = await client.responses.create(model="grok-4", input="Weather?", stream=True)
    events = [event async for event in stream]
    first = await stream.get_final_response()
    assert [item.type for item in first.output] == ["reasoning", "function_call"]
    item = first.output[1]
    assert (item.call_id, item.name) == ("call_paris", "get_weather")
    assert item.arguments == call.arguments
    delta, done_type = (
        xstream.ResponseFunctionCallArgumentsDeltaEvent,
        xstream.ResponseFunctionCallArgumentsDoneEvent,
    )
    deltas = [e.delta for e in events if isinstance(e, delta)]
    assert deltas == ['{"cit', 'y":"P', 'aris"', "}"]
    done = [e for e in events if isinstance(e, done_type)]
    assert [(e.name, e.arguments) for e in done] == [("get_weather", call.arguments)]
    output = {"type": "function_call_output", "call_id": "call_paris", "output": "18 C"}
    answer = await client.responses.create(
        model="grok-4", input=[output], previous_response_id=first.id
    )
    assert answer.output_text == "Sunny." and answer.previous_response_id == first.id

    server.enqueue(Reply(text="Let me look.", tool_calls=[call, ToolCallScript("now")]))
    async with client.responses.connect() as session:
        turn = await session.create(model="grok-4", input="Weather?")
        over_ws = await turn.get_final_response()
        kinds = [item.type for item in over_ws.output]
        assert kinds == ["reasoning", "message", "function_call", "function_call"]
        assert over_ws.output_text == "Let me look."
        ids = [item.call_id for item in over_ws.output[2:]]
        assert ids[0] == "call_paris" and ids[1] and ids[1].startswith("call_")  # a fresh one
        turn = await session.create(model="grok-4", input=[output])
        assert (await turn.get_final_response()).previous_response_id == over_ws.id
    assert server.responses.mismatches == []


async def test_the_server_refuses_an_item_that_came_back_changed(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    first = await client.responses.create(model="grok-4", input="Hi")
    reasoning: Any = xstream.ResponseOutputItem(**{
        f: getattr(first.output[0], f) for f in ("type", "id", "summary", "encrypted_content", "status")
    })  # fmt: skip  # rebuilt from its typed fields: the unknown field is lost
    with pytest.raises(xstream.BadRequestError, match="came back changed"):
        await client.responses.create(model="grok-4", input=[reasoning])
    assert len(server.responses.mismatches) == 1


async def test_stored_responses_and_a_background_stream_cut_twice(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(text="one two three four five six", chunk_size=3))
    server.responses.cuts = [5, 9]  # the first two connections drop mid-stream
    stream = await client.responses.create(model="grok-4", input="Go", stream=True, background=True)
    events = [event async for event in stream]
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(numbers))) and len(numbers) > 12  # each once, in order
    final = await stream.get_final_response()
    assert final.output_text == "one two three four five six"
    resumes = [r for r in server.requests if r.method == "GET"]
    assert [r.path for r in resumes] == [f"/v1/responses/{final.id}"] * 2
    stored = await client.responses.retrieve(final.id)
    assert stored.output_text == final.output_text
    assert (await client.responses.delete(final.id))["deleted"] is True
    with pytest.raises(xstream.NotFoundError):
        await client.responses.retrieve(final.id)


async def test_a_background_stream_the_server_cannot_resume_keeps_what_arrived(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.responses.cuts = [6]
    server.responses.resumable = False
    stream = await client.responses.create(model="grok-4", input="Go", stream=True, background=True)
    got: list[Any] = []
    with pytest.raises(xstream.IncompleteStreamError, match="could not be resumed") as info:
        async for event in stream:
            got.append(event)
    assert [e.sequence_number for e in got] == list(range(6))
    assert isinstance(info.value.partial, xstream.Response) and info.value.partial.output


# ------------------------------------------------------------------ chat over the built-in server


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_chat_reasoning_lands_in_one_place_over_the_wire(
    client: xstream.AsyncClient, server: MockServer, field: str
) -> None:
    server.enqueue(Reply(text="42.", reasoning="Let me think about it.", reasoning_field=field))
    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "?"}], stream=True
    )
    final = await stream.get_final_completion()
    message = final.choices[0].message
    assert message.reasoning_content == "Let me think about it." and message.content == "42."
    assert message.reasoning == ("Let me think about it." if field == "reasoning" else None)
    # and the message goes back as the next turn's assistant message, reasoning left out
    await client.chat.completions.create(
        model="m", messages=[message, {"role": "user", "content": "ok"}]
    )
    assert server.requests[-1].json["messages"][0] == {"role": "assistant", "content": "42."}


async def test_deferred_completions_and_the_conversation_header_over_the_wire(
    server: MockServer,
) -> None:
    server.deferred_polls = 2
    async with xstream.AsyncClient(
        "k", base_url=server.base_url, conversation_id="conv-7"
    ) as client:
        handle = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hi"}], deferred=True
        )
        completion = await handle.result(poll_interval=0.01)
        assert completion.choices[0].message.content == xstream.testing.DEFAULT_TEXT
        with pytest.raises(xstream.NotFoundError):  # handed out once
            await handle.result(poll_interval=0.01)
    polls = [r for r in server.requests if r.method == "GET"]
    assert len(polls) == 4  # 202, 202, the completion; then 404
    assert server.requests[0].headers["x-grok-conv-id"] == "conv-7"
