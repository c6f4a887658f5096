"""escalation gaps: unplanned log-outs chased, concerns resolved, alert numbers unique

Revision ID: 0011
Revises: 0004
Create Date: 2026-11-28 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0004"
branch_labels = None
depends_on = None

UNRESOLVED = "state != 'resolved'"


def _renumber_duplicates() -> None:
    # Numbers cycled by id (1000 + (id - 1) % 9000), so two unresolved alerts 9000 apart could
    # share one. The newest keeps it (an ACK by number took the newest); older ones get a free
    # number, so the unique index below can be built.
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT id, number FROM alerts WHERE state != 'resolved' ORDER BY id DESC")).all()
    used = {number for _id, number in rows}
    seen: set[int] = set()
    free = (n for n in range(1000, 100000) if n not in used)
    for alert_id, number in rows:
        if number in seen:
            bind.execute(sa.text("UPDATE alerts SET number = :n WHERE id = :id"),
                         {"n": next(free), "id": alert_id})
        seen.add(number)


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acknowledged_note", sa.Text(), nullable=True))
    # A concern acknowledged before this release is resolved by that acknowledgement.
    op.execute(
        "UPDATE alerts SET state = 'resolved', resolved_at = acknowledged_at, "
        "resolved_reason = 'acknowledged by ' || acknowledged_by "
        "WHERE kind = 'carer_concern' AND state = 'acknowledged'")
    _renumber_duplicates()
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("uq_alerts_number_unresolved", ["number"], unique=True,
                              sqlite_where=sa.text(UNRESOLVED),
                              postgresql_where=sa.text(UNRESOLVED))
    with op.batch_alter_table("actual_visits", schema=None) as batch_op:
        batch_op.create_index("ix_actual_visits_state_started", ["state", "started_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("actual_visits", schema=None) as batch_op:
        batch_op.drop_index("ix_actual_visits_state_started")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("uq_alerts_number_unresolved")
        batch_op.drop_column("acknowledged_note")
