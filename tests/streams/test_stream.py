"""AsyncStream end to end, over a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp import web

import xstream
from tests.conftest import KEY, LOOP, RawServe
from xstream.testing import DEFAULT_TEXT, MockServer, Reply, ToolCallScript

MESSAGES = [{"role": "user", "content": "What is the meaning of life?"}]


async def open_stream(client: xstream.AsyncClient, **kw: Any) -> xstream.AsyncStream[Any]:
    return await client.chat.completions.create(
        model="grok-2-latest", messages=MESSAGES, stream=True, **kw
    )


def text_of(chunks: list[xstream.ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


async def idle(server: MockServer) -> None:
    await asyncio.wait_for(server.wait_until_idle(), 5)


def without_ids(chunks: list[Any]) -> list[Any]:
    """Chunks compared across requests: the server makes a new id per request."""
    return [msgspec.structs.replace(c, id="", created=0) for c in chunks]


async def reference_chunks(
    client: xstream.AsyncClient, server: MockServer, reply: Reply
) -> list[Any]:
    """The chunks a clean run of the same script delivers."""
    server.enqueue(reply)
    stream = await open_stream(client)
    return without_ids([chunk async for chunk in stream])


# ------------------------------------------------------------------ the happy path


async def test_the_seed_example_streams_the_whole_answer(server: MockServer) -> None:
    printed: list[str] = []
    async with xstream.AsyncClient(api_key=KEY, base_url=server.base_url) as client:
        stream = await client.chat.completions.create(
            model="grok-2-latest", messages=MESSAGES, stream=True
        )
        async for chunk in stream:
            assert isinstance(chunk, xstream.ChatCompletionChunk)
            if chunk.choices:
                printed.append(chunk.choices[0].delta.content or "")
    assert "".join(printed) == DEFAULT_TEXT
    assert stream.done and stream.stats.done
    assert stream.response.status == 200
    assert stream.stats.chunks > 10 and stream.stats.bytes > len(DEFAULT_TEXT)
    assert stream.stats.time_to_first_chunk is not None


async def test_usage_and_finish_reason_arrive(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    stream = await open_stream(client, stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert chunks[-1].choices == () and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == (
        chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens
    )
    finishing = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishing == ["stop"]
    assert server.requests[-1].json["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    "reply",
    [
        Reply(line_end="\r\n"),
        Reply(line_end="\r"),
        Reply(keepalive_every=1),
        Reply(write_size=7),  # cuts inside UTF-8 characters and between CR and LF
        Reply(write_size=1, line_end="\r\n", text="héllo — 日本語 😀 done"),
        Reply(unicode_escape=True, text="héllo — 日本語 😀 done"),
        Reply(chunk_size=1, text="one char per chunk — ok"),
    ],
    ids=["crlf", "cr", "keepalive", "split-writes", "bytewise-crlf", "u-escapes", "tiny-chunks"],
)
async def test_framing_variants_give_the_same_text(
    client: xstream.AsyncClient, server: MockServer, reply: Reply
) -> None:
    server.enqueue(reply)
    stream = await open_stream(client)
    chunks = [c async for c in stream]
    assert text_of(chunks) == reply.text
    assert stream.done


SERVER_VARIANTS = {
    "created-missing": b'data: {"id":"a","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n',
    "finish-null-usage-null": b'data: {"id":"a","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}\n\n',
    "usage-empty-choices": b'data: {"id":"a","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: {"id":"a","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n',
    "usage-empty-delta": b'data: {"id":"a","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: {"id":"a","choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n',
    "crlf-and-comments": b': hello\r\n\r\ndata: {"id":"a","choices":[{"index":0,"delta":{"content":"Hi"}}]}\r\n\r\n: keep-alive\r\n\r\n',
    "named-ping-events": b'event: ping\ndata: {}\n\ndata: {"id":"a","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n',
    "empty-data-keepalive": b'data:\n\ndata: {"id":"a","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n',
    "nulls-where-defaults-belong": b'data: {"id":null,"object":null,"model":null,"choices":[{"index":null,"delta":null}]}\n\ndata: {"id":"a","model":"m","choices":[{"index":0,"delta":{"role":null,"content":"Hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":null,"total_tokens":null}}\n\n',
    "choices-null": b'data: {"id":"a","choices":null}\n\ndata: {"id":"a","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n',
}


@pytest.mark.parametrize("body", SERVER_VARIANTS.values(), ids=SERVER_VARIANTS.keys())
async def test_server_variants_decode(raw_server: RawServe, body: bytes) -> None:
    pieces = [body[i : i + 5] for i in range(0, len(body), 5)] + [b"data: [DONE]\n\n"]
    base_url = await raw_server(pieces)
    async with xstream.AsyncClient(KEY, base_url=base_url) as client:
        stream = await open_stream(client)
        chunks = [c async for c in stream]
    assert text_of(chunks) == "Hi"
    assert stream.done


async def test_utf8_split_across_tcp_writes(raw_server: RawServe) -> None:
    payload = '{"id":"a","choices":[{"index":0,"delta":{"content":"日本語😀"}}]}'.encode()
    body = b"data: " + payload + b"\n\ndata: [DONE]\n\n"
    base_url = await raw_server([body[i : i + 1] for i in range(len(body))])
    async with xstream.AsyncClient(KEY, base_url=base_url) as client:
        assert text_of([c async for c in await open_stream(client)]) == "日本語😀"


# ------------------------------------------------------------------ leaving early


async def test_break_releases_the_connection_at_once(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(chunks=10_000, delay=0.001))
    stream = await open_stream(client)
    async for _ in stream:
        break
    # No `async with`, the stream object still held: the iterator's end closes it.
    assert stream.response.closed
    await idle(server)
    assert server.open_streams == 0


async def test_exception_inside_async_with_releases(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(chunks=10_000, delay=0.001))
    with pytest.raises(RuntimeError, match="consumer failed"):
        async with await open_stream(client) as stream:
            async for _ in stream:
                raise RuntimeError("consumer failed")
    assert stream.response.closed
    await idle(server)


async def test_exception_in_bare_loop_releases(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(chunks=10_000, delay=0.001))
    stream = await open_stream(client)
    with pytest.raises(ZeroDivisionError):
        async for _ in stream:
            1 / 0  # noqa: B018
    assert stream.response.closed
    await idle(server)


async def test_cancelling_the_consumer_releases(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(stall_after=2, stall_seconds=30))
    stream = await open_stream(client)
    got: list[Any] = []

    async def consume() -> None:
        async for chunk in stream:
            got.append(chunk)

    task = asyncio.create_task(consume())
    while len(got) < 2:  # noqa: ASYNC110 - polling a list the task fills
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the task now waits for chunk 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stream.response.closed
    await idle(server)
    assert server.closed_by_client >= 1


async def test_a_stream_never_iterated_is_released_by_aclose(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    async with await open_stream(client) as stream:
        pass
    assert stream.response.closed
    await idle(server)


async def test_a_dropped_stream_object_does_not_leak(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(chunks=10_000, delay=0.001))
    stream = await open_stream(client)
    response = stream.response
    del stream
    gc.collect()
    assert response.closed
    await idle(server)


async def test_a_second_loop_does_not_resume(client: xstream.AsyncClient) -> None:
    stream = await open_stream(client)
    async for _ in stream:
        break
    assert [c async for c in stream] == []


async def test_one_iterator_reads_a_stream_in_parts(client: xstream.AsyncClient) -> None:
    stream = await open_stream(client)
    it = aiter(stream)
    first = [await anext(it) for _ in range(3)]
    rest = [c async for c in it]
    assert text_of(first + rest) == DEFAULT_TEXT


async def test_a_second_reader_at_the_same_time_is_refused_and_the_first_reads_on(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(chunks=6, chunk_size=3, delay=0.05))  # a read a chunk
    stream = await open_stream(client)
    it = aiter(stream)
    first = [await anext(it)]
    waiting = asyncio.ensure_future(anext(it))
    await asyncio.sleep(0.01)  # it waits for the next read
    assert not waiting.done()
    with pytest.raises(RuntimeError, match="already being read"):
        await anext(it)
    first.append(await waiting)
    rest = [c async for c in it]
    assert "".join(c.choices[0].delta.content or "" for c in first + rest if c.choices)
    assert stream.done and not stream.left_early
    final = await stream.get_final_completion()
    assert final.choices[0].message.content == text_of(first + rest)
    await idle(server)


async def test_a_slow_loop_pauses_the_socket_and_every_chunk_still_arrives(
    raw_server: RawServe,
) -> None:
    """Flow control stays aiohttp's (xstream's connections resume reading only when
    something is paused): a body that comes faster than the loop reads it pauses the
    socket once the reader holds too much, and the loop's reads resume it."""
    n = 20_000
    body = b"".join(
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"' + str(i).encode() + b' "}}]}\n\n'
        for i in range(n)
    )
    base_url = await raw_server([body + b"data: [DONE]\n\n"])
    async with xstream.AsyncClient(api_key=KEY, base_url=base_url, max_retries=0) as client:
        stream = await open_stream(client)
        connection = stream.response.connection
        assert connection is not None and connection.protocol is not None
        protocol = connection.protocol
        paused = count = 0
        async with asyncio.timeout(30):
            async for chunk in stream:
                assert chunk.choices[0].delta.content == f"{count} "
                count += 1
                if count % 2_000 == 0:
                    await asyncio.sleep(0.01)  # a slow loop: the server gets ahead
                    paused += protocol._reading_paused
        assert count == n and stream.done
        assert paused  # the reader held too much, at least once: reading was paused


async def test_a_waiting_loop_awaits_its_read_in_one_coroutine(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    """Between two chunks a loop holds one coroutine of the iterator's, which awaits
    the read: no async generator (with its ``asend``, bound step and the weak
    reference asyncio keeps of each), that many objects fewer per waiting stream."""
    server.enqueue(Reply(delay=0.02, stall_after=2, stall_seconds=30))
    stream = await open_stream(client, timeout=xstream.Timeout(idle=600))

    async def loop() -> None:
        async for _ in stream:
            pass

    task = asyncio.ensure_future(loop())
    for _ in range(100):
        await asyncio.sleep(0.01)
        if stream.stats.chunks == 2:
            break
    await asyncio.sleep(0.05)
    chain = []
    awaited: Any = task.get_coro()
    while awaited is not None and hasattr(awaited, "cr_await"):
        chain.append(awaited.cr_code.co_qualname)
        awaited = awaited.cr_await
    assert chain[:3] == [
        "test_a_waiting_loop_awaits_its_read_in_one_coroutine.<locals>.loop",
        "BatchIterator.__anext__",
        "StreamEngine._next_data",
    ], chain
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert stream.response.closed
    await idle(server)


async def test_two_streams_in_a_row_reuse_one_connection(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    for _ in range(3):
        stream = await open_stream(client)
        assert text_of([c async for c in stream]) == DEFAULT_TEXT
    assert server.connections_seen == 1


# ------------------------------------------------------------------ faults: nothing lost


async def test_truncated_stream_raises_after_every_chunk(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    clean = await reference_chunks(client, server, Reply())
    server.enqueue(Reply(no_done=True))
    stream = await open_stream(client)
    got: list[Any] = []
    with pytest.raises(xstream.IncompleteStreamError, match=r"without \[DONE\]") as info:
        async for chunk in stream:
            got.append(chunk)
    assert without_ids(got) == clean
    assert info.value.events_received == len(clean)
    assert not stream.done


async def test_error_event_raises_typed_after_the_chunks_before_it(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    clean = await reference_chunks(client, server, Reply())
    server.enqueue(Reply(error_event_after=3))
    got: list[Any] = []
    with pytest.raises(xstream.OverloadedError, match="overloaded") as info:
        async for chunk in await open_stream(client):
            got.append(chunk)
    assert without_ids(got) == clean[:3]
    assert info.value.status_code == 503 and info.value.code == "overloaded"
    assert isinstance(info.value, xstream.APIStatusError)


async def test_error_as_event_type(client: xstream.AsyncClient, server: MockServer) -> None:
    payload = {"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit"}}
    server.enqueue(Reply(error_event_after=2, error_as_event_type=True, error_payload=payload))
    got: list[Any] = []
    with pytest.raises(xstream.RateLimitError, match="slow down") as info:
        async for chunk in await open_stream(client):
            got.append(chunk)
    assert len(got) == 2
    assert isinstance(info.value, xstream.ServerStreamError)
    assert info.value.status_code == 429


async def test_malformed_json_names_the_event_and_bytes(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    clean = await reference_chunks(client, server, Reply())
    server.enqueue(Reply(malformed_after=4))
    got: list[Any] = []
    with pytest.raises(xstream.MalformedEventError) as info:
        async for chunk in await open_stream(client):
            got.append(chunk)
    assert without_ids(got) == clean[:4]
    assert info.value.position == 4
    assert info.value.payload.startswith(b"{not json")
    assert "event #4" in str(info.value)


async def test_invalid_utf8_raises_its_own_error(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(invalid_utf8_after=2))
    got: list[Any] = []
    with pytest.raises(xstream.InvalidUTF8Error, match="UTF-8"):
        async for chunk in await open_stream(client):
            got.append(chunk)
    assert len(got) == 2


async def test_dropped_connection_raises_after_the_chunks(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    clean = await reference_chunks(client, server, Reply())
    server.enqueue(Reply(drop_after=5))
    got: list[Any] = []
    with pytest.raises(xstream.StreamDisconnectedError) as info:
        async for chunk in await open_stream(client):
            got.append(chunk)
    assert without_ids(got) == clean[:5]
    assert info.value.events_received == 5
    assert isinstance(info.value, xstream.APIConnectionError)
    assert len(server.requests) == 2  # never retried once chunks were handed out


async def test_oversized_event_raises_with_the_limit(server: MockServer) -> None:
    server.enqueue(Reply(oversized_event_bytes=100_000))
    got: list[Any] = []
    async with xstream.AsyncClient(KEY, base_url=server.base_url, max_event_bytes=10_000) as client:
        with pytest.raises(xstream.EventTooLargeError, match="max_event_bytes") as info:
            async for chunk in await open_stream(client):
                got.append(chunk)
        assert len(got) == 1
        assert info.value.limit == 10_000
        # the client stays usable
        assert text_of([c async for c in await open_stream(client)]) == DEFAULT_TEXT


async def test_client_is_usable_after_every_fault(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    for reply in (Reply(drop_after=1), Reply(malformed_after=1), Reply(no_done=True)):
        server.enqueue(reply)
        with pytest.raises(xstream.APIError):
            async for _ in await open_stream(client):
                pass
    assert text_of([c async for c in await open_stream(client)]) == DEFAULT_TEXT
    await idle(server)


# ------------------------------------------------------------------ deadlines and retries


async def test_idle_deadline_fires_on_a_stall(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(stall_after=2, stall_seconds=30))
    got: list[Any] = []
    with pytest.raises(xstream.IdleTimeoutError) as info:
        async for chunk in await open_stream(client, timeout=xstream.Timeout(idle=0.3)):
            got.append(chunk)
    assert len(got) == 2
    assert info.value.deadline == "idle" and info.value.seconds == 0.3
    assert "2 chunks" in str(info.value)
    await idle(server)


async def test_idle_deadline_catches_a_trickling_peer(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(trickle_after=1, trickle_interval=0.02, stall_seconds=30))
    with pytest.raises(xstream.IdleTimeoutError):
        async for _ in await open_stream(client, timeout=xstream.Timeout(idle=0.4)):
            pass


async def test_a_paced_stream_left_early_merges_exactly_what_the_loop_saw(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    # One chunk a read, merged 64 at a time: a loop left after 150 keeps those 150.
    server.enqueue(Reply(chunks=300, chunk_size=3, delay=0.001))
    stream = await open_stream(client)
    seen: list[str] = []
    async for chunk in stream:
        seen.append(chunk.choices[0].delta.content or "")
        if len(seen) == 150:
            break
    final = await stream.get_final_completion()
    assert stream.left_early
    assert final.choices[0].message.content == "".join(seen)
    assert final.choices[0].finish_reason is None


async def test_a_paced_stream_read_to_the_end_merges_every_chunk(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(chunks=130, chunk_size=3, delay=0.001))
    stream = await open_stream(client)
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
    final = await stream.get_final_completion()
    assert final.choices[0].message.content == text
    assert final.choices[0].finish_reason == "stop"


async def test_the_deadline_is_one_timer_a_stream_not_one_a_read(
    client: xstream.AsyncClient, server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paced streams read one chunk at a time: a timer handle per read would churn the
    loop's timer heap. The deadline timer is armed once and moved only when it fires."""
    from xstream._streams import deadline

    loop = asyncio.get_running_loop()
    armed: list[asyncio.TimerHandle] = []
    call_at = loop.call_at

    def counting(when: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        handle = call_at(when, callback, *args, **kwargs)
        if callback is deadline.deadline_check:
            armed.append(handle)
        return handle

    monkeypatch.setattr(loop, "call_at", counting)
    server.enqueue(Reply(chunks=60, chunk_size=2, delay=0.005))
    reads = 0
    stream = await open_stream(client, timeout=xstream.Timeout(idle=0.2, first_event=5))
    async for _ in stream:
        reads += 1
    assert reads >= 60
    assert len(armed) <= 3  # armed once, re-armed only when it fired
    # The first event did not move it earlier: armed no later than idle from the start,
    # none was cancelled before the end (a cancelled handle stays in the loop's heap
    # until its time: 10 minutes for the default first_event).
    assert not any(handle.cancelled() for handle in armed[:-1])
    assert stream._timer is None  # ended: nothing left on the loop


async def test_a_first_event_later_than_idle_is_within_first_event(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    # the timer is armed at idle from the start (see above): firing then ends nothing
    server.enqueue(Reply(chunks=3, first_delay=0.5))
    stream = await open_stream(client, timeout=xstream.Timeout(idle=0.15, first_event=5))
    assert len([chunk async for chunk in stream]) >= 3


async def test_a_pending_deadline_timer_does_not_keep_a_dropped_stream_alive(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    import weakref

    server.enqueue(Reply(stall_after=1, stall_seconds=30))
    stream = await open_stream(client, timeout=xstream.Timeout(idle=600))
    chunks = aiter(stream)
    await anext(chunks)  # one chunk; the timer is armed for 600 s
    assert stream._timer is not None
    ref = weakref.ref(stream)
    del stream, chunks
    gc.collect()
    assert ref() is None
    await idle(server)


async def test_a_waiting_stream_left_mid_read_is_freed_without_the_collector(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    """What a waiting stream keeps out of the garbage collector's sight (its loop's
    place, its choice's parts, its deadline timer's argument) must never close a
    reference cycle: the collector would never free one. With the collector off,
    dropping the stream and its loop frees the stream, and its timer lets go of it."""
    import weakref

    server.enqueue(Reply(delay=0.02, stall_after=3, stall_seconds=30))  # a read a chunk
    stream = await open_stream(client, timeout=xstream.Timeout(idle=600))
    chunks = aiter(stream)
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):  # the loop merged what it saw; the timer is armed for 600 s
            await anext(chunks)
        timer = stream._timer
        assert timer is not None
        armed = getattr(timer, "_args", ())  # CPython's loop (uvloop's hides them)
        untracked = [stream._place, *stream._accumulator._choices.values(), *armed]
        assert len(untracked) == (3 if armed else 2)
        assert not any(map(gc.is_tracked, untracked))
        assert not gc.is_tracked(stream._accumulator._choices)
        ref = weakref.ref(stream)
        response = stream.response
        del stream, chunks, untracked, armed, timer
        assert ref() is None  # freed by reference counting alone: no cycle held it
        assert response.closed
    finally:
        gc.enable()
    await idle(server)


async def test_first_event_deadline(server: MockServer) -> None:
    server.enqueue(Reply(first_delay=5))
    async with xstream.AsyncClient(KEY, base_url=server.base_url, max_retries=0) as client:
        stream = await open_stream(client, timeout=xstream.Timeout(first_event=0.3))
        with pytest.raises(xstream.FirstEventTimeoutError) as info:
            async for _ in stream:
                pass
    assert info.value.deadline == "first_event"


async def test_total_deadline(client: xstream.AsyncClient, server: MockServer) -> None:
    server.enqueue(Reply(chunks=1000, delay=0.01))
    with pytest.raises(xstream.TotalTimeoutError):
        async for _ in await open_stream(client, timeout=xstream.Timeout(total=0.3)):
            pass


async def test_503_then_success_is_retried(client: xstream.AsyncClient, server: MockServer) -> None:
    server.enqueue(Reply(status=503, headers={"Retry-After": "0"}), Reply())
    assert text_of([c async for c in await open_stream(client)]) == DEFAULT_TEXT
    assert len(server.requests) == 2


async def test_retry_after_wait_is_honoured(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(status=429, headers={"Retry-After": "0.4"}), Reply())
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert text_of([c async for c in await open_stream(client)]) == DEFAULT_TEXT
    assert 0.35 <= loop.time() - started < 3


async def test_overloaded_before_the_first_chunk_is_retried(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(error_event_after=0), Reply())
    stream = await open_stream(client)
    assert text_of([c async for c in stream]) == DEFAULT_TEXT
    assert len(server.requests) == 2 and stream.stats.retries == 1


async def test_a_drop_after_the_head_is_raised_not_sent_again(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(drop_after=0), Reply())
    with pytest.raises(xstream.StreamDisconnectedError):
        _ = [c async for c in await open_stream(client)]
    assert len(server.requests) == 1  # the answer had started: never asked for twice


# ------------------------------------------------------------------ helpers


async def test_text_stream(client: xstream.AsyncClient) -> None:
    stream = await open_stream(client)
    assert "".join([t async for t in stream.text_stream]) == DEFAULT_TEXT


async def test_final_completion_equals_the_non_streamed_one(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    reply = Reply(
        reasoning="Let me think — deeply.",
        tool_calls=[
            ToolCallScript("get_weather", '{"city": "Paris", "unit": "celsius"}', id="call_1"),
            ToolCallScript("get_time", '{"tz": "Europe/Paris"}', id="call_2"),
        ],
        chunk_size=3,
    )
    server.enqueue(reply, reply)
    plain = await client.chat.completions.create(model="grok-2-latest", messages=MESSAGES, n=2)
    stream = await open_stream(client, n=2)
    chunks = aiter(stream)  # partial iteration first, the iterator held: the rest is read
    await anext(chunks)
    merged = await stream.get_final_completion()
    assert not stream.left_early
    assert len(merged.choices) == 2
    for got, want in zip(merged.choices, plain.choices, strict=True):
        assert got.message.content == want.message.content
        assert got.message.reasoning_content == want.message.reasoning_content == reply.reasoning
        assert got.message.tool_calls == want.message.tool_calls
        assert got.finish_reason == want.finish_reason
    assert merged.usage == plain.usage


async def test_memory_stays_bounded_under_a_200_mb_never_ending_line(
    raw_server: RawServe,
) -> None:
    piece = b"x" * 65536
    base_url = await raw_server([b"data: "] + [piece] * (200 * 1024 * 1024 // len(piece)))
    tracemalloc.start()
    try:
        async with xstream.AsyncClient(KEY, base_url=base_url) as client:
            stream = await open_stream(client)
            with pytest.raises(xstream.EventTooLargeError) as info:
                async for _ in stream:
                    pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.limit == 16 * 1024 * 1024
    assert stream.stats.bytes < 20 * 1024 * 1024  # stopped reading near the limit
    assert peak < 3 * 16 * 1024 * 1024


async def test_stats_are_live_and_complete(client: xstream.AsyncClient, server: MockServer) -> None:
    server.enqueue(Reply(delay=0.005))
    stream = await open_stream(client, stream_options={"include_usage": True})
    it = aiter(stream)
    await anext(it)
    assert stream.stats.chunks >= 1 and not stream.stats.done
    rest = [c async for c in it]
    stats = stream.stats
    assert stats.done and stats.chunks == len(rest) + 1
    assert stats.time_to_first_byte is not None and stats.time_to_first_chunk is not None
    assert stats.time_to_first_content is not None
    assert stats.time_to_first_byte <= stats.time_to_first_chunk <= stats.elapsed
    assert stats.usage is not None and stats.usage.completion_tokens > 0
    assert stats.tokens_per_second is not None and stats.tokens_per_second > 0


async def test_largest_gap_between_events_is_measured(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(text="abcdef", chunk_size=2, delay=0.15))
    stream = await open_stream(client)
    [c async for c in stream]
    assert 0.1 <= stream.stats.max_gap < 2


async def test_done_under_an_event_name_still_ends_the_stream(raw_server: RawServe) -> None:
    body = b'data: {"id":"a","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\nevent: done\ndata: [DONE]\n\n'
    base_url = await raw_server([body])
    async with xstream.AsyncClient(KEY, base_url=base_url) as client:
        stream = await open_stream(client)
        assert text_of([c async for c in stream]) == "Hi"
    assert stream.done


async def test_a_wrongly_typed_payload_is_still_malformed(raw_server: RawServe) -> None:
    body = b'data: {"id":"a","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: {"id":"a","choices":"nope"}\n\ndata: [DONE]\n\n'
    base_url = await raw_server([body])
    async with xstream.AsyncClient(KEY, base_url=base_url) as client:
        got: list[Any] = []
        with pytest.raises(xstream.MalformedEventError) as info:
            async for chunk in await open_stream(client):
                got.append(chunk)
    assert text_of(got) == "Hi" and info.value.position == 1


_BAD_EVENTS = {
    "malformed": (b"data: {not json\n\n", xstream.MalformedEventError),
    "error chunk": (
        b'data: {"error": {"message": "overloaded", "code": "overloaded"}}\n\n',
        xstream.APIError,
    ),
    "error event": (b'event: error\ndata: {"error": {"message": "boom"}}\n\n', xstream.APIError),
}


@pytest.mark.parametrize("bad", sorted(_BAD_EVENTS))
@pytest.mark.parametrize("at", [0, 1, 7, 19])
async def test_a_failure_inside_one_read_comes_after_every_chunk_before_it(
    raw_server: RawServe, bad: str, at: int
) -> None:
    # One write, so one read holds all of it: the chunks before the bad event are
    # decoded together, in one step, and must all be handed out before the error.
    chunk = b'data: {"id":"a","model":"m","created":1,"choices":[{"index":0,"delta":{"content":"%d "}}]}\n\n'
    event, error = _BAD_EVENTS[bad]
    body = b"".join(chunk % i for i in range(at)) + event + chunk % 99 + b"data: [DONE]\n\n"
    base_url = await raw_server([body])
    async with xstream.AsyncClient(KEY, base_url=base_url, max_retries=0) as client:
        got: list[Any] = []
        stream = await open_stream(client)
        with pytest.raises(error):
            async for c in stream:
                got.append(c)
    assert text_of(got) == "".join(f"{i} " for i in range(at))
    assert stream.stats.chunks == at


async def test_keepalives_and_nulls_inside_one_read_are_skipped_not_lost(
    raw_server: RawServe,
) -> None:
    chunk = b'data: {"id":"a","model":"m","created":1,"choices":[{"index":0,"delta":{"content":"%d "}}]}\n\n'
    null = b'data: {"id":"a","model":"m","created":null,"choices":[{"index":0,"delta":{"content":"n "},"finish_reason":null}],"usage":null}\n\n'
    body = chunk % 0 + b"data:\n\n" + chunk % 1 + null + chunk % 2 + b"data: [DONE]\n\n" + chunk % 3
    base_url = await raw_server([body])
    async with xstream.AsyncClient(KEY, base_url=base_url) as client:
        stream = await open_stream(client)
        got = [c async for c in stream]
        final = await stream.get_final_completion()
    assert text_of(got) == "0 1 n 2 "
    assert final.choices[0].message.content == "0 1 n 2 "
    assert stream.done


async def test_an_error_status_with_an_event_stream_body_reads_its_message() -> None:
    async def handler(request: web.Request) -> web.Response:
        body = (
            b'data: {"error": {"message": "context too long", "type": "invalid_request_error"}}\n\n'
        )
        return web.Response(status=400, body=body, content_type="text/event-stream")

    async with _serve(handler) as base_url, xstream.AsyncClient(KEY, base_url=base_url) as client:
        with pytest.raises(xstream.BadRequestError, match="context too long") as info:
            await open_stream(client)
    assert info.value.type == "invalid_request_error"


async def test_a_stalled_error_body_does_not_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("xstream._transport.errors._PREFIX_SECONDS", 0.3)

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=500, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"error": {"mess')
        await asyncio.sleep(30)
        return response

    async with (
        _serve(handler) as base_url,
        xstream.AsyncClient(KEY, base_url=base_url, max_retries=0) as client,
    ):
        with pytest.raises(xstream.InternalServerError, match="HTTP 500"):
            await asyncio.wait_for(open_stream(client), 5)


@contextlib.asynccontextmanager
async def _serve(handler: Any) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    finally:
        await runner.cleanup()


async def test_an_unterminated_oversized_line_raises_at_the_limit(server: MockServer) -> None:
    server.enqueue(Reply(oversized_event_bytes=200_000, oversized_unterminated=True))
    got: list[Any] = []
    async with xstream.AsyncClient(KEY, base_url=server.base_url, max_event_bytes=50_000) as client:
        with pytest.raises(xstream.EventTooLargeError):
            async for chunk in await open_stream(client):
                got.append(chunk)
    assert len(got) == 1
    await idle(server)


async def test_bytes_after_done_are_ignored_and_the_stream_ends(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(trailing_after_done=b'data: {"id":"late","choices":[]}\n\n'))
    stream = await open_stream(client)
    chunks = [c async for c in stream]
    assert text_of(chunks) == DEFAULT_TEXT and stream.done
    assert all(c.id != "late" for c in chunks)
    assert stream.response.closed


@pytest.mark.parametrize("ending", [b"data: [DONE]", b"data: [DONE]\n", b"data: [DONE]\r\n"])
async def test_a_final_done_without_its_blank_line_still_completes(
    raw_server: RawServe, ending: bytes
) -> None:
    body = b'data: {"id":"a","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n' + ending
    base_url = await raw_server([body])
    async with xstream.AsyncClient(KEY, base_url=base_url) as client:
        stream = await open_stream(client)
        assert text_of([c async for c in stream]) == "Hi"
    assert stream.done


async def test_a_stream_cut_inside_its_last_event_is_still_incomplete(raw_server: RawServe) -> None:
    body = b'data: {"id":"a","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: [DO'
    base_url = await raw_server([body])
    async with xstream.AsyncClient(KEY, base_url=base_url) as client:
        with pytest.raises(xstream.IncompleteStreamError, match="inside an event"):
            async for _ in await open_stream(client):
                pass


# ------------------------------------------------------------------ leaving the loop early


@pytest.mark.parametrize("k", [1, 7, 2500])
async def test_final_completion_after_break_is_exactly_what_the_loop_saw(
    client: xstream.AsyncClient, server: MockServer, k: int
) -> None:
    # many small chunks: one network read brings hundreds, read ahead of the loop
    server.enqueue(Reply(text="abcdefghij", chunk_size=1, chunks=5000))
    stream = await open_stream(client)
    seen: list[xstream.ChatCompletionChunk] = []
    async for chunk in stream:
        seen.append(chunk)
        if len(seen) == k:
            break
    assert stream.stats.chunks > k  # the batch held more than the loop took
    completion = await stream.get_final_completion()
    assert completion.choices[0].message.content == text_of(seen)
    assert completion.choices[0].finish_reason is None  # the loop never saw the finish
    assert completion.usage == seen[-1].usage  # the usage the loop saw last
    assert stream.left_early
    assert await stream.get_final_completion() == completion  # asked again: the same


async def test_final_completion_after_the_whole_loop_is_whole_and_not_left_early(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(text="abcdefghij", chunk_size=1, chunks=5000))
    stream = await open_stream(client)
    seen = [chunk async for chunk in stream]
    completion = await stream.get_final_completion()
    assert completion.choices[0].message.content == text_of(seen) == "abcdefghij" * 500
    assert completion.choices[0].finish_reason == "stop"
    assert not stream.left_early


async def test_break_inside_the_last_batch_is_left_early_too(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(text="abcdef", chunk_size=1))  # one read: the whole stream, [DONE]
    stream = await open_stream(client)
    async for chunk in stream:
        first = chunk
        break
    assert stream.done  # [DONE] was read ahead of the loop
    completion = await stream.get_final_completion()
    assert completion.choices[0].message.content == text_of([first]) == "a"
    assert stream.left_early


async def test_text_stream_break_and_aclose_with_a_held_iterator(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    server.enqueue(Reply(text="abcdef", chunk_size=1), Reply(text="abcdef", chunk_size=1))
    stream = await open_stream(client)
    texts = []
    async for text in stream.text_stream:
        texts.append(text)
        if len(texts) == 2:
            break
    assert stream.finished  # closed at once, not when the loop finalizes a generator
    assert (await stream.get_final_completion()).choices[0].message.content == "ab"
    assert stream.left_early

    stream = await open_stream(client)
    chunks = aiter(stream)
    await anext(chunks)
    await anext(chunks)
    await stream.aclose()
    assert (await stream.get_final_completion()).choices[0].message.content == "ab"
    assert stream.left_early


async def test_a_turn_right_after_a_stream_whose_body_ends_late_reuses_its_connection(
    raw_server: RawServe,
) -> None:
    """The last event comes before the end of the body (the chunked terminator 3 ms
    later): the stream ends at once, its connection goes back when the body ends, and
    the next request waits for that instead of opening a second connection."""
    peers: set[int] = set()
    body = b'data: {"id": "c", "choices": []}\n\ndata: [DONE]\n\n'
    url = await raw_server([body, 0.003], peers=peers)
    async with xstream.AsyncClient(api_key=KEY, base_url=url) as client:
        for _ in range(5):
            stream = await client.chat.completions.create(
                model="grok-4", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
            assert [c.id async for c in stream] == ["c"]
    assert len(peers) == 1


# CPython's selector transport's recv size; uvloop's transports read into a buffer of their own
selector_only = pytest.mark.skipif(LOOP == "uvloop", reason="uvloop: no recv size to cap")


@selector_only
async def test_a_plain_http_socket_is_read_under_the_mmap_threshold(
    client: xstream.AsyncClient, server: MockServer
) -> None:
    """CPython asks recv for 256 KiB per read, past glibc's mmap threshold: each read
    of a paced stream mapped and unmapped memory (a third of its CPU per chunk)."""
    server.enqueue(Reply(delay=0.01))  # the body still arriving while we look
    stream = await open_stream(client)
    connection = stream.response.connection
    assert connection is not None and connection.transport is not None
    assert connection.transport.max_size == 126 * 1024  # type: ignore[attr-defined]
    assert text_of([c async for c in stream]) == DEFAULT_TEXT


@selector_only
def test_the_sync_client_reads_its_sockets_as_large_as_they_come() -> None:
    """Each read crosses threads there: fewer, larger reads are cheaper than the mmap
    the async cap avoids."""
    with (
        MockServer.running_in_thread() as srv,
        xstream.Client(api_key=KEY, base_url=srv.base_url) as client,
    ):
        srv.enqueue(Reply(delay=0.01))
        stream = client.chat.completions.create(
            model="grok-4", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        connection = stream.response.connection
        assert connection is not None and connection.transport is not None
        assert connection.transport.max_size == 256 * 1024  # type: ignore[attr-defined]
        assert text_of(list(stream)) == DEFAULT_TEXT
