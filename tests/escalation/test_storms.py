"""A storm ("nobody logged in by 9 am"): each office phone gets one summary text, then at most an
update every ALERT_STORM_UPDATE_MINUTES while it lasts, rather than hundreds; the alerts in it
count as told, can be acknowledged by reply, still climb the ladder in order; texts resume once
the storm has passed."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.escalation.models import AlertNotification, AlertState, NotificationPurpose
from ivr_gateway.escalation.notifications import HELD, SUMMARISED
from ivr_gateway.escalation.wording import is_one_segment
from ivr_gateway.models import SmsOptOut
from ivr_gateway.outbox.models import OutboxMessage
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

_staff = itertools.count(5000)
_message_sids = itertools.count(1)
HALF_MINUTE = timedelta(seconds=30)


def _visits(session: Session, starts: list[datetime]) -> None:
    """One visit (a client and a carer of its own) starting at each time; nobody will come."""
    for start in starts:
        make_planned_visit(session, make_adult(session),
                           [make_care_worker(session, staff_number=str(next(_staff)))],
                           start=start)
    session.commit()


def _sms(twilio: TwilioClient, from_number: str, body: str) -> list[str]:
    response = twilio.post("/twilio/sms", {"From": from_number, "Body": body,
                                           "MessageSid": f"SM{next(_message_sids):032d}",
                                           "AccountSid": "AC" + "0" * 32})
    assert response.status_code == 200
    return [m.text or "" for m in ET.fromstring(response.get_data()).iter("Message")]


def _messages_by_level(session: Session) -> dict[int, dict[int, OutboxMessage]]:
    """alert id -> ladder level -> the outbox message that told that rung (own or storm)."""
    found: dict[int, dict[int, OutboxMessage]] = {}
    for notification, message in session.execute(
            select(AlertNotification, OutboxMessage)
            .join(OutboxMessage, OutboxMessage.id == AlertNotification.outbox_message_id)
            .where(AlertNotification.purpose == NotificationPurpose.ALERT)):
        found.setdefault(notification.alert_id, {})[notification.level] = message
    return found


def test_a_storm_gives_each_phone_one_summary_then_one_update_and_the_ladder_keeps_order(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    # 40 visits whose late deadline (30 minutes) passes in one tick, then 40 more over the next
    # 20 minutes (one every 30 seconds): a morning nobody logged in.
    _visits(session, [TUESDAY_9AM] * 40)
    _visits(session, [TUESDAY_9AM + HALF_MINUTE * (n + 1) for n in range(40)])
    escalation.tick()
    storming = escalation.tick()
    while not storming.raised:  # on to the tick where the first forty fall due
        escalation.clock.advance(seconds=HALF_MINUTE.total_seconds())
        storming = escalation.tick()
    assert len(storming.raised) == 40 and storming.notified == 1  # one summary text
    assert list(storming.phases) == ["raise", "settle", "climb", "flush"]  # the bench's phases
    assert all(seconds >= 0 for seconds in storming.phases.values())
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=110), step=HALF_MINUTE)

    assert len(escalation.alerts()) == 80
    for phone in (COORDINATOR, ON_CALL, MANAGER):
        texts = escalation.texts(phone)
        assert len(texts) == 2, (phone, texts)  # one summary, one update: not 80 texts
        summary, update = texts
        assert summary.startswith("EHM: 40 alerts (40 late start): "), summary
        assert re.match(r"EHM: 40 more alerts since \d\d:\d\d \(40 late start\), 80 waiting",
                        update), update
        assert all(is_one_segment(t) and t.endswith("See the board; reply ACK and a number.")
                   for t in texts)
        assert "Smith" not in summary and "J.S." in summary  # initials only
    assert escalation.calls() == []  # office hours: texts only

    alerts = escalation.alerts()
    assert {n.status for n in escalation.notifications()} == {SUMMARISED}  # none left held
    with escalation.database.sessionmaker() as s:
        told = _messages_by_level(s)
        for alert in alerts:
            levels = told[alert.id]
            assert sorted(levels) == [1, 2, 3], alert.id  # every rung told of every alert
            for lower, higher in ((1, 2), (2, 3)):
                assert levels[lower].sent_at is not None
                # Never a later rung before an earlier one: the next rung's text is queued only
                # after the earlier rung's text (summary or update) has left.
                assert levels[higher].created_at >= levels[lower].sent_at, alert.id
        # The 40 that fell due at once were told within the tick: the summary is their first
        # message (deadline -> summary queued), well under a minute.
        first_forty = [a for a in alerts if a.deadline_at == TUESDAY_9AM + timedelta(minutes=30)]
        assert len(first_forty) == 40
        for alert in first_forty:
            assert (told[alert.id][1].created_at - alert.deadline_at) <= HALF_MINUTE


def test_a_quiet_day_gets_one_text_an_alert_and_texts_resume_after_a_storm(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    _visits(session, [TUESDAY_9AM, TUESDAY_9AM + timedelta(minutes=2)])  # quiet: two alerts
    _visits(session, [TUESDAY_9AM + timedelta(minutes=5)] * 10)  # a storm at 09:35
    _visits(session, [TUESDAY_9AM + timedelta(minutes=70)])  # 10:40: the storm long passed
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=101), step=HALF_MINUTE)
    texts = escalation.texts(COORDINATOR)
    assert [t[:10] for t in texts] == ["EHM alert ", "EHM alert ", "EHM: 10 al", "EHM alert "]
    assert texts[2].startswith("EHM: 10 alerts (10 late start): ")
    # Nothing more came in the storm's half hour, so it had no update, and then it passed.
    assert all(n.status != HELD for n in escalation.notifications())


def test_alerts_in_a_storm_are_acknowledged_by_reply_and_stop_climbing(
        session: Session, escalation: Escalation, twilio: TwilioClient) -> None:
    make_ladder(session, TUESDAY_9AM)
    _visits(session, [TUESDAY_9AM] * 8)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31), step=HALF_MINUTE)
    [summary] = escalation.texts(COORDINATOR)
    named = int(re.findall(r"\b(\d{4}) J\.S\.", summary)[1])  # the second alert it lists
    [reply] = _sms(twilio, COORDINATOR, f"ACK {named}")
    assert reply.startswith(f"Thank you. Alert {named} acknowledged")
    [reply] = _sms(twilio, COORDINATOR, "ACK")  # the newest alert sent to this phone
    newest = max(escalation.alerts(), key=lambda a: a.id)
    assert reply.startswith(f"Thank you. Alert {newest.number} acknowledged")
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=47), step=HALF_MINUTE)
    acknowledged = {a.id for a in escalation.alerts() if a.state is AlertState.ACKNOWLEDGED}
    assert len(acknowledged) == 2
    on_call_told = {n.alert_id for n in escalation.notifications() if n.to_number == ON_CALL
                    and n.purpose is NotificationPurpose.ALERT}
    assert len(on_call_told) == 6 and not on_call_told & acknowledged
    # The on-call person's storm began with the six still open: one summary, no update yet.
    [on_call_summary] = escalation.texts(ON_CALL)
    assert on_call_summary.startswith("EHM: 6 alerts (6 late start): ")


def test_an_opted_out_coordinator_gets_no_storm_text_and_the_ladder_goes_on(
        session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    session.add(SmsOptOut(number=COORDINATOR, opted_out=True, changed_at=TUESDAY_9AM))
    _visits(session, [TUESDAY_9AM] * 10)
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31), step=HALF_MINUTE)
    assert escalation.texts(COORDINATOR) == []
    [summary] = escalation.texts(ON_CALL)  # at once, not a rung's time later
    assert summary.startswith("EHM: 10 alerts (10 late start): ")
    coordinator = [n.status for n in escalation.notifications() if n.to_number == COORDINATOR]
    assert coordinator == ["unreachable"] * 10


def test_at_night_a_storm_rings_each_person_once_and_an_unanswered_call_climbs_them_all(
        session: Session, escalation: Escalation, twilio: TwilioClient) -> None:
    night = datetime(2026, 1, 13, 22, 0, tzinfo=UTC)
    escalation.clock.set(night)
    make_ladder(session, night)
    _visits(session, [night] * 12)
    escalation.tick()
    escalation.run_until(night + timedelta(minutes=31), step=HALF_MINUTE)
    # The on-call person is the first rung at night: one text and ONE call, not 12 of each.
    assert escalation.calls() == [ON_CALL]
    [summary] = escalation.texts(ON_CALL)
    assert summary.startswith("EHM: 12 alerts (12 late start): ")
    [call] = [s for s in escalation.sender.sent if s.channel == "voice"]
    answered = twilio.post_twiml(call.url, {"CallSid": "CA" + "7" * 32, "To": ON_CALL,
                                            "CallStatus": "in-progress"})
    assert answered.gather() is None  # no single alert to press 1 for
    assert answered.said()[0] == ("Care alerts. 12 alerts need the office: 12 late start. They "
                                  "are on the board, with a text to this phone.")
    assert twilio.post(call.status_callback.removeprefix("http://localhost"),
                       {"CallSid": "CA" + "7" * 32, "CallStatus": "no-answer",
                        "AccountSid": "AC" + "0" * 32}).status_code == 204
    voice = [n for n in escalation.notifications() if n.channel.value == "voice"]
    assert [n.status for n in voice] == ["no-answer"] * 12
    escalation.run_until(night + timedelta(minutes=32), step=HALF_MINUTE)
    # Nobody answered for any of them: all twelve go to the manager now, as one storm again.
    assert escalation.calls() == [ON_CALL, MANAGER]
    [manager_summary] = escalation.texts(MANAGER)
    assert manager_summary.startswith("EHM: 12 alerts (12 late start): ")


def test_alerts_acknowledged_in_a_storm_are_one_line_of_the_next_update_not_a_text_each(
        session: Session, escalation: Escalation, twilio: TwilioClient) -> None:
    make_ladder(session, TUESDAY_9AM)
    _visits(session, [TUESDAY_9AM] * 8)
    escalation.tick()
    # 09:30 the coordinator's storm summary; a rung (15 minutes) on, the on-call person's.
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=50), step=HALF_MINUTE)
    [on_call_summary] = escalation.texts(ON_CALL)
    assert on_call_summary.startswith("EHM: 8 alerts (8 late start): ")
    numbers = sorted(a.number for a in escalation.alerts())
    for number in numbers[:5]:  # the coordinator takes five, one reply each
        [reply] = _sms(twilio, COORDINATOR, f"ACK {number}")
        assert reply.startswith(f"Thank you. Alert {number} acknowledged")
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=80), step=HALF_MINUTE)
    texts = escalation.texts(ON_CALL)
    assert not [t for t in texts if "acknowledged by" in t]  # not five texts of their own
    assert len(texts) == 2 and re.match(
        r"EHM: no new alerts since \d\d:\d\d, 5 acknowledged, 3 waiting\. See the board",
        texts[1]), texts
    acknowledged = [n for n in escalation.notifications()
                    if n.purpose is NotificationPurpose.ACKNOWLEDGED]
    assert {n.to_number for n in acknowledged} == {ON_CALL}
    assert {n.status for n in acknowledged} == {SUMMARISED}  # told, in that update
