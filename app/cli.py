"""Console scripts for hosts that have the installed wheel and its env file, no checkout.

app-migrate [upgrade REV | downgrade REV | current | history]   (default: upgrade head)
app-admin create-user EMAIL [--password-stdin]
app-admin prune-messages [--older-than-days N]
"""

import argparse
import asyncio
import getpass
import logging
import sys
from importlib.resources import files

import asyncpg
from alembic import command
from alembic.config import Config
from pydantic import TypeAdapter, ValidationError

from app import repository
from app.auth import hash_password
from app.models import Email, Password
from app.settings import DatabaseSettings


def alembic_config(database_url: str | None = None) -> Config:
    """The packaged migrations, configured without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(files("app") / "migrations"))
    config.attributes["database_url"] = database_url or DatabaseSettings.load().database_url
    config.attributes["configure_logging"] = False
    return config


def migrate(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="app-migrate", description="Apply the app's database migrations."
    )
    sub = parser.add_subparsers(dest="action")
    sub.add_parser("upgrade").add_argument("revision", nargs="?", default="head")
    sub.add_parser("downgrade").add_argument("revision")
    sub.add_parser("current")
    sub.add_parser("history")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    try:
        config = alembic_config()
    except ValidationError as exc:
        sys.exit(f"app-migrate: invalid settings: {exc}")
    action = args.action or "upgrade"
    if action == "upgrade":
        command.upgrade(config, getattr(args, "revision", "head"))
    elif action == "downgrade":
        command.downgrade(config, args.revision)
    elif action == "current":
        command.current(config)
    else:
        command.history(config)


async def _create_user(dsn: str, email: str, password: str) -> bool:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await repository.upsert_user(conn, email, await hash_password(password))
    finally:
        await conn.close()


async def _prune_messages(dsn: str, days: int) -> int:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        status = await conn.execute(
            "DELETE FROM messages WHERE created_at < now() - make_interval(days => $1)", days
        )
    finally:
        await conn.close()
    return int(status.split()[-1])


def admin(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="app-admin", description="Administer the app's data.")
    sub = parser.add_subparsers(dest="action", required=True)
    prune = sub.add_parser("prune-messages", help="Delete messages older than a number of days.")
    prune.add_argument("--older-than-days", type=int, default=30)
    create = sub.add_parser(
        "create-user", help="Create a user, or set the password of an existing one."
    )
    create.add_argument("email")
    create.add_argument(
        "--password-stdin", action="store_true", help="Read the password from standard input."
    )
    args = parser.parse_args(argv)
    if args.action == "prune-messages":
        try:
            settings = DatabaseSettings.load()
        except ValidationError as exc:
            sys.exit(f"app-admin: {exc}")
        if args.older_than_days < 1:
            sys.exit("app-admin: --older-than-days must be at least 1")
        deleted = asyncio.run(_prune_messages(settings.asyncpg_dsn, args.older_than_days))
        print(f"deleted {deleted} messages older than {args.older_than_days} days")
        return

    raw_password = (
        sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    )
    try:
        email = TypeAdapter(Email).validate_python(args.email.strip())
        password = TypeAdapter(Password).validate_python(raw_password)
        settings = DatabaseSettings.load()
    except ValidationError as exc:
        sys.exit(f"app-admin: {exc}")
    created = asyncio.run(_create_user(settings.asyncpg_dsn, email, password))
    # One word on stdout, so automation can tell a change from a no-op by reading it.
    print("created" if created else "updated")
