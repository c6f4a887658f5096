"""The ladder in fake time: coordinator -> on-call -> manager, out of hours, failed deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from ivr_gateway.escalation.models import AlertState
from tests.escalation.conftest import (
    COORDINATOR,
    MANAGER,
    ON_CALL,
    TUESDAY_9AM,
    Escalation,
    make_ladder,
)
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.twilio_client import TwilioClient


def _late_visit(session: Session, start: datetime) -> None:
    make_planned_visit(session, make_adult(session), [make_care_worker(session)], start=start)
    session.commit()


def test_in_hours_the_ladder_climbs_every_fifteen_minutes_by_text(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    _late_visit(session, TUESDAY_9AM)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))
    assert [n.to_number for n in escalation.notifications()] == [COORDINATOR]
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=45))
    assert [n.to_number for n in escalation.notifications()] == [COORDINATOR]
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=46))
    assert [n.to_number for n in escalation.notifications()] == [COORDINATOR, ON_CALL]
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=61))
    assert [(n.step, n.to_number) for n in escalation.notifications()] == [
        ("coordinator", COORDINATOR), ("on_call", ON_CALL), ("manager", MANAGER)]
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=90))
    assert len(escalation.notifications()) == 3  # the top has been told; no repeats
    assert escalation.calls() == []


def test_out_of_hours_the_on_call_person_is_rung_and_texted_first(
        session: Session, escalation: Escalation) -> None:
    evening = datetime(2026, 1, 13, 19, 0, tzinfo=UTC)  # Tuesday 19:00: office closed
    escalation.clock.set(evening)
    make_ladder(session, evening)
    _late_visit(session, evening)
    escalation.tick()
    escalation.run_until(evening + timedelta(minutes=31))
    assert [(n.step, n.channel.value, n.to_number) for n in escalation.notifications()] == [
        ("on_call", "sms", ON_CALL), ("on_call", "voice", ON_CALL)]
    assert escalation.calls() == [ON_CALL]
    escalation.run_until(evening + timedelta(minutes=46))
    assert escalation.calls() == [ON_CALL, MANAGER]
    assert COORDINATOR not in {n.to_number for n in escalation.notifications()}


def test_with_nobody_on_call_a_night_alert_goes_to_the_manager(
        session: Session, escalation: Escalation) -> None:
    night = datetime(2026, 1, 14, 2, 0, tzinfo=UTC)
    escalation.clock.set(night)
    make_ladder(session, night, on_call_hours=0)
    _late_visit(session, night)
    escalation.tick()
    escalation.run_until(night + timedelta(minutes=31))
    assert escalation.calls() == [MANAGER]


def test_a_failed_text_moves_the_alert_to_the_next_contact_at_once(
        session: Session, escalation: Escalation, twilio: TwilioClient) -> None:
    make_ladder(session, TUESDAY_9AM)
    _late_visit(session, TUESDAY_9AM)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))
    [sent] = escalation.sender.sent
    assert sent.status_callback.endswith("/twilio/status?notification=1")
    path = sent.status_callback.removeprefix("http://localhost")
    form = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "sent", "AccountSid": "AC" + "0" * 32}
    assert twilio.post(path, form).status_code == 204
    assert twilio.post(path, {**form, "MessageStatus": "undelivered", "ErrorCode": "30003"}
                       ).status_code == 204
    assert twilio.post(path, {**form, "MessageStatus": "sent"}).status_code == 204  # late: kept
    [notification] = escalation.notifications()
    assert (notification.status, notification.error) == ("undelivered", "Twilio error 30003")
    assert notification.provider_sid == f"REC{1:032d}"  # the SID the send itself returned
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=32))  # not 46: moves on at once
    assert [n.to_number for n in escalation.notifications()] == [COORDINATOR, ON_CALL]


def test_an_unsigned_status_callback_changes_nothing(session: Session, escalation: Escalation,
                                                     twilio: TwilioClient) -> None:
    make_ladder(session, TUESDAY_9AM)
    _late_visit(session, TUESDAY_9AM)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))
    response = twilio.post("/twilio/status?notification=1", {"MessageStatus": "failed"},
                           signature="forged")
    assert response.status_code == 403
    assert escalation.notifications()[0].status == "sent"  # as the relay left it


def test_a_refused_number_is_treated_as_a_failed_delivery(
        session: Session, escalation: Escalation) -> None:
    from ivr_gateway.telephony.senders import SendError

    make_ladder(session, TUESDAY_9AM)
    _late_visit(session, TUESDAY_9AM)

    def refuse(to: str, body: str, status_callback: str, key: str) -> str:
        raise SendError("Twilio 400 (code 21211): invalid 'To'", permanent=True)

    escalation.sender.send_text = refuse  # type: ignore[method-assign]
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=32))
    notifications = escalation.notifications()
    assert notifications[0].status == "refused"
    assert [n.to_number for n in notifications] == [COORDINATOR, ON_CALL]


def test_acknowledged_alert_stops_climbing_but_still_resolves_with_notice(
        session: Session, escalation: Escalation) -> None:
    from ivr_gateway.escalation.acknowledgement import acknowledge_by_text
    from ivr_gateway.models import Channel, Verification
    from ivr_gateway.visits.recording import LogRequest, record_log_event

    make_ladder(session, TUESDAY_9AM)
    adult = make_adult(session)
    carer = make_care_worker(session)
    make_planned_visit(session, adult, [carer], start=TUESDAY_9AM)
    session.commit()
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))
    with escalation.database.unit_of_work() as s:
        reply = acknowledge_by_text(s, COORDINATOR, "ack", escalation.clock.now())
    assert reply is not None and reply.startswith("Thank you. Alert")
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=70))
    assert [n.to_number for n in escalation.notifications()] == [COORDINATOR]
    at = TUESDAY_9AM + timedelta(minutes=71)
    from ivr_gateway.config import KpiWindows

    record_log_event(session, LogRequest(Channel.IVR, carer.id, adult.id, at, at,
                                         Verification.CALLER_ID, source_sid="CA9"), KpiWindows())
    session.commit()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=72))
    [alert] = escalation.alerts()
    assert alert.state is AlertState.RESOLVED
    assert escalation.texts(COORDINATOR)[-1].endswith("A.J. logged in at J.S. 10:11. No action "
                                                      "needed.")
