"""Error responses that need more than the framework's defaults."""

import logging

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.routing import Match

log = logging.getLogger(__name__)

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        # The router names only the first route that matched the path; Allow must list the
        # methods of every route on it (GET and POST on one path are separate routes).
        allowed = {
            method
            for method in _METHODS
            if any(
                route.matches({**request.scope, "method": method})[0] == Match.FULL
                for route in request.app.router.routes
            )
        }
        if allowed:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
    return await http_exception_handler(request, exc)


# A database that is down, restarting or out of connections: the request may succeed on
# retry, so 503 rather than a generic 500.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.InterfaceError,
    ConnectionError,
    TimeoutError,
)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable", extra={"error": type(exc).__name__})
    return JSONResponse(
        {"detail": "database unavailable"}, status_code=503, headers={"Retry-After": "5"}
    )


async def _redis_unavailable(request: Request, exc: Exception) -> Response:
    # Only a route that cannot do without Redis lets its error through (enqueueing a job); the
    # cache and the WebSocket fan-out step aside instead.
    log.warning("redis unavailable", extra={"error": type(exc).__name__})
    return JSONResponse(
        {"detail": "redis unavailable"}, status_code=503, headers={"Retry-After": "5"}
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    for exc_class in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_class, _database_unavailable)
    app.add_exception_handler(RedisError, _redis_unavailable)
