"""adult landline periods: when each landline was registered to a client, so a call is judged
against the numbers of its own day after a landline changes

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "adult_landline_periods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("adult_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["adult_id"], ["adults.id"],
            name=op.f("fk_adult_landline_periods_adult_id_adults"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adult_landline_periods")),
    )
    op.create_index("ix_adult_landline_periods_adult_id_valid_from", "adult_landline_periods",
                    ["adult_id", "valid_from"])
    # The numbers registered now have been since their client was created (the best we know).
    op.execute(
        "INSERT INTO adult_landline_periods (adult_id, number, valid_from) "
        "SELECT l.adult_id, l.number, a.created_at FROM adult_landlines l "
        "JOIN adults a ON a.id = l.adult_id")


def downgrade() -> None:
    op.drop_index("ix_adult_landline_periods_adult_id_valid_from",
                  table_name="adult_landline_periods")
    op.drop_table("adult_landline_periods")
