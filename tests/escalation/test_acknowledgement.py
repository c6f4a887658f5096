"""Acknowledging: by text (ACK, ACK 4821), by key press on the alert call, by the API."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr_gateway.config import KpiWindows
from ivr_gateway.escalation.acknowledgement import parse_ack
from ivr_gateway.escalation.models import Alert, AlertKind, AlertState
from ivr_gateway.models import Channel, Verification
from ivr_gateway.visits.recording import LogRequest, record_log_event
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


@pytest.mark.parametrize(("text", "number"), [
    ("ACK", None), ("ack", None), ("  Ack  ", None), ("ACK 4821", 4821), ("ack4821", 4821),
    ("ACK #4821", 4821), ("Ack: 4821.", 4821), ("acknowledged 1000", 1000)])
def test_ack_texts_are_understood_whatever_the_case_and_spacing(text: str,
                                                               number: int | None) -> None:
    command = parse_ack(text)
    assert command is not None and command.number == number


@pytest.mark.parametrize("text", ["", "IN 123456", "back soon", "ACK ACK", "ACK 12 34", "A CK"])
def test_other_texts_are_not_acks(text: str) -> None:
    assert parse_ack(text) is None


_message_sids = itertools.count(1)


def _sms(twilio: TwilioClient, from_number: str, body: str) -> list[str]:
    response = twilio.post("/twilio/sms", {"From": from_number, "Body": body,
                                           "MessageSid": f"SM{next(_message_sids):032d}",
                                           "AccountSid": "AC" + "0" * 32})
    assert response.status_code == 200
    root = ET.fromstring(response.get_data())
    return [m.text or "" for m in root.iter("Message")]


def _two_alerts(session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    for start in (TUESDAY_9AM, TUESDAY_9AM + timedelta(minutes=1)):
        make_planned_visit(session, make_adult(session),
                           [make_care_worker(session, staff_number=f"{start.minute + 3000}")],
                           start=start)
    session.commit()
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=32))


def test_ack_by_text_takes_the_newest_alert_sent_to_that_phone_and_stops_its_climb(
        session: Session, escalation: Escalation, twilio: TwilioClient) -> None:
    _two_alerts(session, escalation)
    first, second = escalation.alerts()
    [reply] = _sms(twilio, "07911 123501", "ack")  # national format: normalised to E.164
    assert reply.startswith(f"Thank you. Alert {second.number} acknowledged")
    first, second = escalation.alerts()
    assert (second.state, second.acknowledged_by, second.acknowledged_via) == (
        AlertState.ACKNOWLEDGED, "Sam Carter", "sms")
    assert first.state is AlertState.OPEN
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=50))
    on_call_told = {n.alert_id for n in escalation.notifications() if n.to_number == ON_CALL}
    assert on_call_told == {first.id}


def test_ack_naming_an_alert_acknowledges_that_one_and_a_second_ack_is_told_who_was_first(
        session: Session, escalation: Escalation, twilio: TwilioClient) -> None:
    _two_alerts(session, escalation)
    first, _second = escalation.alerts()
    [reply] = _sms(twilio, COORDINATOR, f"ACK {first.number}")
    assert reply.startswith(f"Thank you. Alert {first.number} acknowledged")
    [again] = _sms(twilio, COORDINATOR, f"ACK {first.number}")
    assert again == f"Alert {first.number} was already acknowledged by Sam Carter at 09:32."
    [unknown] = _sms(twilio, COORDINATOR, "ACK 9999")
    assert unknown.startswith("There is no alert 9999.")


def test_an_ack_from_a_number_that_is_not_an_office_contact_acknowledges_nothing(
        session: Session, escalation: Escalation, twilio: TwilioClient) -> None:
    _two_alerts(session, escalation)
    [reply] = _sms(twilio, "+447911123999", "ACK")
    assert reply.startswith("This mobile is not registered")  # the SMS webhook's answer
    assert all(a.state is AlertState.OPEN for a in escalation.alerts())


def test_others_told_hear_who_acknowledged(session: Session, escalation: Escalation,
                                          twilio: TwilioClient) -> None:
    make_ladder(session, TUESDAY_9AM)
    make_planned_visit(session, make_adult(session), [make_care_worker(session)],
                       start=TUESDAY_9AM)
    session.commit()
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=47))  # coordinator, then on-call
    _sms(twilio, ON_CALL, "ACK")
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=48))
    [alert] = escalation.alerts()
    assert escalation.texts(COORDINATOR)[-1] == (
        f"EHM alert {alert.number} acknowledged by O.B. at 09:47. No action needed.")
    assert len(escalation.texts(ON_CALL)) == 1  # the one who acknowledged is not told again
    assert escalation.texts(MANAGER) == []


def test_key_one_on_the_alert_call_acknowledges(session: Session, escalation: Escalation,
                                               twilio: TwilioClient) -> None:
    night = datetime(2026, 1, 13, 22, 0, tzinfo=UTC)
    escalation.clock.set(night)
    make_ladder(session, night)
    make_planned_visit(session, make_adult(session), [make_care_worker(session)], start=night)
    session.commit()
    escalation.tick()
    escalation.run_until(night + timedelta(minutes=31))
    [call] = [s for s in escalation.sender.sent if s.channel == "voice"]
    [alert] = escalation.alerts()
    answered = twilio.post_twiml(call.url, {"CallSid": "CA" + "5" * 32, "To": ON_CALL,
                                            "CallStatus": "in-progress"})
    gather = answered.gather()
    assert gather is not None and gather.attrib["numDigits"] == "1"
    assert answered.said()[0] == (f"Care alert {' '.join(str(alert.number))}. J.S. visit 22:00 "
                                  "not started, nobody logged in. Press 1 to acknowledge.")
    pressed = twilio.post_twiml(gather.attrib["action"], {"CallSid": "CA" + "5" * 32,
                                                          "Digits": "1"})
    assert pressed.verbs() == ["Say", "Hangup"]
    assert pressed.said()[0].startswith(f"Thank you. Alert {alert.number} acknowledged")
    [alert] = escalation.alerts()
    assert (alert.state, alert.acknowledged_by, alert.acknowledged_via) == (
        AlertState.ACKNOWLEDGED, "Olu Bello", "voice")
    # The call's completed status lands on the notification.
    twilio.post(call.status_callback.removeprefix("http://localhost"),
                {"CallSid": "CA" + "5" * 32, "CallStatus": "completed"})
    assert [n.status for n in escalation.notifications() if n.channel.value == "voice"] == [
        "completed"]


def test_alert_call_with_a_wrong_token_acknowledges_nothing(
        session: Session, escalation: Escalation, twilio: TwilioClient) -> None:
    night = datetime(2026, 1, 13, 22, 0, tzinfo=UTC)
    escalation.clock.set(night)
    make_ladder(session, night)
    make_planned_visit(session, make_adult(session), [make_care_worker(session)], start=night)
    session.commit()
    escalation.tick()
    escalation.run_until(night + timedelta(minutes=31))
    [call] = [s for s in escalation.sender.sent if s.channel == "voice"]
    key_url = call.url.replace("/twilio/alert-call/2?", "/twilio/alert-call/2/key?")
    forged = twilio.post_twiml(key_url.split("token=")[0] + "token=0000", {"Digits": "1"})
    assert forged.said() == ["This alert link is not valid. Goodbye."]
    assert escalation.alerts()[0].state is AlertState.OPEN
    unsigned = twilio.post(key_url, {"Digits": "1"}, signature="nope")
    assert unsigned.status_code == 403
    assert escalation.alerts()[0].state is AlertState.OPEN


def _late_alert_at(session: Session, escalation: Escalation, start: datetime) -> None:
    make_planned_visit(session, make_adult(session),
                       [make_care_worker(session, staff_number=f"{start.hour + 3100}")],
                       start=start)
    session.commit()
    escalation.run_until(start + timedelta(minutes=31))


def test_a_number_still_held_by_an_unresolved_alert_is_skipped_when_numbers_come_round(
        session: Session, escalation: Escalation, twilio: TwilioClient) -> None:
    make_ladder(session, TUESDAY_9AM)
    escalation.tick()
    _late_alert_at(session, escalation, TUESDAY_9AM)
    [waiting] = escalation.alerts()
    assert waiting.number == 1000
    # 8998 alerts later (stood in for by one resolved alert numbered 9999), numbering comes
    # round to 1000 again while the first alert is still waiting.
    session.add(Alert(number=9999, kind=AlertKind.FORWARDING_FAILED, subject_key="outbox:0",
                      summary="council record 0 refused", state=AlertState.RESOLVED,
                      deadline_at=TUESDAY_9AM, raised_at=TUESDAY_9AM))
    session.commit()
    _late_alert_at(session, escalation, TUESDAY_9AM + timedelta(hours=1))
    first, _filler, second = escalation.alerts()
    assert (first.number, second.number) == (1000, 1001)
    [reply] = _sms(twilio, COORDINATOR, "ACK 1000")
    assert reply.startswith("Thank you. Alert 1000 acknowledged")
    first, _filler, second = escalation.alerts()
    assert first.state is AlertState.ACKNOWLEDGED and second.state is AlertState.OPEN


def test_unresolved_alerts_can_never_share_a_number(session: Session) -> None:
    for subject in ("visit:1", "visit:2"):
        session.add(Alert(number=4821, kind=AlertKind.LATE_START, subject_key=subject,
                          summary="J.S. visit 09:00 not started", state=AlertState.OPEN,
                          deadline_at=TUESDAY_9AM, raised_at=TUESDAY_9AM))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_ack_by_number_reaches_only_an_alert_sent_to_that_phone(
        session: Session, escalation: Escalation, twilio: TwilioClient) -> None:
    make_ladder(session, TUESDAY_9AM)
    adult = make_adult(session)
    carer = make_care_worker(session, staff_number="3500")
    make_planned_visit(session, adult, [carer], start=TUESDAY_9AM)
    session.commit()
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))  # the coordinator is told
    record_log_event(session, LogRequest(
        channel=Channel.IVR, care_worker_id=carer.id, adult_id=adult.id,
        event_time=TUESDAY_9AM + timedelta(minutes=33), received_at=TUESDAY_9AM,
        verification=Verification.CALLER_ID, source_sid="CA" + "7" * 32), KpiWindows())
    session.commit()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=34))  # resolved by the log-in
    # At night a new alert reaches the on-call person only; say numbering has come round to
    # the number the coordinator was texted in the morning.
    night = datetime(2026, 1, 13, 22, 0, tzinfo=UTC)
    escalation.clock.set(night)
    _late_alert_at(session, escalation, night)
    def late() -> list[Alert]:
        return [a for a in escalation.alerts() if a.kind is AlertKind.LATE_START]

    morning, evening = late()
    assert morning.state is AlertState.RESOLVED and evening.state is AlertState.OPEN
    session.execute(update(Alert).where(Alert.id == evening.id).values(number=morning.number))
    session.commit()
    n = morning.number
    # The coordinator's late reply about the morning alert does not take the evening one.
    [late_reply] = _sms(twilio, COORDINATOR, f"ACK {n}")
    assert late_reply.startswith(f"Alert {n} is already resolved: A.J. logged in")
    [manager] = _sms(twilio, MANAGER, f"ACK {n}")
    assert manager.startswith(f"Alert {n} was not sent to this phone")
    assert late()[1].state is AlertState.OPEN
    [on_call] = _sms(twilio, ON_CALL, f"ACK {n}")
    assert on_call.startswith(f"Thank you. Alert {n} acknowledged")
    assert late()[1].state is AlertState.ACKNOWLEDGED
