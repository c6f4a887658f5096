"""display_links: read-only wall-screen links to today's board (token kept as its SHA-256)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "display_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_display_links")),
        sa.UniqueConstraint("name", name=op.f("uq_display_links_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_display_links_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("display_links")
