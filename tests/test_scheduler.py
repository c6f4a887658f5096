"""The scheduler process's housekeeping job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.models import PinFailure
from ivr_gateway.scheduler import build_scheduler, run_housekeeping

NOW = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)


def test_housekeeping_forgets_wrong_pins_after_a_day_and_keeps_recent_ones(
    database: Database, session: Session
) -> None:
    session.add_all([PinFailure(staff_number="1234", call_sid="CA1", at=NOW - timedelta(days=2)),
                     PinFailure(staff_number="1234", call_sid="CA2", at=NOW - timedelta(hours=1))])
    session.commit()
    assert run_housekeeping(database, FixedClock(NOW)) == 1
    assert run_housekeeping(database, FixedClock(NOW)) == 0  # idempotent
    assert [f.call_sid for f in session.scalars(select(PinFailure))] == ["CA2"]


def test_scheduler_runs_in_the_configured_zone(database: Database) -> None:
    scheduler = build_scheduler(Settings(database_url=database.url), database, FixedClock(NOW))
    assert str(scheduler.timezone) == "Europe/London"
    assert [job.id for job in scheduler.get_jobs()] == [
        "housekeeping", "spool_replay", "escalation", "alert-sender"]
