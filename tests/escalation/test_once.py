"""Once: a sender killed between Twilio's answer and its own commit sends nothing twice.

Twilio keeps no idempotency key, so the relay that takes over an expired lease asks Twilio's
REST API (a local fake here, driven by the real twilio client) whether the text or call went.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.jobs import alert_relay
from ivr_gateway.escalation.models import AlertNotification
from ivr_gateway.escalation.tick import run_escalation_tick
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.telephony.senders import TwilioSender
from tests.escalation.conftest import COORDINATOR, ON_CALL, TUESDAY_9AM, make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.fake_twilio_api import FakeTwilioApi, fake_twilio_api

GATEWAY_NUMBER = "+441134960000"


class Killed(BaseException):
    """The process dies here (SIGKILL): nothing after it runs, no transaction commits."""


class DyingSender:
    """Sends through Twilio, then dies before the relay can record it (or dies first)."""

    def __init__(self, twilio: TwilioSender, *, after_send: bool) -> None:
        self.twilio = twilio
        self.after_send = after_send

    def _die(self, send: Any) -> str:
        if self.after_send:
            send()
        raise Killed

    def send_text(self, to: str, body: str, status_callback: str, key: str) -> str:
        return self._die(lambda: self.twilio.send_text(to, body, status_callback, key))

    def place_call(self, to: str, twiml_url: str, status_callback: str, key: str) -> str:
        return self._die(lambda: self.twilio.place_call(to, twiml_url, status_callback, key))

    def find_sent(self, channel: str, to: str, body: str, key: str, since: datetime
                  ) -> str | None:
        return self.twilio.find_sent(channel, to, body, key, since)


def _alert_queued(session: Session, database: Database, settings: Settings, clock: FixedClock,
                  at: datetime) -> None:
    clock.set(at)
    make_ladder(session, at)
    make_planned_visit(session, make_adult(session), [make_care_worker(session)],
                       start=at - timedelta(minutes=31))
    session.commit()
    run_escalation_tick(database, settings, clock)


def _sender(api: FakeTwilioApi) -> TwilioSender:
    return TwilioSender("AC" + "0" * 32, "token", GATEWAY_NUMBER, api_base_url=api.base_url)


def _messages(database: Database) -> list[OutboxMessage]:
    with database.sessionmaker() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.mark.parametrize("channel", ["sms", "voice"])
def test_a_sender_killed_after_twilio_took_the_alert_does_not_send_it_again(
        session: Session, database: Database, settings: Settings, clock: FixedClock,
        channel: str) -> None:
    # In hours a text to the coordinator; at night a text and a call to the on-call person.
    at = TUESDAY_9AM if channel == "sms" else datetime(2026, 1, 13, 20, 0, tzinfo=UTC)
    with fake_twilio_api(now=clock.now) as api:
        _alert_queued(session, database, settings, clock, at)
        kinds = [m.kind for m in _messages(database)]
        for _ in range(kinds.index(channel)):  # what goes before it goes normally
            before = alert_relay(database, settings, clock, _sender(api))
            before.batch_size = 1
            before.run_once()
        dying = alert_relay(database, settings, clock, DyingSender(_sender(api),
                                                                    after_send=True))
        with pytest.raises(Killed):
            dying.run_once()
        created = api.messages if channel == "sms" else api.calls
        assert len(created) == 1

        clock.advance(seconds=31)  # the dead sender's lease (30 s) has run out
        alert_relay(database, settings, clock, _sender(api)).run_once()

        assert len(created) == 1, "sent twice"
        resource = "Messages" if channel == "sms" else "Calls"
        assert any(r.startswith("GET ") and f"/{resource}.json" in r and "To=%2B447911" in r
                   for r in api.requests)
        message = next(m for m in _messages(database) if m.kind == channel)
        assert message.status is OutboxStatus.SENT
        with database.sessionmaker() as s:
            notification = s.scalars(select(AlertNotification).where(
                AlertNotification.channel == channel)).one()
        assert (notification.status, notification.provider_sid) == ("sent", created[0]["sid"])
        assert notification.to_number == (COORDINATOR if channel == "sms" else ON_CALL)


def test_a_sender_killed_before_twilio_took_the_alert_sends_it_once_after_the_lease(
        session: Session, database: Database, settings: Settings, clock: FixedClock) -> None:
    with fake_twilio_api(now=clock.now) as api:
        _alert_queued(session, database, settings, clock, TUESDAY_9AM)
        with pytest.raises(Killed):
            alert_relay(database, settings, clock,
                        DyingSender(_sender(api), after_send=False)).run_once()
        assert api.messages == []
        clock.advance(seconds=20)  # still held by the dead sender's lease
        alert_relay(database, settings, clock, _sender(api)).run_once()
        assert api.messages == []
        clock.advance(seconds=11)
        alert_relay(database, settings, clock, _sender(api)).run_once()
        assert [(m["to"], m["from"]) for m in api.messages] == [(COORDINATOR, GATEWAY_NUMBER)]
        assert api.messages[0]["body"].startswith("EHM alert ")
        clock.advance(seconds=60)
        alert_relay(database, settings, clock, _sender(api)).run_once()
        assert len(api.messages) == 1
