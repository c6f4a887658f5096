"""the outage spool's replay log: each spooled call or text once, with what it became

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 02:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spool_replays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spooled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("from_number", sa.String(length=32), nullable=False),
        sa.Column("log_event_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spool_replays")),
        sa.UniqueConstraint("item_id", name=op.f("uq_spool_replays_item_id")),
    )


def downgrade() -> None:
    op.drop_table("spool_replays")
