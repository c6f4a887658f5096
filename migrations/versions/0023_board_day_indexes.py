"""board_day_indexes: the board's verdicts for a day, kept by the scheduler, read by every web

Revision ID: 0023_board_day_indexes
Revises: 0022_kpi_reports
Create Date: 2026-11-30 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_board_day_indexes"
down_revision = "0022_kpi_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "board_day_indexes",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("whole_built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("feed_xact_id", sa.BigInteger(), nullable=False),
        sa.Column("feed_id", sa.BigInteger(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_board_day_indexes")),
    )


def downgrade() -> None:
    op.drop_table("board_day_indexes")
