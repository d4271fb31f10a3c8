"""The ASGI application: `app.main:app` for gunicorn or uvicorn, built by create_app()."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache

from fastapi import FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware

from app import db, jobs
from app.api import auth, health, messages
from app.api import jobs as jobs_api
from app.cache import MessageListCache, create_redis
from app.errors import install_error_handlers
from app.observability import (
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    metrics_payload,
    setup_logging,
)
from app.settings import Settings
from app.ws import Hub, install_shutdown_hook
from app.ws import router as ws_router

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    pool = await db.create_pool(settings)
    redis = create_redis(settings)
    hub = Hub(redis, f"{settings.redis_prefix}:messages", settings.ws_queue_size)
    app.state.pool = pool
    app.state.redis = redis
    app.state.cache = MessageListCache(redis, settings.redis_prefix, settings.cache_ttl_seconds)
    app.state.hub = hub
    app.state.jobs = jobs.queue(settings)
    await hub.start()
    install_shutdown_hook(hub)
    log.info("started", extra={"release": settings.release_id, "env": settings.environment})
    try:
        yield
    finally:
        # The server has stopped taking requests and waited for in-flight ones by now.
        await hub.stop()
        await redis.aclose()
        app.state.jobs.connection.close()
        await pool.close()
        log.info("stopped")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()
    setup_logging(settings.log_level)
    app = FastAPI(
        title="reference-app",
        version="0.1.0",
        summary="Messages with real-time fan-out; the reference service of the deploy roles.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)

    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(messages.router)
    app.include_router(jobs_api.router)
    app.include_router(ws_router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        # Kept off the public site by the web role; served here for the scraper.
        payload, content_type = metrics_payload()
        return Response(payload, media_type=content_type)

    # Added innermost first: request context wraps everything, so even CORS answers and
    # errors carry the request id and security headers.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Location"],
        max_age=600,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    return app


@cache
def _default_app() -> FastAPI:
    return create_app()


def __getattr__(name: str) -> FastAPI:
    # Built on first access rather than at import, so importing this module needs no settings.
    if name == "app":
        return _default_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
