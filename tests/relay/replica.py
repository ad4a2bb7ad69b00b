"""One replica of a service that relays answers through Redis (for the replica tests):
``python -m tests.relay.replica REDIS_URL UPSTREAM_URL [IDLE]``; prints its port."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

import xstream


async def main(redis_url: str, upstream: str, idle: float) -> None:
    client = xstream.AsyncClient(api_key="sk-replica-test", base_url=upstream)
    relay = xstream.ResumableRelay(xstream.RedisStore(redis_url), idle=idle, poll=0.2)

    async def start(request: web.Request) -> web.Response:
        stream = await client.chat.completions.create(
            model="grok-4", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        return web.json_response({"id": await relay.start(stream)})

    async def answer(request: web.Request) -> web.StreamResponse:
        return await relay.to_aiohttp_response(request, request.match_info["sid"])

    async def stop(request: web.Request) -> web.Response:
        await relay.stop(request.match_info["sid"])
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/answers", start)
    app.router.add_get("/answers/{sid}", answer)
    app.router.add_post("/answers/{sid}/stop", stop)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 15.0))
