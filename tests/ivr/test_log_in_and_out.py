"""A carer logs in and out by phone from the client's registered landline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.ivr.models import CallStep
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    LogEvent,
    LogKind,
    Verification,
)
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import play
from tests.twilio_client import TwilioClient

LANDLINE = "+441134960001"
NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)  # 09:00 GMT = 09:00 London


def _rota(session: Session, language: str = "en") -> None:
    adult = make_adult(session, given_name="Joan", family_name="Smith", landlines=(LANDLINE,))
    carer = make_care_worker(session, staff_number="1234", pin="5678", language=language)
    make_planned_visit(session, adult, [carer], start=NINE_AM, minutes=30, ref="V1")
    session.commit()


def test_log_in_from_registered_landline_reads_back_time_and_initials(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(minutes=2))
    call = play(twilio, "0113 496 0001", "1234", "5678")
    assert call.heard[-1] == "Logged in at 9:02 for J. S. Press 9 if wrong."
    event = session.scalars(select(LogEvent)).one()
    assert (event.kind, event.verification) == (LogKind.IN, Verification.CALLER_ID)
    assert event.event_time == NINE_AM + timedelta(minutes=2)
    visit = session.scalars(select(ActualVisit)).one()
    assert visit.state == ActualVisitState.OPEN and visit.planned_visit_id is not None


def test_second_call_logs_out_with_duration(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(minutes=2))
    play(twilio, LANDLINE, "1234", "5678")
    clock.set(NINE_AM + timedelta(minutes=33))
    call = play(twilio, LANDLINE, "1234", "5678")
    assert call.heard[-1] == ("Logged out at 9:33 from J. S. 31 minutes. "
                              "Press 1 to report a concern, 9 if wrong.")
    visit = session.scalars(select(ActualVisit)).one()
    session.refresh(visit)
    assert visit.state == ActualVisitState.CLOSED
    assert visit.ended_at == NINE_AM + timedelta(minutes=33)


@pytest.mark.parametrize("language", ["en", "pl"])
def test_log_in_costs_at_most_12_keys_and_15_seconds(
    twilio: TwilioClient, session: Session, clock: FixedClock, language: str
) -> None:
    _rota(session, language)
    call = play(twilio, LANDLINE, "1234", "5678")
    call.stay_silent()  # no correction: the carer puts the phone down
    seconds = call.words_heard() * 0.4 + call.keys_pressed() * 0.3
    assert call.keys_pressed() <= 12
    assert seconds <= 15, (seconds, call.heard)


def test_every_step_is_stored_as_evidence_without_the_pin(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session)
    call = play(twilio, LANDLINE, "1234", "5678")
    steps = session.scalars(select(CallStep).where(CallStep.call_sid == call.call_sid)
                            .order_by(CallStep.seq)).all()
    assert [s.seq for s in steps] == [0, 1, 2]
    assert [s.digits for s in steps] == [None, "1234", "****"]
    assert all("5678" not in str(s.raw) for s in steps)
    assert session.scalar(select(func.count()).select_from(LogEvent)) == 1
