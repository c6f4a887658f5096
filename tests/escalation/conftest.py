"""Escalation test helpers: contacts on the ladder, a tick, and what left through the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.contacts import add_contact, add_on_call
from ivr_gateway.escalation.jobs import alert_relay
from ivr_gateway.escalation.models import Alert, AlertNotification
from ivr_gateway.escalation.tick import TickResult, run_escalation_tick
from ivr_gateway.outbox.models import OutboxMessage
from ivr_gateway.telephony.senders import RecordingSender
from tests.api.conftest import api, api_token  # noqa: F401 - the API tests' fixtures

# A Tuesday in winter: 09:00 London is 09:00 UTC (office hours 08:00-18:00 Mon-Fri).
TUESDAY_9AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
COORDINATOR = "+447911123501"
ON_CALL = "+447911123502"
MANAGER = "+447911123503"
CARER_MOBILE = "+447911123601"


@dataclass
class Ladder:
    """The office contacts of a test: ids by role."""

    coordinator: int
    on_call: int
    manager: int


def make_ladder(session: Session, now: datetime, *, on_call_hours: float = 48) -> Ladder:
    """A coordinator, an on-call person (on call from now for on_call_hours) and a manager."""
    coordinator = add_contact(session, name="Sam Carter", role="coordinator", mobile=COORDINATOR,
                              now=now, actor="test")
    on_call = add_contact(session, name="Olu Bello", role="on_call", mobile=ON_CALL, now=now,
                          actor="test")
    manager = add_contact(session, name="Rita Patel", role="manager", mobile=MANAGER, now=now,
                          actor="test")
    if on_call_hours:
        add_on_call(session, contact_id=on_call.id, starts_at=now - timedelta(hours=1),
                    ends_at=now + timedelta(hours=on_call_hours), now=now, actor="test")
    session.commit()
    return Ladder(coordinator.id, on_call.id, manager.id)


class Escalation:
    """Runs ticks and the alert relay in fake time and reads back what was sent."""

    def __init__(self, database: Database, settings: Settings, clock: FixedClock) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self.sender = RecordingSender()
        self.relay = alert_relay(database, settings, clock, self.sender)

    def tick(self) -> TickResult:
        """One tick, then the relay drains what is due."""
        result = run_escalation_tick(self.database, self.settings, self.clock)
        while self.relay.run_once().claimed:
            pass
        return result

    def run_until(self, until: datetime, step: timedelta = timedelta(minutes=1)) -> None:
        """Tick every `step` of fake time up to and including `until`."""
        while self.clock.now() < until:
            self.clock.advance(seconds=step.total_seconds())
            self.tick()

    def texts(self, to: str | None = None) -> list[str]:
        """Texts sent so far (to one number, or all)."""
        return [s.text for s in self.sender.sent if s.channel == "sms" and to in (None, s.to)]

    def calls(self, to: str | None = None) -> list[str]:
        """Numbers rung so far."""
        return [s.to for s in self.sender.sent if s.channel == "voice" and to in (None, s.to)]

    def alerts(self) -> list[Alert]:
        """Every alert, oldest first."""
        with self.database.sessionmaker() as session:
            return list(session.scalars(select(Alert).order_by(Alert.id)))

    def notifications(self) -> list[AlertNotification]:
        """Every notification, oldest first."""
        with self.database.sessionmaker() as session:
            return list(session.scalars(select(AlertNotification).order_by(AlertNotification.id)))

    def outbox(self) -> list[dict[str, Any]]:
        """Every outbox payload of the alert kinds."""
        with self.database.sessionmaker() as session:
            return [dict(m.payload, kind=m.kind, status=m.status.value) for m in session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind.in_(["sms", "voice"]))
                .order_by(OutboxMessage.id))]


@pytest.fixture
def clock() -> FixedClock:
    """Tuesday 09:00, inside office hours."""
    return FixedClock(TUESDAY_9AM)


@pytest.fixture
def escalation(database: Database, settings: Settings, clock: FixedClock) -> Escalation:
    """Ticks and the relay on the test database, in fake time."""
    return Escalation(database, settings, clock)
