"""Redis: the client, and the read cache of the message list."""

import asyncio
import logging

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from app.observability import CACHE_LOOKUPS
from app.settings import Settings

log = logging.getLogger(__name__)

# What a failing Redis raises: the cache then steps aside instead of failing the request.
REDIS_FAILURES = (RedisError, OSError, asyncio.TimeoutError)


def create_redis(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
        health_check_interval=30,
        # One quick retry replaces a pooled connection that died with a restarted server,
        # without the default backoff that could stall a request for seconds.
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
    )


async def ping(redis: Redis, budget: float) -> None:
    async with asyncio.timeout(budget):
        await redis.ping()


class MessageListCache:
    """Pages of the list endpoint, keyed by a generation number that every write bumps.

    Bumping one counter invalidates every cached page at once; a reader that raced a writer
    can only store its page under the old generation, which nobody reads any more.
    """

    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._generation_key = f"{prefix}:messages:generation"
        self._page_prefix = f"{prefix}:messages:page"
        self._ttl = ttl_seconds

    async def generation(self) -> str | None:
        try:
            value = await self._redis.get(self._generation_key)
        except REDIS_FAILURES as exc:
            log.warning("list cache unavailable", extra={"error": type(exc).__name__})
            return None
        return value.decode() if value is not None else "0"

    def _page_key(self, generation: str, limit: int, offset: int) -> str:
        return f"{self._page_prefix}:{generation}:{limit}:{offset}"

    async def get(self, generation: str | None, limit: int, offset: int) -> bytes | None:
        if generation is None:
            return None
        try:
            value: bytes | None = await self._redis.get(self._page_key(generation, limit, offset))
        except REDIS_FAILURES as exc:
            log.warning("list cache read failed", extra={"error": type(exc).__name__})
            return None
        CACHE_LOOKUPS.labels("hit" if value is not None else "miss").inc()
        return value

    async def put(self, generation: str | None, limit: int, offset: int, page: bytes) -> None:
        if generation is None:
            return
        try:
            await self._redis.set(self._page_key(generation, limit, offset), page, ex=self._ttl)
        except REDIS_FAILURES as exc:
            log.warning("list cache write failed", extra={"error": type(exc).__name__})

    async def invalidate(self) -> None:
        try:
            await self._redis.incr(self._generation_key)
        except REDIS_FAILURES as exc:
            # Pages expire after the TTL anyway; the write itself has succeeded.
            log.warning("list cache invalidation failed", extra={"error": type(exc).__name__})
