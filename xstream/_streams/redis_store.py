"""A :class:`~xstream._streams.resumable.StreamStore` on Redis: answers shared by
replicas (``pip install 'xstream-llm[redis]'``: the asyncio client of redis-py).

One Redis Stream per answer (``<prefix><id>``), its entries numbered ``0-1``, ``0-2``...
by the one producer (so an event's id is its number, on every replica), trimmed to
``max_events``; a hash beside it (``<prefix><id>:meta``) holds the producer's heartbeat,
the stop flag and when a reader was last there. Both expire ``ttl`` seconds after the
last write. Readers block on ``XREAD``.
"""

from __future__ import annotations

import time
from typing import Any

from .resumable import DEFAULT_MAX_EVENTS, DEFAULT_TTL, END, StoreError, StreamMeta

__all__ = ["RedisStore"]

_BLOCK = b"b"  # the field holding an event's SSE block

# KEYS: the stream, its meta hash. ARGV: now, ttl. A new answer, unless one exists.
_CREATE = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'beat', ARGV[1], 'ended', 0, 'stopped', 0, 'reader', 0, 'n', 0)
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""

# KEYS: the stream, its meta hash. ARGV: the number the first block must get, maxlen,
# ttl, now, 1 when the last block ends the answer, the blocks. Returns the last number,
# or -1 when the answer is gone or out of step (Redis restarted: never start it over).
_APPEND = """
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local n = tonumber(redis.call('HGET', KEYS[2], 'n'))
if n + 1 ~= tonumber(ARGV[1]) then return -1 end
for i = 6, #ARGV do
  n = n + 1
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '0-' .. n, 'b', ARGV[i])
end
redis.call('HSET', KEYS[2], 'n', n, 'beat', ARGV[4])
if ARGV[5] == '1' then redis.call('HSET', KEYS[2], 'ended', 1) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return n
"""


class RedisStore:
    """Answers kept in Redis, readable from every replica.

    ``redis``: a ``redis.asyncio.Redis`` client, or a URL (``redis://host:port/0``);
    ``prefix``: the keys' prefix; ``max_events`` and ``ttl`` as for
    :class:`~xstream.MemoryStore`. Redis failures raise :class:`StoreError` (the relay
    turns them into a ``store_unavailable`` event)."""

    def __init__(
        self,
        redis: Any,
        *,
        prefix: str = "xstream:answer:",
        max_events: int = DEFAULT_MAX_EVENTS,
        ttl: float = DEFAULT_TTL,
    ) -> None:
        if isinstance(redis, str):
            try:
                from redis.asyncio import Redis
            except ImportError as exc:  # pragma: no cover - the extra is missing
                raise ImportError(
                    "RedisStore needs redis-py: pip install 'xstream-llm[redis]'"
                ) from exc
            redis = Redis.from_url(redis)
        self.redis = redis
        self.prefix = prefix
        self.max_events = max_events
        self.ttl = ttl
        self._appended: dict[str, int] = {}  # the answers this replica produces: events so far

    def __repr__(self) -> str:
        return f"<xstream.RedisStore prefix={self.prefix!r} max_events={self.max_events}>"

    def _keys(self, stream_id: str) -> tuple[str, str]:
        key = self.prefix + stream_id
        return key, key + ":meta"

    async def _run(self, call: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await call
        except (RedisError, OSError) as exc:
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc

    async def create(self, stream_id: str) -> None:
        """Start an answer, or take one up that exists with no event yet (a server that
        made it for its readers before a worker produces it): a stop asked meanwhile holds."""
        key, meta = self._keys(stream_id)
        ttl = max(int(self.ttl), 1)
        await self._run(self.redis.eval(_CREATE, 2, key, meta, time.time(), ttl))
        self._appended[stream_id] = 0

    async def append(self, stream_id: str, block: bytes) -> int:
        return await self.append_many(stream_id, [block])

    async def append_many(self, stream_id: str, blocks: list[bytes]) -> int:
        """Append ``blocks`` in one round trip (a script: numbered, trimmed, the
        heartbeat and the expiry renewed). Refuses an answer whose keys vanished (Redis
        restarted or evicted them) rather than start it over with missing events."""
        key, meta = self._keys(stream_id)
        expected = self._appended.get(stream_id, 0) + 1
        ended = 1 if blocks and blocks[-1] == END else 0
        ttl = max(int(self.ttl), 1)
        args = [expected, self.max_events, ttl, time.time(), ended, *blocks]
        number: int = await self._run(self.redis.eval(_APPEND, 2, key, meta, *args))
        if number < 0:
            raise StoreError(
                f"answer {stream_id!r} lost its events in Redis (restarted or evicted): "
                "not appending to a broken answer"
            )
        if ended:
            self._appended.pop(stream_id, None)
        else:
            self._appended[stream_id] = number
        return number

    async def read(self, stream_id: str, after: int, timeout: float) -> list[tuple[int, bytes]]:
        key, _ = self._keys(stream_id)
        block_ms = max(int(timeout * 1000), 1)
        result = await self._run(self.redis.xread({key: f"0-{after}"}, block=block_ms))
        out: list[tuple[int, bytes]] = []
        for _name, entries in result or ():
            for entry_id, fields in entries:
                number = int(
                    str(entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")[
                        1
                    ]
                )
                out.append((number, bytes(fields[_BLOCK])))
        return out

    async def meta(self, stream_id: str) -> StreamMeta | None:
        key, meta = self._keys(stream_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(meta)
        pipe.xrange(key, "-", "+", count=1)
        values, first = await self._run(pipe.execute())
        if not values:
            return None
        fields = {k.decode() if isinstance(k, bytes) else k: v for k, v in values.items()}
        first_number = 1
        if first:
            entry_id = first[0][0]
            first_number = int(
                str(entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")[1]
            )
        return StreamMeta(
            beat=float(fields.get("beat", 0)),
            ended=int(fields.get("ended", 0)) == 1,
            stopped=int(fields.get("stopped", 0)) == 1,
            reader_seen=float(fields.get("reader", 0)),
            first=first_number,
        )

    async def beat(self, stream_id: str) -> None:
        _, meta = self._keys(stream_id)
        await self._run(self.redis.hset(meta, "beat", time.time()))

    async def seen(self, stream_id: str) -> None:
        key, meta = self._keys(stream_id)
        ttl = max(int(self.ttl), 1)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(meta, "reader", time.time())
        pipe.expire(meta, ttl)
        pipe.expire(key, ttl)
        await self._run(pipe.execute())

    async def stop(self, stream_id: str) -> None:
        _, meta = self._keys(stream_id)
        await self._run(self.redis.hset(meta, "stopped", 1))

    async def aclose(self) -> None:
        await self.redis.aclose()
