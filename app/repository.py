"""SQL for users and messages. Every query is parameterised; rows map onto the API models."""

import asyncpg

from app.models import Message, User

_MESSAGE_COLUMNS = "id, body, author_id, created_at"


async def get_user(conn: asyncpg.Pool | asyncpg.Connection, user_id: int) -> User | None:
    row = await conn.fetchrow("SELECT id, email, created_at FROM users WHERE id = $1", user_id)
    return User(**dict(row)) if row else None


async def get_user_hash(
    conn: asyncpg.Pool | asyncpg.Connection, email: str
) -> tuple[int, str] | None:
    row = await conn.fetchrow("SELECT id, password_hash FROM users WHERE email = $1", email)
    return (row["id"], row["password_hash"]) if row else None


async def upsert_user(conn: asyncpg.Connection, email: str, password_hash: str) -> bool:
    """Creates the user or replaces its password; True when the user is new."""
    created: bool = await conn.fetchval(
        """
        INSERT INTO users (email, password_hash) VALUES ($1, $2)
        ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash
        RETURNING xmax = 0
        """,
        email,
        password_hash,
    )
    return created


async def create_message(pool: asyncpg.Pool, body: str, author_id: int) -> Message:
    row = await pool.fetchrow(
        f"INSERT INTO messages (body, author_id) VALUES ($1, $2) RETURNING {_MESSAGE_COLUMNS}",  # noqa: S608
        body,
        author_id,
    )
    return Message(**dict(row))


async def list_messages(pool: asyncpg.Pool, limit: int, offset: int) -> tuple[list[Message], int]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        # One snapshot, so the total matches the page.
        rows = await conn.fetch(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages ORDER BY id DESC LIMIT $1 OFFSET $2",  # noqa: S608
            limit,
            offset,
        )
        total: int = await conn.fetchval("SELECT count(*) FROM messages")
    return [Message(**dict(row)) for row in rows], total


async def get_message(pool: asyncpg.Pool, message_id: int) -> Message | None:
    row = await pool.fetchrow(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = $1",  # noqa: S608
        message_id,
    )
    return Message(**dict(row)) if row else None


async def delete_message(pool: asyncpg.Pool, message_id: int) -> bool:
    status: str = await pool.execute("DELETE FROM messages WHERE id = $1", message_id)
    return status == "DELETE 1"
