"""outbox: the receiver's health, shared by the relays (back-off follows the council, not a record)

Revision ID: 0016
Revises: 0015_rota
Create Date: 2026-11-29 23:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015_rota"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_receiver_health",
        sa.Column("receiver", sa.String(length=32), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("recovered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("receiver", name=op.f("pk_outbox_receiver_health")),
    )


def downgrade() -> None:
    op.drop_table("outbox_receiver_health")
