"""Fixtures for the app's tests: real PostgreSQL and Redis from scripts/app-services.sh, a
fresh database per run migrated up at the start and down at the end, and app servers
running as real processes."""

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from app_support import (
    REPO,
    SERVICES_SCRIPT,
    AppServer,
    Database,
    Services,
    StartServer,
    UserCreds,
    alembic,
    create_user,
    issue_token,
    run_async,
)

RUN_ID = uuid.uuid4().hex[:10]


def _services_env() -> dict[str, str]:
    state = Path(os.environ.get("APP_SERVICES_DIR", REPO / ".cache" / "app-services"))
    values: dict[str, str] = {}
    env_file = state / "env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip()
    for key in ("TEST_DATABASE_URL", "TEST_REDIS_URL"):
        if os.environ.get(key):
            values[key] = os.environ[key]
    return values


@pytest.fixture(scope="session")
def services() -> Services:
    values = _services_env()
    if "TEST_DATABASE_URL" not in values or "TEST_REDIS_URL" not in values:
        pytest.exit(f"no test services; run: {SERVICES_SCRIPT} up", returncode=2)
    return Services(values["TEST_DATABASE_URL"], values["TEST_REDIS_URL"])


async def _admin(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database(services: Services) -> Iterator[Database]:
    """A database and an owning, non-superuser role made for this run only.

    Owning the database is what lets the role create tables in PostgreSQL 15's public
    schema, as on a deployed host.
    """
    name = f"app_test_{RUN_ID}"
    password = secrets.token_hex(16)
    admin = urlsplit(services.admin_dsn)
    run_async(
        _admin(
            services.admin_dsn,
            f"CREATE ROLE {name} LOGIN PASSWORD '{password}'",
            f"CREATE DATABASE {name} OWNER {name}",
        )
    )
    db = Database(f"postgresql://{name}:{password}@{admin.hostname}:{admin.port}/{name}", name)
    try:
        up = alembic(db, "upgrade", "head")
        assert up.returncode == 0, up.stderr
        yield db
        down = alembic(db, "downgrade", "base")
        assert down.returncode == 0, down.stderr
        left = run_async(_tables(db.dsn))
        assert left == ["alembic_version"], f"downgrade left tables: {left}"
    finally:
        run_async(
            _admin(
                services.admin_dsn,
                f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
                f"DROP ROLE IF EXISTS {name}",
            )
        )


async def _tables(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        return [row["tablename"] for row in rows]
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def secret_key() -> str:
    return secrets.token_urlsafe(48)


@pytest.fixture(scope="session")
def app_env(services: Services, database: Database, secret_key: str) -> dict[str, str]:
    """The environment of every app process in this run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env.update(
        APP_DATABASE_URL=database.dsn,
        APP_REDIS_URL=services.redis_url,
        APP_SECRET_KEY=secret_key,
        APP_ENVIRONMENT="test",
        APP_RELEASE_ID=f"test-{RUN_ID}",
        APP_REDIS_PREFIX=f"test-{RUN_ID}",
        APP_CORS_ORIGINS="https://allowed.example",
        APP_LOG_LEVEL="info",
        APP_READY_TIMEOUT="1.0",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


@pytest.fixture(scope="session")
def alice(app_env: dict[str, str]) -> UserCreds:
    creds = UserCreds(f"alice-{RUN_ID}@example.com", secrets.token_urlsafe(12))
    assert create_user(app_env, creds.email, creds.password) == "created"
    return creds


@pytest.fixture(scope="session")
def bob(app_env: dict[str, str]) -> UserCreds:
    creds = UserCreds(f"bob-{RUN_ID}@example.com", secrets.token_urlsafe(12))
    assert create_user(app_env, creds.email, creds.password) == "created"
    return creds


@pytest.fixture(scope="session")
def start_server(
    app_env: dict[str, str],
    alice: UserCreds,
    bob: UserCreds,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StartServer]:
    started: list[AppServer] = []
    logs = tmp_path_factory.mktemp("server-logs")

    def start(**extra_env: str) -> AppServer:
        server = AppServer({**app_env, **extra_env}, logs / f"server-{len(started)}.log")
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def server(start_server: StartServer) -> AppServer:
    return start_server()


@pytest.fixture(scope="session")
def server_b(start_server: StartServer) -> AppServer:
    return start_server()


@pytest.fixture
def client(server: AppServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


@pytest.fixture(scope="session")
def alice_token(server: AppServer, alice: UserCreds) -> str:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        return issue_token(http, alice)


@pytest.fixture(scope="session")
def bob_token(server: AppServer, bob: UserCreds) -> str:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        return issue_token(http, bob)


@pytest.fixture
def server_b_client(server_b: AppServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_b.url, timeout=10) as http:
        yield http


@pytest.fixture
def server_url(server: AppServer) -> str:
    return server.url
