"""Readiness follows PostgreSQL and Redis going away and coming back, and answers fast."""

import time
from collections.abc import Iterator

import httpx
import pytest
from app_support import AppServer, services_ctl, wait_ready

# The app's probe timeout is 1 s; the answer must come well within what a probe waits.
PROBE_BUDGET = 2.0


@pytest.fixture
def restore_services(server: AppServer, server_b: AppServer) -> Iterator[None]:
    yield
    # Whatever happened in the test, leave both services running and the apps ready.
    services_ctl("up", "postgres")
    services_ctl("up", "redis")
    wait_ready(server.url)
    wait_ready(server_b.url)


def _ready(client: httpx.Client) -> tuple[int, dict[str, str], float]:
    started = time.monotonic()
    response = client.get("/health/ready")
    return response.status_code, response.json()["checks"], time.monotonic() - started


def test_postgres_down_then_back(client: httpx.Client, restore_services: None) -> None:
    services_ctl("down", "postgres")
    status, checks, elapsed = _ready(client)
    assert status == 503
    assert checks["postgres"] != "ok"
    assert checks["redis"] == "ok"
    assert elapsed < PROBE_BUDGET
    # Liveness does no I/O and stays green.
    assert client.get("/health").status_code == 200
    # Requests that need the database fail fast with a retryable status.
    unavailable = client.get("/api/messages/1")
    assert unavailable.status_code == 503
    assert unavailable.headers["Retry-After"] == "5"

    services_ctl("up", "postgres")
    wait_ready(client.base_url.__str__(), timeout=20)
    assert client.get("/api/messages").status_code == 200


def test_redis_down_then_back(
    client: httpx.Client, alice_token: str, restore_services: None
) -> None:
    services_ctl("down", "redis")
    status, checks, elapsed = _ready(client)
    assert status == 503
    assert checks["redis"] != "ok"
    assert checks["postgres"] == "ok"
    assert elapsed < PROBE_BUDGET
    # The cache steps aside: lists and writes keep working from PostgreSQL.
    listed = client.get("/api/messages")
    assert listed.status_code == 200
    created = client.post(
        "/api/messages",
        json={"body": "written while Redis was down"},
        headers={"Authorization": f"Bearer {alice_token}"},
    )
    assert created.status_code == 201
    # A job cannot be queued without Redis: a retryable status, not a server error.
    queued = client.post(
        "/api/jobs",
        json={"id": "while-redis-is-down"},
        headers={"Authorization": f"Bearer {alice_token}"},
    )
    assert queued.status_code == 503, queued.text
    assert queued.headers["Retry-After"] == "5"

    services_ctl("up", "redis")
    wait_ready(client.base_url.__str__(), timeout=20)
    _, checks, _ = _ready(client)
    assert checks == {"postgres": "ok", "redis": "ok", "pubsub": "ok"}
