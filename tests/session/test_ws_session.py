"""Responses over one WebSocket (``client.responses.connect()``), end to end against
the built-in server's WebSocket mode."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import msgspec
import pytest

import xstream
from tests.conftest import KEY
from xstream.testing import MockServer, Reply


@pytest.fixture
async def server() -> AsyncIterator[MockServer]:
    async with MockServer(default=Reply(text="The answer is 42.", chunk_size=4)) as srv:
        yield srv


async def test_turns_chain_on_one_socket_with_the_same_typed_stream(server: MockServer) -> None:
    async with (
        xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as client,
        client.responses.connect() as session,
    ):
        stream = await session.create(model="grok-4", input="Hi")
        assert isinstance(stream, xstream.ResponseStream)
        pieces = [d async for d in stream.text_stream]
        first = await stream.get_final_response()
        assert "".join(pieces) == first.output_text == "The answer is 42."
        assert stream.stats.time_to_first_event is not None
        second = await session.create(model="grok-4", input="And then?")
        final = await second.get_final_response()
        assert final.previous_response_id == first.id
    ws_turns = [r.json for r in server.requests if r.method == "WS"]
    assert [t["type"] for t in ws_turns] == ["response.create"] * 2
    assert ws_turns[1]["previous_response_id"] == first.id
    assert server.connections_seen == 1


async def test_warm_sends_generate_false_and_the_next_turn_chains_to_it(
    server: MockServer,
) -> None:
    async with (
        xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as client,
        client.responses.connect() as session,
    ):
        warmed = await session.warm(model="grok-4", instructions="Be brief.")
        assert warmed.output == ()
        stream = await session.create(model="grok-4", input="Hi")
        assert (await stream.get_final_response()).previous_response_id == warmed.id
    turns = [r.json for r in server.requests if r.method == "WS"]
    assert turns[0]["generate"] is False and turns[0]["instructions"] == "Be brief."


async def test_a_store_false_conversation_survives_a_reconnect_byte_for_byte(
    server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as client,
        client.responses.connect() as session,
    ):
        one = await session.create(model="grok-4", input="Hi", store=False)
        first = await one.get_final_response()
        server.responses.cuts.append(3)  # the next turn's socket closes mid-response
        two = await session.create(model="grok-4", input="More", store=False)
        seen: list[object] = []
        with pytest.raises(xstream.StreamDisconnectedError) as caught:
            async for event in two:
                seen.append(event)
        assert len(seen) == 3 and caught.value.events_received == 3
        assert KEY not in str(caught.value)
        with caplog.at_level(logging.DEBUG, logger="xstream.responses.session"):
            three = await session.create(model="grok-4", input="Again", store=False)
            await three.get_final_response()
        assert session.reconnects == 1
    assert "sent again, unchanged" in caplog.text
    turns = [r for r in server.requests if r.method == "WS"]
    resent = msgspec.json.decode(turns[2].body)["input"]
    # the first turn's input, then every output item exactly as the server sent it
    sent_out = [server.responses.sent_items[item.id] for item in first.output]
    assert resent[0] == {"type": "message", "role": "user", "content": "Hi"}
    assert resent[1:-1] == sent_out
    raw = turns[2].body  # as the client sent it: each item's bytes as the server's were
    for item in sent_out:
        assert msgspec.json.encode(item) in raw
    assert "previous_response_id" not in turns[2].json
    assert server.responses.mismatches == []


def test_the_sync_session_streams_turns_on_one_socket() -> None:
    with MockServer.running_in_thread(default=Reply(text="Sync hello.")) as srv:
        with (
            xstream.Client(KEY, base_url=srv.base_url, max_retries=0) as client,
            client.responses.connect() as session,
        ):
            warmed = session.warm(model="grok-4")
            stream = session.create(model="grok-4", input="Hi")
            assert "".join(stream.text_stream) == "Sync hello."
            final = stream.get_final_response()
            assert final.previous_response_id == warmed.id
            assert session.previous_response_id == final.id
        assert srv.connections_seen == 1


async def test_a_second_create_waits_for_the_turn_in_flight(server: MockServer) -> None:
    async with (
        xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as client,
        client.responses.connect() as session,
    ):
        first = await session.create(model="grok-4", input="One")
        second = asyncio.ensure_future(session.create(model="grok-4", input="Two"))
        # it waits for the first turn's last event to arrive (not to be read): it can
        # then chain to it
        one = await first.get_final_response()
        two = await (await asyncio.wait_for(second, 2)).get_final_response()
        assert two.previous_response_id == one.id
