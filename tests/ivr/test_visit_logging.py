"""What a log-in or log-out records and reads back: lateness, substitution, corrections, concern."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    CareWorker,
    ConcernRecording,
    ExceptionCode,
    LogEvent,
    LogKind,
    PlannedVisit,
    VisitException,
)
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import count, exception_codes, play, rows
from tests.twilio_client import TwilioClient

LANDLINE = "+441134960001"
OTHER_LANDLINE = "+441134960002"
NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


def _joan(session: Session) -> Adult:
    return make_adult(session, given_name="Joan", family_name="Smith", landlines=(LANDLINE,))


def _amy(session: Session) -> CareWorker:
    return make_care_worker(session, staff_number="1234", pin="5678", given_name="Amy")


def _log(twilio: TwilioClient, landline: str = LANDLINE, staff: str = "1234",
         pin: str = "5678") -> list[str]:
    """A whole call: key carer number and PIN, then put the phone down after the read-back."""
    call = play(twilio, landline, staff, pin)
    call.stay_silent()
    return call.heard


# --- Read-backs --------------------------------------------------------------------------------

def test_late_log_in_reads_back_minutes_late(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    make_planned_visit(session, _joan(session), [_amy(session)], start=NINE_AM, ref="V1")
    session.commit()
    clock.set(NINE_AM + timedelta(minutes=35))
    heard = _log(twilio)
    assert heard[-2] == ("Logged in at 9:35 for J. S. You are 35 minutes late for this visit. "
                         "Press 9 if wrong.")
    [visit] = rows(session, ActualVisit)
    assert visit.planned_visit_id is not None
    assert exception_codes(session) == []


def test_log_in_within_the_late_window_says_nothing_about_lateness(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    make_planned_visit(session, _joan(session), [_amy(session)], start=NINE_AM)
    session.commit()
    clock.set(NINE_AM + timedelta(minutes=30))
    assert _log(twilio)[-2] == "Logged in at 9:30 for J. S. Press 9 if wrong."


def test_read_back_time_is_london_time_in_summer(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    summer = datetime(2026, 7, 14, 6, 2, tzinfo=UTC)  # 07:02 BST
    make_planned_visit(session, _joan(session), [_amy(session)], start=summer)
    session.commit()
    clock.set(summer)
    assert _log(twilio)[-2] == "Logged in at 7:02 for J. S. Press 9 if wrong."


def test_substitution_is_read_back_and_flagged(
    twilio: TwilioClient, session: Session
) -> None:
    joan = _joan(session)
    _amy(session)
    bob = make_care_worker(session, staff_number="2222", pin="2222", given_name="Bob")
    visit = make_planned_visit(session, joan, [bob], start=NINE_AM, ref="V-BOB")
    session.commit()
    heard = _log(twilio)
    assert heard[-2] == ("Logged in at 9:00 for J. S. This is another carer's visit; "
                         "the office will check. Press 9 if wrong.")
    [actual] = rows(session, ActualVisit)
    assert actual.planned_visit_id == visit.id
    [exception] = rows(session, VisitException)
    assert exception.code == ExceptionCode.SUBSTITUTION
    assert exception.planned_visit_id == visit.id
    assert "V-BOB" in exception.detail


def test_unplanned_visit_is_read_back_and_flagged(
    twilio: TwilioClient, session: Session
) -> None:
    joan, amy = _joan(session), _amy(session)
    make_planned_visit(session, joan, [amy], start=NINE_AM + timedelta(hours=4))
    session.commit()
    heard = _log(twilio)
    assert heard[-2] == ("Logged in at 9:00 for J. S. This visit is not on your rota; "
                         "the office will check. Press 9 if wrong.")
    [actual] = rows(session, ActualVisit)
    assert actual.planned_visit_id is None
    assert exception_codes(session) == [ExceptionCode.UNPLANNED_VISIT]


def test_double_up_visit_takes_both_carers_each_logging_in(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    joan, amy = _joan(session), _amy(session)
    bob = make_care_worker(session, staff_number="2222", pin="2468", given_name="Bob")
    visit = make_planned_visit(session, joan, [amy, bob], start=NINE_AM, ref="V-DOUBLE")
    session.commit()
    assert _log(twilio, staff="1234", pin="5678")[-2] == (
        "Logged in at 9:00 for J. S. Press 9 if wrong.")
    clock.advance(minutes=3)
    assert _log(twilio, staff="2222", pin="2468")[-2] == (
        "Logged in at 9:03 for J. S. Press 9 if wrong.")
    actuals = rows(session, ActualVisit)
    assert [(a.care_worker_id, a.planned_visit_id, a.state) for a in actuals] == [
        (amy.id, visit.id, ActualVisitState.OPEN), (bob.id, visit.id, ActualVisitState.OPEN)]
    assert exception_codes(session) == []
    # Each logs out for themselves.
    clock.advance(minutes=30)
    assert "Logged out at 9:33 from J. S. 33 minutes." in _log(twilio, staff="1234")[-2]
    [amy_visit] = rows(session, ActualVisit, ActualVisit.care_worker_id == amy.id)
    [bob_visit] = rows(session, ActualVisit, ActualVisit.care_worker_id == bob.id)
    assert amy_visit.state == ActualVisitState.CLOSED
    assert bob_visit.state == ActualVisitState.OPEN


def test_second_visit_of_the_day_at_the_same_client_matches_the_second_planned_visit(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    joan, amy = _joan(session), _amy(session)
    make_planned_visit(session, joan, [amy], start=NINE_AM, ref="V-MORNING")
    lunch = make_planned_visit(session, joan, [amy], start=NINE_AM + timedelta(hours=2),
                               ref="V-LUNCH")
    session.commit()
    _log(twilio)
    clock.advance(minutes=30)
    _log(twilio)
    clock.set(NINE_AM + timedelta(minutes=59))  # nearer the morning visit's planned start
    assert _log(twilio)[-2] == "Logged in at 9:59 for J. S. Press 9 if wrong."
    latest = rows(session, ActualVisit)[-1]
    assert latest.planned_visit_id == lunch.id
    assert exception_codes(session) == []


# --- Forgotten log-out -------------------------------------------------------------------------

def test_forgotten_log_out_is_closed_as_missing_without_an_invented_end(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    joan, amy = _joan(session), _amy(session)
    bert = make_adult(session, given_name="Bert", family_name="Green",
                      landlines=(OTHER_LANDLINE,))
    at_joan = make_planned_visit(session, joan, [amy], start=NINE_AM, ref="V-JOAN")
    at_bert = make_planned_visit(session, bert, [amy], start=NINE_AM + timedelta(hours=1),
                                 ref="V-BERT")
    session.commit()
    _log(twilio, LANDLINE)
    clock.advance(hours=1)
    assert _log(twilio, OTHER_LANDLINE)[-2] == "Logged in at 10:00 for B. G. Press 9 if wrong."

    [joan_visit] = rows(session, ActualVisit, ActualVisit.planned_visit_id == at_joan.id)
    assert joan_visit.state == ActualVisitState.MISSING_LOG_OUT
    assert joan_visit.ended_at is None
    assert exception_codes(session, VisitException.actual_visit_id == joan_visit.id) == [
        ExceptionCode.MISSING_LOG_OUT]
    [bert_visit] = rows(session, ActualVisit, ActualVisit.planned_visit_id == at_bert.id)
    assert bert_visit.state == ActualVisitState.OPEN
    assert exception_codes(session, VisitException.actual_visit_id == bert_visit.id) == []
    assert [e.kind for e in rows(session, LogEvent)] == [LogKind.IN, LogKind.IN]


def test_log_in_after_a_finished_visit_elsewhere_is_not_an_overlap(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    joan, amy = _joan(session), _amy(session)
    bert = make_adult(session, given_name="Bert", family_name="Green",
                      landlines=(OTHER_LANDLINE,))
    make_planned_visit(session, joan, [amy], start=NINE_AM)
    make_planned_visit(session, bert, [amy], start=NINE_AM + timedelta(minutes=45))
    session.commit()
    clock.set(NINE_AM + timedelta(minutes=10))
    _log(twilio, LANDLINE)
    clock.set(NINE_AM + timedelta(minutes=40))
    _log(twilio, LANDLINE)
    clock.set(NINE_AM + timedelta(minutes=41))
    _log(twilio, OTHER_LANDLINE)
    assert exception_codes(session) == []
    assert [v.state for v in rows(session, ActualVisit)] == [
        ActualVisitState.CLOSED, ActualVisitState.OPEN]


# --- Press 9: the carer corrects the direction -------------------------------------------------

def test_press_9_after_a_log_in_turns_it_into_a_log_out(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    make_planned_visit(session, _joan(session), [_amy(session)], start=NINE_AM, ref="V1")
    session.commit()
    clock.set(NINE_AM + timedelta(minutes=31))
    call = play(twilio, LANDLINE, "1234", "5678", "9")
    assert call.ended
    assert call.heard[-1] == "Changed. Logged out at 9:31 from J. S."

    original, corrected = rows(session, LogEvent)
    assert original.kind == LogKind.IN and corrected.kind == LogKind.OUT
    assert original.superseded_by_id == corrected.id
    assert "log-out" in (original.superseded_reason or "")
    assert corrected.event_time == original.event_time == NINE_AM + timedelta(minutes=31)
    assert corrected.raw["corrects"] == original.id
    [visit] = rows(session, ActualVisit)
    assert (visit.started_at, visit.ended_at) == (None, NINE_AM + timedelta(minutes=31))
    assert visit.planned_visit_id is not None
    assert sorted(exception_codes(session)) == sorted([
        ExceptionCode.MISSING_LOG_IN, ExceptionCode.CARER_CORRECTED_DIRECTION])


def test_press_9_after_a_log_in_that_closed_a_visit_reopens_and_logs_it_out(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    # Logged in 13 hours ago and never logged out: the next call is taken as a new log-in,
    # which the carer corrects into the log-out of that visit.
    joan, amy = _joan(session), _amy(session)
    make_planned_visit(session, joan, [amy], start=NINE_AM)
    session.commit()
    _log(twilio)
    clock.advance(hours=13)
    call = play(twilio, LANDLINE, "1234", "5678")
    assert call.heard[-1].startswith("Logged in at 22:00")
    call.press("9")
    assert call.heard[-1] == "Changed. Logged out at 22:00 from J. S."
    [visit] = rows(session, ActualVisit)
    assert visit.state == ActualVisitState.CLOSED
    assert visit.ended_at == NINE_AM + timedelta(hours=13)
    assert ExceptionCode.MISSING_LOG_OUT not in exception_codes(session)


# --- Press 1: a concern at log-out -------------------------------------------------------------

def test_a_concern_call_with_nothing_recorded_says_so_and_stores_no_recording(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    joan, amy = _joan(session), _amy(session)
    make_planned_visit(session, joan, [amy], start=NINE_AM)
    session.commit()
    _log(twilio)
    clock.advance(minutes=30)
    call = play(twilio, LANDLINE, "1234", "5678", "1")
    record = call.last.root.find("Record") if call.last else None
    assert record is not None
    # Twilio posts to the action with no RecordingUrl when nothing was recorded.
    answer = call._take(twilio.post_twiml(record.attrib["action"], call.params()))
    assert answer.said() == ["Nothing was recorded. Please ring the office."]
    assert call.ended
    assert count(session, ConcernRecording) == 0
    assert ExceptionCode.CONCERN_REPORTED not in exception_codes(session)


def test_press_1_at_log_out_records_a_concern_for_the_office(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    joan, amy = _joan(session), _amy(session)
    make_planned_visit(session, joan, [amy], start=NINE_AM)
    session.commit()
    _log(twilio)
    clock.advance(minutes=30)
    call = play(twilio, LANDLINE, "1234", "5678")
    answer = call.press("1")
    assert answer.said() == ["Speak after the tone, then press hash."]
    record = answer.root.find("Record")
    assert record is not None
    assert record.attrib["maxLength"] == "120" and record.attrib["finishOnKey"] == "#"
    assert call.record(url="https://api.twilio.com/rec/RE42", seconds="9").said() == [
        "Thank you. The office will listen to it."]
    assert call.ended

    [visit] = rows(session, ActualVisit)
    [concern] = rows(session, ConcernRecording)
    assert (concern.call_sid, concern.actual_visit_id) == (call.call_sid, visit.id)
    assert (concern.care_worker_id, concern.adult_id) == (amy.id, joan.id)
    assert concern.recording_url == "https://api.twilio.com/rec/RE42"
    assert concern.duration_seconds == 9
    [exception] = rows(session, VisitException)
    assert exception.code == ExceptionCode.CONCERN_REPORTED
    assert exception.actual_visit_id == visit.id
    assert exception.planned_visit_id == visit.planned_visit_id
    assert count(session, PlannedVisit) == 1


def test_call_at_lunch_after_a_forgotten_morning_log_out_logs_in_to_the_lunch_visit(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    joan, amy = _joan(session), _amy(session)
    morning = make_planned_visit(session, joan, [amy], start=NINE_AM, ref="V-MORNING")
    lunch = make_planned_visit(session, joan, [amy], start=NINE_AM + timedelta(hours=4),
                               ref="V-LUNCH")
    session.commit()
    _log(twilio)  # 9:00 log-in; the carer forgets to log out
    clock.advance(hours=3, minutes=55)
    call = play(twilio, LANDLINE, "1234", "5678")
    assert call.heard[-1] == "Logged in at 12:55 for J. S. Press 9 if wrong."

    [morning_visit] = rows(session, ActualVisit, ActualVisit.planned_visit_id == morning.id)
    assert morning_visit.state == ActualVisitState.MISSING_LOG_OUT
    assert morning_visit.ended_at is None
    [lunch_visit] = rows(session, ActualVisit, ActualVisit.planned_visit_id == lunch.id)
    assert lunch_visit.state == ActualVisitState.OPEN
    assert exception_codes(session, VisitException.actual_visit_id == lunch_visit.id) == []
    assert exception_codes(session, VisitException.actual_visit_id == morning_visit.id) == [
        ExceptionCode.MISSING_LOG_OUT]


def test_long_visit_with_no_next_planned_visit_is_still_a_log_out(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    joan, amy = _joan(session), _amy(session)
    make_planned_visit(session, joan, [amy], start=NINE_AM, ref="V-MORNING")
    session.commit()
    _log(twilio)
    clock.advance(hours=4)
    call = play(twilio, LANDLINE, "1234", "5678")
    assert call.heard[-1].startswith("Logged out at 13:00 from J. S. 240 minutes.")


def test_press_9_after_a_log_out_hours_later_makes_it_a_new_log_in(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    joan, amy = _joan(session), _amy(session)
    morning = make_planned_visit(session, joan, [amy], start=NINE_AM, ref="V-MORNING")
    session.commit()
    _log(twilio)  # 9:00 log-in; the carer forgets to log out
    clock.advance(hours=4)
    call = play(twilio, LANDLINE, "1234", "5678")
    assert call.heard[-1].startswith("Logged out at 13:00 from J. S. 240 minutes.")
    call.press("9")
    assert call.heard[-1] == "Changed. Logged in at 13:00 for J. S."

    [morning_visit] = rows(session, ActualVisit, ActualVisit.planned_visit_id == morning.id)
    assert morning_visit.state == ActualVisitState.MISSING_LOG_OUT
    assert morning_visit.ended_at is None
    [new_visit] = rows(session, ActualVisit, ActualVisit.planned_visit_id.is_(None))
    assert new_visit.state == ActualVisitState.OPEN
    assert exception_codes(session, VisitException.actual_visit_id == new_visit.id) == [
        ExceptionCode.UNPLANNED_VISIT, ExceptionCode.CARER_CORRECTED_DIRECTION]
    assert exception_codes(session, VisitException.actual_visit_id == morning_visit.id) == [
        ExceptionCode.MISSING_LOG_OUT]


def test_press_9_after_an_accidental_log_out_minutes_after_log_in_keeps_the_visit_open(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    joan, amy = _joan(session), _amy(session)
    planned = make_planned_visit(session, joan, [amy], start=NINE_AM, ref="V-MORNING")
    session.commit()
    _log(twilio)  # 9:00 log-in
    clock.advance(minutes=4)  # rings again, unsure the first call worked
    call = play(twilio, LANDLINE, "1234", "5678")
    assert call.heard[-1].startswith("Logged out at 9:04 from J. S. 4 minutes.")
    call.press("9")
    assert call.heard[-1] == "Changed. Logged in at 9:00 for J. S."

    [visit] = rows(session, ActualVisit)
    assert (visit.state, visit.planned_visit_id) == (ActualVisitState.OPEN, planned.id)
    assert visit.started_at == NINE_AM and visit.ended_at is None
    assert exception_codes(session) == [ExceptionCode.CARER_CORRECTED_DIRECTION]
    events = rows(session, LogEvent)
    assert [(e.kind, e.superseded_by_id is not None) for e in events] == [
        (LogKind.IN, False), (LogKind.OUT, True), (LogKind.IN, False)]
