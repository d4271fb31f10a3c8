"""Shared request dependencies, read from the objects the lifespan put on app.state."""

from typing import Annotated

import asyncpg
from fastapi import Depends
from redis.asyncio import Redis
from rq import Queue
from starlette.requests import HTTPConnection

from app.cache import MessageListCache
from app.settings import Settings


def _settings(connection: HTTPConnection) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings


def _pool(connection: HTTPConnection) -> asyncpg.Pool:
    pool: asyncpg.Pool = connection.app.state.pool
    return pool


def _redis(connection: HTTPConnection) -> Redis:
    redis: Redis = connection.app.state.redis
    return redis


def _jobs(connection: HTTPConnection) -> Queue:
    jobs: Queue = connection.app.state.jobs
    return jobs


def _cache(connection: HTTPConnection) -> MessageListCache:
    cache: MessageListCache = connection.app.state.cache
    return cache


SettingsDep = Annotated[Settings, Depends(_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(_pool)]
RedisDep = Annotated[Redis, Depends(_redis)]
CacheDep = Annotated[MessageListCache, Depends(_cache)]
JobsDep = Annotated[Queue, Depends(_jobs)]
