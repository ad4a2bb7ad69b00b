"""The chat page's answer worker (``xstream serve --store redis://...``): a process of
its own that takes the page's questions from a Redis list and streams each answer into
the store, so an answer goes on while the page's server is restarted, and the page
resumes it from there (``ResumableRelay``: every replica that shares the store reads it).

``python -m xstream._cli.worker STORE_URL MODEL [BASE_URL]`` (the key from
``XAI_API_KEY``). It stops when its parent is gone and no answer is being produced.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from .._client import AsyncClient
from .._exceptions import XStreamError
from .._streams.redis_store import RedisStore
from .._streams.relay import error_block
from .._streams.resumable import END, ResumableRelay

__all__ = ["JOBS", "main"]

JOBS = "xstream:page:jobs"  # the Redis list of questions: {"id": ..., "messages": [...]}


async def work(store_url: str, model: str, base_url: str | None) -> None:
    parent = os.getppid()
    key = os.environ.get("XAI_API_KEY") or "xstream-placeholder-key"
    store = RedisStore(store_url)
    relay = ResumableRelay(store, keep_alive=60.0)
    async with AsyncClient(key, base_url=base_url) as client:
        while True:
            if os.getppid() != parent and not relay._producers:
                break  # the server is gone, and every answer it asked for is done
            job = await store.redis.brpop([JOBS], timeout=1)
            if job is None:
                continue
            question = json.loads(job[1])
            try:
                stream = await client.chat.completions.create(
                    model=model, messages=question["messages"], stream=True
                )
            except XStreamError as exc:  # refused upstream: the answer ends with the error
                await store.create(question["id"])
                await store.append_many(question["id"], [error_block(exc), END])
                print(f"xstream worker: upstream error: {exc}", file=sys.stderr, flush=True)
                continue
            await relay.start(stream, stream_id=question["id"])
        await relay.aclose()
    await store.aclose()


def main() -> None:
    store_url, model = sys.argv[1], sys.argv[2]
    base_url = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    asyncio.run(work(store_url, model, base_url))


if __name__ == "__main__":
    main()
