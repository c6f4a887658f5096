"""actual visits: when each carer should be done, so the log-out chase follows the real log-in

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 23:20:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _aware(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite keeps these as ISO text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def upgrade() -> None:
    with op.batch_alter_table("actual_visits") as batch:
        batch.add_column(sa.Column("expected_end_at", sa.DateTime(timezone=True)))
        batch.create_index("ix_actual_visits_state_expected_end",
                           ["state", "expected_end_at"])
    # Open visits on the rota get their expected end (visits/deadlines.py expected_end) now, so
    # an upgrade during the day leaves no carer unchased.
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT a.id, a.started_at, p.planned_start, p.planned_end FROM actual_visits a "
        "JOIN planned_visits p ON p.id = a.planned_visit_id WHERE a.state = 'open'")).all()
    sqlite = connection.dialect.name == "sqlite"
    update = sa.text("UPDATE actual_visits SET expected_end_at = :at WHERE id = :id"
                     ).bindparams(sa.bindparam("at", type_=sa.DateTime(timezone=True)))
    for visit_id, started, start, end in rows:
        started, start, end = _aware(started), _aware(start), _aware(end)
        assert start is not None and end is not None
        expected = end if started is None else max(end, started + (end - start))
        # SQLite keeps naive UTC (ivr_gateway.db.UTCDateTime); PostgreSQL an aware instant.
        connection.execute(update, {"at": expected.replace(tzinfo=None) if sqlite else expected,
                                    "id": visit_id})


def downgrade() -> None:
    with op.batch_alter_table("actual_visits") as batch:
        batch.drop_index("ix_actual_visits_state_expected_end")
        batch.drop_column("expected_end_at")
