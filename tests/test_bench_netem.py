"""The benchmarks' simulated network (benchmarks/netem.py): bytes arrive whole and in
order, a round trip costs twice the one-way delay, and a new connection pays its setup
once."""

from __future__ import annotations

import asyncio
import time

from benchmarks.netem import LatencyProxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def test_a_round_trip_costs_two_delays_and_the_setup_is_paid_once() -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxy = await LatencyProxy.start("127.0.0.1", port, one_way=0.02, setup=0.05)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        trips = []
        for _ in range(2):
            started = time.perf_counter()
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            trips.append(time.perf_counter() - started)
        assert 0.09 <= trips[0] < 0.5  # setup + one way each way
        assert 0.04 <= trips[1] < 0.4  # the connection is set up: one round trip
        # many writes in flight at once: one delay for all of them (a pipe, not a queue
        # of delays), every byte in order
        pieces = [bytes([i % 256]) * (i * 37 % 5000 + 1) for i in range(200)]
        started = time.perf_counter()
        for piece in pieces:
            writer.write(piece)
        expected = b"".join(pieces)
        assert await reader.readexactly(len(expected)) == expected
        assert time.perf_counter() - started < 0.4
        writer.close()
        assert proxy.connections == 1 and proxy.late.count > 0
    finally:
        await proxy.close()
        server.close()
        await server.wait_closed()
