"""Each rule in fake time: raised once at its deadline, nothing for visits in hand, auto-resolve."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.escalation.models import AlertKind, AlertState
from ivr_gateway.escalation.wording import is_one_segment
from ivr_gateway.escalation_policy import EscalationPolicy
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Channel,
    ConcernRecording,
    Rag,
    Verification,
    VisitStatus,
)
from ivr_gateway.outbox.service import enqueue
from ivr_gateway.visits.reason_codes import record_reason_code
from ivr_gateway.visits.recording import LogRequest, record_log_event
from tests.api.conftest import Api
from tests.escalation.conftest import (
    CARER_MOBILE,
    COORDINATOR,
    MANAGER,
    ON_CALL,
    TUESDAY_9AM,
    Escalation,
    make_ladder,
)
from tests.factories import make_adult, make_care_worker, make_planned_visit

_staff_numbers = iter(range(2000, 9999))


def _visit(session: Session, *, rag: Rag = Rag.GREEN, start=TUESDAY_9AM, minutes: int = 30,
           status: VisitStatus = VisitStatus.PLANNED, mobiles: tuple[str, ...] = ()):
    adult = make_adult(session, rag=rag)
    carer = make_care_worker(session, mobiles=mobiles, staff_number=str(next(_staff_numbers)))
    visit = make_planned_visit(session, adult, [carer], start=start, minutes=minutes,
                               status=status)
    session.commit()
    return adult, carer, visit


def _log(session: Session, carer_id: int, adult_id: int, at) -> None:
    record_log_event(session, LogRequest(
        channel=Channel.IVR, care_worker_id=carer_id, adult_id=adult_id, event_time=at,
        received_at=at, verification=Verification.CALLER_ID, source_sid=f"CA{at.timestamp()}"),
        windows=__import__("ivr_gateway.config", fromlist=["KpiWindows"]).KpiWindows())
    session.commit()


def test_late_start_is_raised_once_thirty_minutes_after_planned_start(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    _visit(session)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=30))
    assert escalation.alerts() == []
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))
    [alert] = escalation.alerts()
    assert alert.kind is AlertKind.LATE_START
    assert alert.deadline_at == TUESDAY_9AM + timedelta(minutes=30)
    [text] = escalation.texts(COORDINATOR)
    assert text == (f"EHM alert {alert.number}: J.S. visit 09:00 not started, nobody logged in. "
                    f"Reply ACK {alert.number}")
    assert is_one_segment(text)
    assert "Joan" not in text and "Smith" not in text and "High Street" not in text
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=40))
    assert len(escalation.alerts()) == 1 and len(escalation.texts()) == 1


def test_red_client_is_late_at_half_the_time(session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    _visit(session, rag=Rag.RED)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=16))
    [alert] = escalation.alerts()
    assert alert.red and alert.deadline_at == TUESDAY_9AM + timedelta(minutes=15)
    # ... and climbs at half the time: on-call 7.5 minutes after the coordinator, not 15.
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=23))
    assert escalation.alerts()[0].level == 1
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=24))
    assert escalation.alerts()[0].level == 2


def test_missed_visit_replaces_the_late_alert_and_keeps_its_place_on_the_ladder(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    _visit(session)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=121))
    late, missed = escalation.alerts()
    assert late.kind is AlertKind.LATE_START and late.state is AlertState.RESOLVED
    assert late.resolved_reason == "now raised as a missed visit"
    assert missed.kind is AlertKind.MISSED_VISIT and missed.deadline_at == TUESDAY_9AM + \
        timedelta(minutes=120)
    # The late alert reached the manager (level 3); the missed one tells the manager at once.
    assert late.level == 3 and missed.level == 3
    assert "MISSED" in escalation.texts()[-1]
    assert not any("resolved" in t for t in escalation.texts())  # superseded quietly


def test_visits_in_progress_or_cancelled_raise_nothing(session: Session,
                                                      escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult, carer, _visit_row = _visit(session)
    _visit(session, status=VisitStatus.CANCELLED)
    _log(session, carer.id, adult.id, TUESDAY_9AM + timedelta(minutes=5))
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=40))
    assert escalation.alerts() == []


def test_log_in_resolves_the_late_alert_and_tells_whoever_was_told(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult, carer, _ = _visit(session)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))
    _log(session, carer.id, adult.id, TUESDAY_9AM + timedelta(minutes=36))
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=37))
    [alert] = escalation.alerts()
    assert alert.state is AlertState.RESOLVED
    assert alert.resolved_reason == "A.J. logged in at J.S. 09:36"
    assert escalation.texts(COORDINATOR)[-1] == (
        f"EHM alert {alert.number} resolved: A.J. logged in at J.S. 09:36. No action needed.")
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=45))
    assert len(escalation.texts()) == 2  # no climb after the resolution
    escalation.run_until(TUESDAY_9AM + timedelta(hours=3))
    assert [a.kind for a in escalation.alerts()] == [AlertKind.LATE_START,
                                                     AlertKind.MISSING_LOG_OUT]


def test_missing_log_out_texts_the_carer_first_then_the_office(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult, carer, _ = _visit(session, mobiles=(CARER_MOBILE,))
    _log(session, carer.id, adult.id, TUESDAY_9AM)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=45))  # end 09:30 + 15
    assert escalation.alerts() == []
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=46))
    [alert] = escalation.alerts()
    assert alert.kind is AlertKind.MISSING_LOG_OUT
    assert escalation.texts() == [
        "Did you forget to log out? J.S. visit 09:00-09:30. Please ring the log line now to log "
        "out, or the office will be told."]
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=60))
    assert escalation.texts(COORDINATOR) == []
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=61))
    assert escalation.texts(COORDINATOR) == [
        f"EHM alert {alert.number}: A.J. not logged out of J.S. visit 09:00-09:30. "
        f"Reply ACK {alert.number}"]
    _log(session, carer.id, adult.id, TUESDAY_9AM + timedelta(minutes=62))
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=63))
    assert escalation.alerts()[0].state is AlertState.RESOLVED
    assert escalation.texts(COORDINATOR)[-1].endswith("A.J. logged out at 10:02. No action needed.")
    assert escalation.texts(CARER_MOBILE)[-1].startswith("Did you forget")  # carer not told


def test_a_carer_who_logs_in_after_the_planned_end_is_chased_from_their_log_in(
        session: Session, escalation: Escalation) -> None:
    # 09:00-09:30 visit; the carer arrives at 09:40. They are not asked "did you forget to log
    # out?" seconds later: they owe the client 30 minutes, so the chase is 10:10 + 15 min.
    make_ladder(session, TUESDAY_9AM)
    adult, carer, _ = _visit(session, mobiles=(CARER_MOBILE,))
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=39))
    _log(session, carer.id, adult.id, TUESDAY_9AM + timedelta(minutes=40))
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=85))
    assert [a.kind for a in escalation.alerts()] == [AlertKind.LATE_START]
    assert not any(t.startswith("Did you forget") for t in escalation.texts(CARER_MOBILE))
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=86))
    assert [a.kind for a in escalation.alerts()] == [AlertKind.LATE_START,
                                                     AlertKind.MISSING_LOG_OUT]
    assert escalation.texts(CARER_MOBILE)[-1].startswith("Did you forget")


def _unplanned_log_in(session: Session, *, rag: Rag = Rag.GREEN, at=TUESDAY_9AM,
                     mobiles: tuple[str, ...] = (CARER_MOBILE,)):
    # A carer logs in at a client's home with nothing on the rota for them there.
    adult = make_adult(session, rag=rag)
    carer = make_care_worker(session, mobiles=mobiles, staff_number=str(next(_staff_numbers)))
    session.commit()
    _log(session, carer.id, adult.id, at)
    [actual] = session.scalars(select(ActualVisit).where(ActualVisit.care_worker_id == carer.id))
    assert actual.planned_visit_id is None and actual.state is ActualVisitState.OPEN
    ids = adult.id, carer.id, actual.id
    session.commit()  # no transaction left open: SQLite's writers queue behind it
    return ids


def test_unplanned_visit_left_open_is_chased_eight_hours_fifteen_after_its_log_in(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult_id, carer_id, actual_id = _unplanned_log_in(session)
    escalation.tick()
    # The longest normal visit (8 hours) plus the log-out chase (15 minutes): 17:15.
    escalation.run_until(TUESDAY_9AM + timedelta(hours=8), step=timedelta(minutes=15))
    escalation.run_until(TUESDAY_9AM + timedelta(hours=8, minutes=15))
    assert escalation.alerts() == []
    escalation.run_until(TUESDAY_9AM + timedelta(hours=8, minutes=16))
    [alert] = escalation.alerts()
    assert (alert.kind, alert.subject_key, alert.actual_visit_id, alert.planned_visit_id) == (
        AlertKind.MISSING_LOG_OUT, f"carer-visit:{actual_id}", actual_id, None)
    assert alert.deadline_at == TUESDAY_9AM + timedelta(hours=8, minutes=15)
    # The carer is asked first, then the office; initials only, one segment each.
    assert escalation.texts() == [
        "Did you forget to log out? J.S. unplanned visit from 09:00. Please ring the log line "
        "now to log out, or the office will be told."]
    escalation.run_until(TUESDAY_9AM + timedelta(hours=8, minutes=31))
    [office] = escalation.texts(COORDINATOR)
    assert office == (f"EHM alert {alert.number}: A.J. not logged out of J.S. unplanned visit "
                      f"from 09:00. Reply ACK {alert.number}")
    assert all(is_one_segment(t) for t in escalation.texts())
    assert not any(word in t for t in escalation.texts()
                   for word in ("Joan", "Smith", "Amy", "Jones", "High Street"))
    escalation.run_until(TUESDAY_9AM + timedelta(hours=8, minutes=40))
    assert len(escalation.alerts()) == 1  # once, however many ticks read past the deadline
    _log(session, carer_id, adult_id, TUESDAY_9AM + timedelta(hours=8, minutes=41))
    escalation.run_until(TUESDAY_9AM + timedelta(hours=8, minutes=42))
    [alert] = escalation.alerts()
    assert alert.state is AlertState.RESOLVED
    assert alert.resolved_reason == "A.J. logged out at 17:41"
    assert escalation.texts(COORDINATOR)[-1] == (
        f"EHM alert {alert.number} resolved: A.J. logged out at 17:41. No action needed.")


def test_unplanned_visit_of_a_red_client_is_chased_at_half_the_chase_and_by_the_setting(
        session: Session, database, clock) -> None:
    settings = Settings(database_url=database.url,
                        escalation=EscalationPolicy(unplanned_visit_minutes=120))
    escalation = Escalation(database, settings, clock)
    make_ladder(session, TUESDAY_9AM)
    _unplanned_log_in(session, rag=Rag.RED, mobiles=())
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(hours=2, minutes=8))
    [alert] = escalation.alerts()
    assert alert.red and alert.deadline_at == TUESDAY_9AM + timedelta(hours=2, minutes=7.5)
    # No mobile for the carer: the office hears at once.
    assert escalation.texts(COORDINATOR)[0].startswith(f"EHM alert {alert.number}: A.J. not "
                                                       "logged out of J.S. unplanned visit")


def test_unplanned_visit_closed_by_a_log_in_elsewhere_raises_nothing_later(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    _adult_id, carer_id, actual_id = _unplanned_log_in(session)
    other = make_adult(session)
    session.commit()
    _log(session, carer_id, other.id, TUESDAY_9AM + timedelta(hours=1))
    escalation.tick()
    # The first visit was closed as missing its log-out at 10:00 (evidence for the office, not
    # an alert); the second, still open, is chased from its own log-in.
    escalation.run_until(TUESDAY_9AM + timedelta(hours=8, minutes=30),
                         step=timedelta(minutes=15))
    assert escalation.alerts() == []
    escalation.run_until(TUESDAY_9AM + timedelta(hours=9, minutes=30),
                         step=timedelta(minutes=15))
    [alert] = escalation.alerts()
    assert alert.actual_visit_id != actual_id


def _concern(session: Session, escalation: Escalation, at) -> None:
    adult, carer, visit = _visit(session)
    actual = ActualVisit(care_worker_id=carer.id, adult_id=adult.id, planned_visit_id=visit.id,
                         state=ActualVisitState.CLOSED, started_at=TUESDAY_9AM,
                         ended_at=TUESDAY_9AM + timedelta(minutes=30),
                         created_at=TUESDAY_9AM)
    session.add(actual)
    session.flush()
    session.add(ConcernRecording(call_sid=f"CA{at.timestamp()}", actual_visit_id=actual.id,
                                 care_worker_id=carer.id, adult_id=adult.id,
                                 recording_url="https://api.twilio.com/rec/RE1", created_at=at))
    session.commit()


def test_carer_concern_stays_open_until_acknowledged_which_resolves_it_with_its_note(
        session: Session, escalation: Escalation, api: Api) -> None:
    make_ladder(session, TUESDAY_9AM)
    escalation.tick()
    _concern(session, escalation, TUESDAY_9AM + timedelta(minutes=31))
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=32))
    [alert] = escalation.alerts()
    assert alert.kind is AlertKind.CARER_CONCERN
    assert "A.J. recorded a concern at J.S. 09:31" in escalation.texts(COORDINATOR)[0]
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=50))
    assert escalation.alerts()[0].state is AlertState.OPEN  # nothing in the data settles it
    assert [a["id"] for a in api.get("/alerts?state=unresolved").get_json()["alerts"]] == [
        alert.id]

    escalation.clock.set(TUESDAY_9AM + timedelta(minutes=55))
    acked = api.post(f"/alerts/{alert.id}/acknowledge",
                     {"by": "Sam Carter", "note": "Listened; rang her daughter, GP booked."})
    body = acked.get_json()
    assert body["acknowledged"] is True
    assert body["message"].startswith(f"Thank you. Alert {alert.number} acknowledged and closed")
    assert api.get("/alerts?state=unresolved").get_json()["alerts"] == []
    shown = api.get(f"/alerts/{alert.id}").get_json()
    assert shown["state"] == "resolved"
    # The audit trail: who acknowledged, when, how, and what they did.
    assert (shown["acknowledged_by"], shown["acknowledged_via"], shown["acknowledged_note"]) == (
        "Sam Carter (api:rostering)", "api", "Listened; rang her daughter, GP booked.")
    assert shown["acknowledged_at"] == shown["resolved_at"]
    assert shown["resolved_reason"] == "acknowledged by Sam Carter (api:rostering) at 09:55"
    escalation.run_until(TUESDAY_9AM + timedelta(hours=2))
    # The on-call person, told at 09:47, hears who took it; nobody hears of it again after.
    assert escalation.texts(ON_CALL)[-1] == (
        f"EHM alert {alert.number} acknowledged by S.C. at 09:55. No action needed.")
    assert escalation.texts(MANAGER) == []
    again = api.post(f"/alerts/{alert.id}/acknowledge", {})
    assert again.get_json()["message"] == (
        f"Alert {alert.number} is already resolved: acknowledged by Sam Carter "
        "(api:rostering) at 09:55.")


def test_reason_code_due_then_overdue_for_a_missed_visit_and_settled_by_recording_it(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM, on_call_hours=0)
    _adult, _carer, visit = _visit(session)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(hours=24, minutes=10),
                         step=timedelta(minutes=10))
    kinds = [a.kind for a in escalation.alerts()]
    assert kinds == [AlertKind.LATE_START, AlertKind.MISSED_VISIT, AlertKind.REASON_CODE_DUE]
    due = escalation.alerts()[2]
    assert due.summary == "reason code due by Thu 09:00 for J.S. missed visit Tue 09:00"
    escalation.run_until(TUESDAY_9AM + timedelta(hours=48, minutes=10),
                         step=timedelta(minutes=10))
    overdue = escalation.alerts()[3]
    assert overdue.kind is AlertKind.REASON_CODE_OVERDUE
    assert escalation.alerts()[2].state is AlertState.RESOLVED  # 'due' gave way to 'overdue'
    record_reason_code(session, visit.ref, "client_in_hospital", "", settings=escalation.settings,
                       now=escalation.clock.now(), actor="test")
    session.commit()
    escalation.run_until(TUESDAY_9AM + timedelta(hours=48, minutes=20),
                         step=timedelta(minutes=10))
    assert escalation.alerts()[3].state is AlertState.RESOLVED
    assert escalation.alerts()[3].resolved_reason == "the reason code has been recorded"


def test_reason_code_alerts_wait_for_office_hours_and_never_ring(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    # Friday 17:00 visit, cancelled without a reason: due Saturday 17:00 (reminder), overdue
    # Sunday 17:00; nobody is told over the weekend, the coordinator on Monday at 08:00.
    friday = TUESDAY_9AM + timedelta(days=3, hours=8)
    escalation.clock.set(friday)
    _visit(session, start=friday, status=VisitStatus.CANCELLED)
    escalation.tick()
    escalation.run_until(friday + timedelta(days=2, hours=14, minutes=45),
                         step=timedelta(minutes=15))  # Monday 07:45
    due, overdue = escalation.alerts()
    assert (due.kind, due.state) == (AlertKind.REASON_CODE_DUE, AlertState.RESOLVED)
    assert (overdue.kind, overdue.level) == (AlertKind.REASON_CODE_OVERDUE, 0)
    assert escalation.texts() == []
    escalation.run_until(friday + timedelta(days=2, hours=15), step=timedelta(minutes=15))
    [text] = escalation.texts(COORDINATOR)
    assert "reason code OVERDUE since Sun 17:00 for J.S. cancelled visit Fri 17:00" in text
    assert escalation.calls() == []


@pytest.mark.parametrize("kind", ["ecc", "visit_changed", "ecc_render"])  # refused, or not rendered
def test_forwarding_failure_is_raised_from_a_dead_council_record_and_resolves_on_retry(
        session: Session, escalation: Escalation, kind: str) -> None:
    from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus

    make_ladder(session, TUESDAY_9AM)
    enqueue(session, kind=kind, idempotency_key="visit-1/in", payload={}, now=TUESDAY_9AM)
    session.commit()
    message = session.query(OutboxMessage).one()
    message.status = OutboxStatus.DEAD
    session.commit()
    escalation.tick()
    [alert] = escalation.alerts()
    assert alert.kind is AlertKind.FORWARDING_FAILED
    assert escalation.texts(COORDINATOR)[0].startswith(f"EHM alert {alert.number}: council record")
    message.status = OutboxStatus.SENT
    session.commit()
    escalation.clock.advance(minutes=1)
    escalation.tick()
    assert escalation.alerts()[0].state is AlertState.RESOLVED


def _double_up(session: Session, *, rag: Rag = Rag.GREEN, minutes: int = 60):
    # Joan needs two carers (a hoist): Amy and Ben are booked together.
    adult = make_adult(session, rag=rag)
    amy = make_care_worker(session, staff_number=str(next(_staff_numbers)))
    ben = make_care_worker(session, staff_number=str(next(_staff_numbers)), given_name="Ben",
                           family_name="Taylor")
    visit = make_planned_visit(session, adult, [amy, ben], start=TUESDAY_9AM, minutes=minutes)
    session.commit()
    return adult, amy, ben, visit


def test_double_up_with_one_carer_logged_in_is_raised_short_of_a_carer_once_at_the_late_deadline(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult, amy, ben, visit = _double_up(session)
    _log(session, amy.id, adult.id, TUESDAY_9AM + timedelta(minutes=5))  # Amy comes alone
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=30))
    assert escalation.alerts() == []
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))
    [alert] = escalation.alerts()
    assert (alert.kind, alert.subject_key, alert.planned_visit_id) == (
        AlertKind.SHORT_OF_CARER, f"visit:{visit.id}", visit.id)
    assert alert.deadline_at == TUESDAY_9AM + timedelta(minutes=30)
    [text] = escalation.texts()  # the office first: no carer is texted for a visit not started
    assert text == escalation.texts(COORDINATOR)[0] == (
        f"EHM alert {alert.number}: Double-up for J.S. at 09:00: 1 of 2 carers logged in. "
        f"Reply ACK {alert.number}")
    assert is_one_segment(text)
    # It climbs as the other not-started alerts do: on-call 15 minutes on.
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=46))
    assert escalation.alerts()[0].level == 2 and len(escalation.texts(ON_CALL)) == 1
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=50))
    assert len(escalation.alerts()) == 1  # once, however many ticks read past the deadline
    _log(session, ben.id, adult.id, TUESDAY_9AM + timedelta(minutes=51))  # Ben arrives
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=52))
    [alert] = escalation.alerts()
    assert alert.state is AlertState.RESOLVED
    assert alert.resolved_reason == "both carers logged in at J.S. 09:51"
    assert escalation.texts(ON_CALL)[-1] == (
        f"EHM alert {alert.number} resolved: both carers logged in at J.S. 09:51. "
        "No action needed.")
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=70))
    assert [a.kind for a in escalation.alerts()] == [AlertKind.SHORT_OF_CARER]


def test_red_double_up_is_short_at_half_the_time_and_carers_never_together_count(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult, amy, ben, _ = _double_up(session, rag=Rag.RED)
    _log(session, amy.id, adult.id, TUESDAY_9AM + timedelta(minutes=1))
    _log(session, amy.id, adult.id, TUESDAY_9AM + timedelta(minutes=6))  # Amy leaves
    _log(session, ben.id, adult.id, TUESDAY_9AM + timedelta(minutes=10))  # Ben comes after
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=16))
    [alert] = escalation.alerts()
    assert alert.red and alert.deadline_at == TUESDAY_9AM + timedelta(minutes=15)
    assert alert.summary == "Double-up for J.S. at 09:00: 2 carers logged in, never together"


def test_double_ups_fully_staffed_and_single_visits_with_a_log_in_raise_nothing(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult, amy, ben, _ = _double_up(session)
    _log(session, amy.id, adult.id, TUESDAY_9AM + timedelta(minutes=2))
    _log(session, ben.id, adult.id, TUESDAY_9AM + timedelta(minutes=4))
    single_adult, carer, _visit_row = _visit(session, minutes=60)
    _log(session, carer.id, single_adult.id, TUESDAY_9AM + timedelta(minutes=3))
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=60))
    assert escalation.alerts() == []


def test_late_double_up_that_one_carer_comes_to_hands_over_to_short_of_carer_on_the_same_rung(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult, amy, _ben, _ = _double_up(session, minutes=120)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=46))  # late: coordinator, then on-call
    [late] = escalation.alerts()
    assert (late.kind, late.level) == (AlertKind.LATE_START, 2)
    _log(session, amy.id, adult.id, TUESDAY_9AM + timedelta(minutes=50))  # Amy, alone
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=51))
    late, short = escalation.alerts()
    assert (late.state, late.resolved_reason) == (AlertState.RESOLVED,
                                                  "now raised as a double-up short of a carer")
    assert short.kind is AlertKind.SHORT_OF_CARER and short.level == 2
    assert short.summary == "Double-up for J.S. at 09:00: 1 of 2 carers logged in"
    # The on-call person, who had the late alert, hears the news, not that all is well.
    assert escalation.texts(ON_CALL)[-1].startswith(f"EHM alert {short.number}: Double-up")
    assert not any("resolved" in t for t in escalation.texts())
    assert len(escalation.texts(COORDINATOR)) == 1  # not started again from the bottom
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=130), step=timedelta(minutes=5))
    assert [a.kind for a in escalation.alerts()] == [AlertKind.LATE_START,
                                                     AlertKind.SHORT_OF_CARER]  # never missed
    assert escalation.alerts()[1].level == 3  # the manager, 15 minutes after on-call


def test_short_of_carer_settles_when_the_visit_is_cancelled(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult, amy, _ben, visit = _double_up(session)
    _log(session, amy.id, adult.id, TUESDAY_9AM + timedelta(minutes=5))
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))
    [alert] = escalation.alerts()
    assert alert.kind is AlertKind.SHORT_OF_CARER
    session.refresh(visit)
    visit.status, visit.cancel_reason = VisitStatus.CANCELLED, "HOSPITAL"
    session.commit()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=32))
    [alert] = escalation.alerts()
    assert (alert.state, alert.resolved_reason) == (AlertState.RESOLVED,
                                                    "the visit was cancelled on the rota")


def test_open_visit_matched_to_a_visit_cancelled_since_is_chased_like_an_unplanned_one(
        session: Session, escalation: Escalation, api: Api) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult, carer, visit = _visit(session, mobiles=(CARER_MOBILE,))
    _log(session, carer.id, adult.id, TUESDAY_9AM + timedelta(minutes=2))
    escalation.tick()
    escalation.clock.set(TUESDAY_9AM + timedelta(minutes=10))
    # The rota cancels the visit while the carer is there (the family rang the office).
    cancelled = api.put(f"/planned-visits/{visit.ref}", {
        "adult_ref": adult.ref, "care_worker_refs": [carer.ref],
        "planned_start": "2026-01-13T09:00:00Z", "planned_end": "2026-01-13T09:30:00Z",
        "status": "cancelled", "cancel_reason": "HOSPITAL"})
    assert cancelled.status_code == 200, cancelled.get_json()
    [actual] = session.scalars(select(ActualVisit).where(ActualVisit.care_worker_id == carer.id))
    assert (actual.planned_visit_id, actual.state) == (visit.id, ActualVisitState.OPEN)
    session.commit()
    # Not at the cancelled visit's end + 15: its times are no longer a commitment. From the
    # log-in, as an unplanned visit: 09:02 + 8 hours + 15 minutes.
    escalation.run_until(TUESDAY_9AM + timedelta(hours=8, minutes=10), step=timedelta(minutes=15))
    escalation.run_until(TUESDAY_9AM + timedelta(hours=8, minutes=17))
    assert escalation.alerts() == []
    escalation.run_until(TUESDAY_9AM + timedelta(hours=8, minutes=18))
    [alert] = [a for a in escalation.alerts() if a.kind is AlertKind.MISSING_LOG_OUT]
    assert (alert.subject_key, alert.actual_visit_id, alert.planned_visit_id) == (
        f"carer-visit:{actual.id}", actual.id, visit.id)
    assert alert.deadline_at == TUESDAY_9AM + timedelta(hours=8, minutes=17)
    assert alert.summary == "A.J. not logged out of J.S. cancelled visit from 09:02"
    assert escalation.texts(CARER_MOBILE) == [
        "Did you forget to log out? J.S. cancelled visit from 09:02. Please ring the log line "
        "now to log out, or the office will be told."]
    escalation.run_until(TUESDAY_9AM + timedelta(hours=8, minutes=40))
    assert len([a for a in escalation.alerts() if a.kind is AlertKind.MISSING_LOG_OUT]) == 1
    assert escalation.texts(COORDINATOR)[-1] == (
        f"EHM alert {alert.number}: {alert.summary}. Reply ACK {alert.number}")
