"""Alerts in order, to a phone that can take them, in the carer's language, with true statuses;
one summary text in a storm; alerts that settle so a tick re-reads only what changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy.orm import Session

from ivr_gateway.escalation.models import AlertKind, AlertState
from ivr_gateway.escalation.rules import may_have_settled
from ivr_gateway.escalation.tick import run_escalation_tick
from ivr_gateway.escalation.wording import is_one_segment
from ivr_gateway.models import Channel, SmsOptOut, Verification
from ivr_gateway.outbox.service import claim_due
from ivr_gateway.visits.recording import LogRequest, record_log_event
from tests.api.conftest import Api
from tests.escalation.conftest import (
    CARER_MOBILE,
    COORDINATOR,
    ON_CALL,
    TUESDAY_9AM,
    Escalation,
    make_ladder,
)
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.sms.texting import text
from tests.twilio_client import TwilioClient

_staff = iter(range(3000, 9999))


def _visit(session: Session, *, start=TUESDAY_9AM, language: str = "en",
           mobiles: tuple[str, ...] = ()) -> tuple[int, int]:
    adult = make_adult(session)
    carer = make_care_worker(session, staff_number=str(next(_staff)), language=language,
                             mobiles=mobiles)
    make_planned_visit(session, adult, [carer], start=start)
    session.commit()
    return adult.id, carer.id


def _log_in(session: Session, carer_id: int, adult_id: int, at) -> None:
    from ivr_gateway.config import KpiWindows

    record_log_event(session, LogRequest(
        channel=Channel.IVR, care_worker_id=carer_id, adult_id=adult_id, event_time=at,
        received_at=at, verification=Verification.CALLER_ID, source_sid=f"CA{at.timestamp()}"),
        windows=KpiWindows())
    session.commit()


def _one_minute_rungs(escalation: Escalation) -> None:
    escalation.settings = replace(escalation.settings, escalation=replace(
        escalation.settings.escalation, level_minutes=1))


def test_the_on_call_person_never_hears_before_the_coordinator_held_by_a_dead_sender(
        session: Session, escalation: Escalation) -> None:
    _one_minute_rungs(escalation)
    make_ladder(session, TUESDAY_9AM)
    _visit(session)
    escalation.tick()
    escalation.clock.set(TUESDAY_9AM + timedelta(minutes=30, seconds=1))
    run_escalation_tick(escalation.database, escalation.settings, escalation.clock)
    # A sender takes the coordinator's text and is killed before sending it (a 2-minute lease).
    with escalation.database.unit_of_work() as s:
        [_held] = claim_due(s, kinds=("sms",), now=escalation.clock.now(), limit=10,
                           lease=timedelta(minutes=2), worker="dead:1")
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=36), step=timedelta(seconds=30))
    sent = [s.to for s in escalation.sender.sent]
    assert sent[:2] == [COORDINATOR, ON_CALL]
    assert sent.count(COORDINATOR) == 1


def test_a_carer_who_texted_stop_is_not_reminded_and_the_office_hears_at_once(
        session: Session, escalation: Escalation, twilio: TwilioClient) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult_id, carer_id = _visit(session, mobiles=(CARER_MOBILE,))
    text(twilio, CARER_MOBILE, "STOP")  # through the real SMS webhook
    _log_in(session, carer_id, adult_id, TUESDAY_9AM)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=46))  # end 09:30 + 15: the chase
    assert escalation.texts(CARER_MOBILE) == []
    assert [(n.step, n.status) for n in escalation.notifications()] == [
        ("carer", "unreachable"), ("coordinator", "sent")]
    assert "texted STOP" in (escalation.notifications()[0].error or "")


def test_an_opted_out_coordinator_is_skipped_for_the_next_rung(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    session.add(SmsOptOut(number=COORDINATOR, opted_out=True, changed_at=TUESDAY_9AM))
    _visit(session)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))
    assert escalation.texts(COORDINATOR) == []
    assert [(n.to_number, n.status) for n in escalation.notifications()] == [
        (COORDINATOR, "unreachable"), (ON_CALL, "sent")]


def test_a_polish_carer_is_reminded_in_polish(session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult_id, carer_id = _visit(session, language="pl", mobiles=(CARER_MOBILE,))
    _log_in(session, carer_id, adult_id, TUESDAY_9AM)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=46))
    [reminder] = escalation.texts(CARER_MOBILE)
    assert reminder.startswith("Czy zapomniales sie wylogowac? J.S. visit 09:00-09:30.")
    assert is_one_segment(reminder)


def test_each_notification_shows_what_twilio_said_of_it(
        session: Session, escalation: Escalation, twilio: TwilioClient, api: Api) -> None:
    make_ladder(session, TUESDAY_9AM)
    _visit(session)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))

    def statuses() -> list[str]:
        [alert] = api.get("/alerts?state=unresolved").get_json()["alerts"]
        return [n["status"] for n in alert["notifications"]]

    assert statuses() == ["sent"]  # Twilio took it: no longer "queued"
    [sent] = escalation.sender.sent
    path = sent.status_callback.removeprefix("http://localhost")
    form = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered",
            "AccountSid": "AC" + "0" * 32}
    assert twilio.post(path, form).status_code == 204
    assert statuses() == ["delivered"]
    assert twilio.post(path, {**form, "MessageStatus": "failed"}, signature="forged"
                       ).status_code == 403
    assert statuses() == ["delivered"]


def test_a_night_call_nobody_answers_shows_no_answer(
        session: Session, escalation: Escalation, twilio: TwilioClient) -> None:
    night = TUESDAY_9AM + timedelta(hours=12)
    escalation.clock.set(night)
    make_ladder(session, night)
    _visit(session, start=night)
    escalation.tick()
    escalation.run_until(night + timedelta(minutes=31))
    [call] = [s for s in escalation.sender.sent if s.channel == "voice"]
    path = call.status_callback.removeprefix("http://localhost")
    assert twilio.post(path, {"CallSid": "CA" + "3" * 32, "CallStatus": "no-answer",
                              "AccountSid": "AC" + "0" * 32}).status_code == 204
    voice = [n for n in escalation.notifications() if n.channel.value == "voice"]
    assert (voice[0].to_number, voice[0].status) == (ON_CALL, "no-answer")


def test_in_a_storm_the_coordinator_gets_one_summary_text(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    for minute in range(30):
        _visit(session, start=TUESDAY_9AM + timedelta(seconds=minute))
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))
    # Past ALERT_TEXTS_PER_MINUTE (5) in one tick: one text for all 30 (tests/escalation/
    # test_storms.py follows a storm through its updates, the ladder and replies).
    [summary] = escalation.texts(COORDINATOR)
    assert summary.startswith("EHM: 30 alerts (30 late start): 1000 J.S., 1001 J.S., ")
    assert summary.endswith("See the board; reply ACK and a number.")
    assert is_one_segment(summary)
    assert len(escalation.alerts()) == 30
    assert sum(n.status == "summarised" for n in escalation.notifications()) == 30


def test_waiting_alerts_are_not_re_read_and_settle_after_their_day(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    visits = [_visit(session, start=TUESDAY_9AM + timedelta(seconds=n)) for n in range(3)]
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))
    assert len(escalation.alerts()) == 3
    assert may_have_settled(session) == []  # nobody logged in: nothing to re-check
    session.rollback()
    adult_id, carer_id = visits[0]
    _log_in(session, carer_id, adult_id, TUESDAY_9AM + timedelta(minutes=32))
    first = escalation.alerts()[0].planned_visit_id
    assert [a.planned_visit_id for a in may_have_settled(session)] == [first]
    session.rollback()  # no transaction left open: SQLite's writers queue behind it
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=33))
    assert escalation.alerts()[0].state is AlertState.RESOLVED
    escalation.clock.set(TUESDAY_9AM + timedelta(hours=26))
    escalation.tick()  # the two missed visits' alerts, raised when their deadline passed
    missed = [a for a in escalation.alerts() if a.kind is AlertKind.MISSED_VISIT]
    assert [a.state for a in missed] == [AlertState.OPEN, AlertState.OPEN]
    texts_before = len(escalation.sender.sent)
    escalation.clock.set(TUESDAY_9AM + timedelta(hours=52))
    escalation.tick()
    missed = [a for a in escalation.alerts() if a.kind is AlertKind.MISSED_VISIT]
    assert [a.state for a in missed] == [AlertState.RESOLVED, AlertState.RESOLVED]
    assert all((a.resolved_reason or "").startswith("past its day") for a in missed)
    # Nobody is texted "resolved" about a day that has gone.
    assert all("resolved" not in s.text for s in escalation.sender.sent[texts_before:])
