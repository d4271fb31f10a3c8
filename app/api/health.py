"""Liveness, readiness and version: what load balancers, deploys and people probe."""

import asyncio
import socket
from collections.abc import Awaitable

from fastapi import APIRouter, Response, status

from app import cache, db
from app.deps import PoolDep, RedisDep, SettingsDep
from app.models import LivenessResponse, ReadinessResponse, VersionResponse
from app.ws import HubDep

router = APIRouter(tags=["health"])


@router.get("/health", response_model=LivenessResponse)
async def liveness() -> LivenessResponse:
    """The process serves requests. Touches nothing else, so a dependency outage never
    gets a healthy process restarted."""
    return LivenessResponse(status="ok")


async def _check(probe: Awaitable[None]) -> str:
    try:
        await probe
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


@router.get(
    "/health/ready",
    response_model=ReadinessResponse,
    responses={503: {"model": ReadinessResponse, "description": "A dependency failed."}},
)
async def readiness(
    response: Response, settings: SettingsDep, pool: PoolDep, redis: RedisDep, hub: HubDep
) -> ReadinessResponse:
    """PostgreSQL and Redis, each within APP_READY_TIMEOUT seconds, checked concurrently;
    `pubsub` is this process's subscription that feeds the WebSocket clients."""
    timeout = settings.ready_timeout
    postgres, redis_state = await asyncio.gather(
        _check(db.ping(pool, timeout)),
        _check(cache.ping(redis, timeout)),
    )
    checks = {
        "postgres": postgres,
        "redis": redis_state,
        "pubsub": "ok" if hub.subscribed.is_set() else "not subscribed",
    }
    if all(state == "ok" for state in checks.values()):
        return ReadinessResponse(status="ok", checks=checks)
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadinessResponse(status="unavailable", checks=checks)


@router.get("/version", response_model=VersionResponse)
async def version(settings: SettingsDep) -> VersionResponse:
    return VersionResponse(release=settings.release_id, host=socket.gethostname())
