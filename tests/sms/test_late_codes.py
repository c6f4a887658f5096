"""Delayed texts: a token code proves when it was shown; clock-change days read back right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.models import ActualVisit, Adult, CareWorker, LogEvent, LogKind, PlannedVisit
from ivr_gateway.sms.codes import step_start, time_step
from ivr_gateway.sms.models import InboundText, TextStatus
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import count, rows
from tests.sms.texting import add_sheet, add_token, code_at, text
from tests.twilio_client import TwilioClient

AMY = "+447911123450"


def _home(session: Session, start: datetime, *, digits: int = 8, minutes: int = 30
          ) -> tuple[Adult, CareWorker, PlannedVisit]:
    adult = make_adult(session, given_name="Joan", family_name="Smith", landlines=())
    amy = make_care_worker(session, mobiles=(AMY,))
    visit = make_planned_visit(session, adult, [amy], start=start, minutes=minutes)
    add_token(session, adult, digits=digits)
    session.commit()
    return adult, amy, visit


def test_a_text_delivered_hours_late_records_when_the_code_was_shown(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    start = datetime(2026, 1, 13, 7, 0, tzinfo=UTC)
    _home(session, start)
    shown = start + timedelta(minutes=2, seconds=5)
    clock.set(start + timedelta(hours=5))  # poor signal: the text arrives at 12:00
    reply = text(twilio, AMY, f"IN {code_at(shown, digits=8)}")
    assert reply.text == ("Logged in 07:02 for J.S. Text OUT and the code when you leave. "
                          "Code time 07:02, text came 12:00.")
    event = rows(session, LogEvent)[0]
    assert event.event_time == step_start(time_step(shown, 30), 30)
    assert event.received_at == clock.now()
    assert event.raw["late_code"] is True
    assert event.raw["delay_seconds"] == int((clock.now() - event.event_time).total_seconds())
    assert rows(session, ActualVisit)[0].planned_visit_id is not None


def test_a_late_code_older_than_48_hours_is_refused(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    start = datetime(2026, 1, 13, 7, 0, tzinfo=UTC)
    _home(session, start)
    clock.set(start + timedelta(hours=49))
    reply = text(twilio, AMY, f"IN {code_at(start + timedelta(minutes=2), digits=8)}")
    assert reply.text == "That code is too old to log a visit. Please call the office."
    assert count(session, LogEvent) == 0


def test_a_late_code_outside_any_planned_visit_is_refused(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    start = datetime(2026, 1, 13, 7, 0, tzinfo=UTC)
    _home(session, start)
    clock.set(start + timedelta(hours=6))
    # Shown at 10:00, hours after the 07:00 visit ended: it proves nothing the rota asked for.
    reply = text(twilio, AMY, f"IN {code_at(start + timedelta(hours=3), digits=8)}")
    assert rows(session, InboundText)[-1].status == TextStatus.TOO_OLD, reply.text
    assert count(session, LogEvent) == 0


def test_a_six_digit_token_takes_a_code_delayed_by_minutes(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    start = datetime(2026, 1, 13, 7, 0, tzinfo=UTC)
    _home(session, start, digits=6)
    clock.set(start + timedelta(minutes=3))
    reply = text(twilio, AMY, f"IN {code_at(start + timedelta(minutes=1))}")
    assert reply.text.startswith("Logged in 07:01 for J.S."), reply.text


def test_spring_forward_reads_back_british_summer_time(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    # Sunday 29 March 2026: 01:00 GMT becomes 02:00 BST.
    start = datetime(2026, 3, 29, 0, 45, tzinfo=UTC)  # 00:45 GMT
    _home(session, start, minutes=60)
    clock.set(datetime(2026, 3, 29, 0, 50, tzinfo=UTC))
    assert text(twilio, AMY, f"IN {code_at(clock.now(), digits=8)}").text.startswith(
        "Logged in 00:50 for J.S.")
    clock.set(datetime(2026, 3, 29, 1, 20, tzinfo=UTC))
    assert text(twilio, AMY, f"OUT {code_at(clock.now(), digits=8)}").text == (
        "Logged out 02:20 from J.S., 30 min. Thank you.")


def test_fall_back_a_late_code_from_the_first_0130_reads_back_its_own_hour(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    # Sunday 25 October 2026: 01:30 happens twice (BST, then GMT an hour later).
    start = datetime(2026, 10, 25, 0, 15, tzinfo=UTC)  # 01:15 BST
    _home(session, start, minutes=120)
    first_0130 = datetime(2026, 10, 25, 0, 30, 5, tzinfo=UTC)  # 01:30 BST
    clock.set(datetime(2026, 10, 25, 1, 40, tzinfo=UTC))  # 01:40 GMT, the second time round
    reply = text(twilio, AMY, f"IN {code_at(first_0130, digits=8)}")
    assert reply.text.startswith("Logged in 01:30 for J.S."), reply.text
    assert reply.text.endswith("Code time 01:30, text came 01:40.")
    event = rows(session, LogEvent)[0]
    assert event.kind == LogKind.IN
    assert event.event_time == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert (clock.now() - event.event_time) == timedelta(hours=1, minutes=10)


def test_sheet_codes_record_arrival_time_even_when_late(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    start = datetime(2026, 1, 13, 7, 0, tzinfo=UTC)
    adult, _amy, _visit = _home(session, start)
    sheet = add_sheet(session, adult, start - timedelta(days=1))
    session.commit()
    clock.set(start + timedelta(minutes=50))
    text(twilio, AMY, f"IN {sheet.codes[0]}")
    assert rows(session, LogEvent)[0].event_time == clock.now()


def test_a_log_in_text_delayed_past_its_log_out_completes_the_same_visit(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    start = datetime(2026, 1, 13, 7, 0, tzinfo=UTC)
    _home(session, start)
    shown_in = start + timedelta(minutes=2)
    clock.set(start + timedelta(minutes=31))  # the OUT text gets through; the IN is stuck
    text(twilio, AMY, f"OUT {code_at(clock.now(), digits=8)}")
    clock.set(start + timedelta(minutes=50))  # the IN text arrives at last
    reply = text(twilio, AMY, f"IN {code_at(shown_in, digits=8)}")
    assert reply.text.startswith("Logged in 07:02 for J.S."), reply.text
    (visit,) = rows(session, ActualVisit)  # one visit, not a log-out and an open log-in
    assert visit.started_at == step_start(time_step(shown_in, 30), 30)
    assert visit.ended_at is not None and visit.ended_at > visit.started_at
    assert visit.state.value == "closed"
    assert sorted(e.kind for e in rows(session, LogEvent)) == [LogKind.IN, LogKind.OUT]
    assert {e.actual_visit_id for e in rows(session, LogEvent)} == {visit.id}
    (flag,) = [e for e in visit.exceptions if e.code.value == "missing_log_in"]
    assert flag.reviewed_at == clock.now()  # answered: kept as evidence, no longer open
    assert flag.reviewed_by == "gateway: the log-in arrived after the log-out"
