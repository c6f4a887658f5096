"""The demo: an alert is raised within a couple of minutes of starting, and can be acknowledged."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.demo import load_demo_rota
from ivr_gateway.escalation.demo import load_demo_contacts
from ivr_gateway.escalation.models import AlertKind, AlertState
from tests.api.conftest import Api
from tests.escalation.conftest import Escalation


def test_demo_raises_a_late_start_within_two_minutes_and_it_can_be_acknowledged(
        session: Session, escalation: Escalation, settings: Settings, api: Api) -> None:
    started = escalation.clock.now()
    load_demo_rota(session, started, settings)
    contacts = load_demo_contacts(session, started)
    session.commit()
    escalation.tick()
    escalation.run_until(started + timedelta(minutes=2, seconds=30),
                         step=timedelta(seconds=30))  # the real tick interval
    demo7 = [a for a in escalation.alerts() if a.summary.startswith("M.B.")]
    assert [a.kind for a in demo7] == [AlertKind.LATE_START]
    assert demo7[0].raised_at - started <= timedelta(minutes=2, seconds=30)
    coordinator = contacts[0].mobile
    assert any(t.startswith(f"EHM alert {demo7[0].number}: M.B.")
               for t in escalation.texts(coordinator))
    acked = api.post(f"/alerts/{demo7[0].id}/acknowledge", {"by": "Sam Carter"})
    assert acked.get_json()["acknowledged"] is True
    assert [a.state for a in escalation.alerts() if a.id == demo7[0].id] == [
        AlertState.ACKNOWLEDGED]
