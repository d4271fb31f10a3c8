"""The asyncpg pool: created and closed by the app's lifespan, sized and timed from settings."""

import asyncio

import asyncpg

from app.settings import Settings


async def create_pool(settings: Settings) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn=settings.asyncpg_dsn,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_connect_timeout,
        command_timeout=settings.db_command_timeout,
        # Recycle idle connections so a restarted or failed-over server is picked up.
        max_inactive_connection_lifetime=300.0,
        server_settings={"application_name": "reference-app"},
    )
    assert pool is not None
    return pool


async def ping(pool: asyncpg.Pool, budget: float) -> None:
    async with asyncio.timeout(budget):
        async with pool.acquire(timeout=budget) as conn:
            await conn.fetchval("SELECT 1", timeout=budget)
