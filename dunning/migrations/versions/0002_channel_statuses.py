"""channel statuses on actions

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 23:55:00

What the telephone company last said about a call or text, when it said it,
what the borrower answered on the keypad, and how many segments a text took.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.add_column(
            sa.Column(
                "channel_status",
                sa.String(length=24),
                nullable=False,
                server_default="",
            )
        )
        batch.add_column(
            sa.Column("status_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column(
                "response", sa.String(length=24), nullable=False, server_default=""
            )
        )
        batch.add_column(sa.Column("segments", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.drop_column("segments")
        batch.drop_column("response")
        batch.drop_column("status_at")
        batch.drop_column("channel_status")
