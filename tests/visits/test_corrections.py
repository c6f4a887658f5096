"""Office corrections are log-event writers like any other: they take the carer's row lock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from ivr_gateway.db import Database
from ivr_gateway.models import LogEvent
from ivr_gateway.visits.corrections import correct_visit_times
from tests.conftest import DEFAULT_NOW
from tests.factories import make_adult, make_care_worker, make_planned_visit


@pytest.mark.postgres_only
def test_a_correction_waits_for_the_carers_row_lock(database: Database) -> None:
    with database.sessionmaker() as setup:
        adult = make_adult(setup)
        carer = make_care_worker(setup, staff_number="1234", ref="EMP-1")
        visit = make_planned_visit(setup, adult, [carer], start=DEFAULT_NOW)
        setup.commit()
        ref, carer_id = visit.ref, carer.id
    # Another writer holds the carer's row. FOR NO KEY UPDATE, not the FOR UPDATE that
    # recording.lock_care_worker takes: it lets the foreign-key checks of the correction's own
    # inserts through, so only an explicit lock taken by the correction can wait on it.
    with database.sessionmaker() as call, database.sessionmaker() as office:
        call.execute(text("SELECT id FROM care_workers WHERE id = :id FOR NO KEY UPDATE"),
                     {"id": carer_id})
        office.execute(text("SET lock_timeout = '300ms'"))
        # ... so the office's correction of the same carer's visit waits for it, not past it.
        with pytest.raises(OperationalError, match="lock timeout"):
            correct_visit_times(office, care_worker_ref="EMP-1", planned_ref=ref,
                                log_in=DEFAULT_NOW + timedelta(minutes=2), log_out=None,
                                reason="carer rang the office", now=DEFAULT_NOW
                                + timedelta(minutes=10), actor="office:jo")
        office.rollback()
        call.rollback()
        assert office.scalar(select(LogEvent.id)) is None


def test_a_corrected_late_log_in_moves_the_log_out_chase(database: Database) -> None:
    with database.sessionmaker() as session:
        adult = make_adult(session)
        carer = make_care_worker(session, staff_number="1234", ref="EMP-1")
        visit = make_planned_visit(session, adult, [carer], start=DEFAULT_NOW)
        session.commit()
        correct_visit_times(session, care_worker_ref="EMP-1", planned_ref=visit.ref,
                            log_in=DEFAULT_NOW + timedelta(minutes=50), log_out=None,
                            reason="carer rang the office", now=DEFAULT_NOW
                            + timedelta(minutes=55), actor="office:jo")
        session.commit()
        event = session.scalars(select(LogEvent)).one()
        assert event.actual_visit is not None
        # The visit (09:00-09:30) now runs to 09:50 + 30 minutes.
        assert event.actual_visit.expected_end_at == DEFAULT_NOW + timedelta(minutes=80)
