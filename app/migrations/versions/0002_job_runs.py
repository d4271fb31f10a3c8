"""job runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05

One row per background job that has run (app.jobs), with how many times it ran.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("job_id", sa.Text, primary_key=True),
        sa.Column("runs", sa.Integer, nullable=False, server_default="1"),
        sa.Column("release", sa.Text, nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column(
            "finished_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
