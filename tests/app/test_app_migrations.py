"""Migrations and the admin command, as an operator runs them."""

import subprocess

import asyncpg
from app_support import BIN, Database, alembic, create_user, run_async


def test_database_is_at_head(database: Database) -> None:
    result = alembic(database, "current")
    assert result.returncode == 0, result.stderr
    assert "0002 (head)" in result.stdout


def test_app_migrate_is_idempotent(app_env: dict[str, str], database: Database) -> None:
    for args in ([], ["upgrade", "head"], ["current"]):
        result = subprocess.run(
            [str(BIN / "app-migrate"), *args],
            env=app_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    assert "0002 (head)" in result.stdout


def test_schema_is_owned_by_the_unprivileged_app_role(database: Database) -> None:
    async def inspect() -> tuple[bool, set[str]]:
        conn = await asyncpg.connect(database.dsn)
        try:
            superuser = await conn.fetchval(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            )
            owners = await conn.fetch(
                "SELECT tableowner FROM pg_tables WHERE schemaname = 'public'"
            )
            return superuser, {row["tableowner"] for row in owners}
        finally:
            await conn.close()

    superuser, owners = run_async(inspect())
    assert superuser is False
    assert owners == {database.name}


def test_app_admin_create_user(app_env: dict[str, str]) -> None:
    assert create_user(app_env, "Carol@Example.com", "first-password") == "created"
    assert create_user(app_env, "carol@example.com", "second-password") == "updated"
    bad = subprocess.run(
        [str(BIN / "app-admin"), "create-user", "not-an-email", "--password-stdin"],
        input="pw\n",
        env=app_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode != 0
    assert "not-an-email" in bad.stderr or "pattern" in bad.stderr


def test_migrations_refuse_placeholder_database_password(app_env: dict[str, str]) -> None:
    env = {**app_env, "APP_DATABASE_URL": "postgresql://app:changeme@127.0.0.1:1/app"}
    result = subprocess.run(
        [str(BIN / "app-migrate")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "APP_DATABASE_URL" in result.stderr
