"""the change feed (visit_changes) and outbound webhook subscriptions

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visit_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("xact_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("planned_visit_ref", sa.String(length=100), nullable=True),
        sa.Column("planned_visit_id", sa.Integer(), nullable=True),
        sa.Column("actual_visit_id", sa.Integer(), nullable=True),
        sa.Column("log_event_id", sa.Integer(), nullable=True),
        sa.Column("care_worker_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_changes")),
    )
    op.create_index("ix_visit_changes_position", "visit_changes", ["xact_id", "id"])
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=400), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("after_xact_id", sa.BigInteger(), nullable=False),
        sa.Column("after_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )


def downgrade() -> None:
    op.drop_table("webhook_subscriptions")
    op.drop_index("ix_visit_changes_position", table_name="visit_changes")
    op.drop_table("visit_changes")
