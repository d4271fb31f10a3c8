"""Background jobs on an RQ queue in the app's Redis, run by `app-worker` (a process of the
release, app_processes) outside the web process.

RQ because it is Redis-only like the rest of the app, needs no broker of its own and works with
the app's redis client; its workers finish the job in hand on SIGTERM (a warm shutdown), so a
deploy that restarts them loses no job. A job here records its run in job_runs: counting runs per
job id is how the fleet proves each job ran exactly once.
"""

import asyncio
import os
import socket
import time

import asyncpg
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import Queue

from app.settings import DatabaseSettings, Settings

QUEUE = "jobs"


def queue(settings: Settings, *, patient: bool = False) -> Queue:
    """The queue the API enqueues on and the workers take from, under the app's Redis prefix.

    The API's client tries once more and gives up (a request is waiting, and gets a 503); a
    worker's is `patient`, with redis-py's default retries, and rides out a restart of Redis.
    """
    retry = {} if patient else {"retry": Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1)}
    connection = Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
        **retry,
    )
    return Queue(f"{settings.redis_prefix}:{QUEUE}", connection=connection)


async def _record(dsn: str, job_id: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(
            """
            INSERT INTO job_runs (job_id, release, host) VALUES ($1, $2, $3)
            ON CONFLICT (job_id) DO UPDATE
            SET runs = job_runs.runs + 1, release = EXCLUDED.release, host = EXCLUDED.host,
                finished_at = now()
            """,
            job_id,
            os.environ.get("APP_RELEASE_ID", "unknown"),
            socket.gethostname(),
        )
    finally:
        await conn.close()


def record_run(job_id: str, seconds: float) -> None:
    """A job that works for `seconds`, then records that it ran (a second run adds to runs)."""
    time.sleep(seconds)
    asyncio.run(_record(DatabaseSettings.load().asyncpg_dsn, job_id))
