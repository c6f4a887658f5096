"""indexes the KPI report and the board's merged-visit check read by: events by time, a client's
visits by start (they grew with the history kept, not with the range asked for)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 00:15:00
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_log_events_event_time", "log_events", ["event_time"])
    op.create_index("ix_actual_visits_adult_started", "actual_visits", ["adult_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_actual_visits_adult_started", table_name="actual_visits")
    op.drop_index("ix_log_events_event_time", table_name="log_events")
