"""users and messages

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Tables go in the public schema, which on PostgreSQL 15 only the database owner may create
in: the app's role owns its database, so no grant on public is needed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("email", name="users_email_key"),
        sa.CheckConstraint("email = lower(email)", name="users_email_lower"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column(
            "author_id",
            sa.BigInteger,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("char_length(body) BETWEEN 1 AND 2000", name="messages_body_length"),
    )
    op.create_index("messages_author_id_idx", "messages", ["author_id"])


def downgrade() -> None:
    op.drop_index("messages_author_id_idx", table_name="messages")
    op.drop_table("messages")
    op.drop_table("users")
