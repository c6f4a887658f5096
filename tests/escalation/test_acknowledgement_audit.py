"""One acknowledgement, one audit entry of one shape, whichever door it came through: the
dashboard, the API, the CLI, an ACK text or key 1 on the alert call all go through
escalation/acknowledgement.py:acknowledge()."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.cli import main
from ivr_gateway.db import Database
from ivr_gateway.escalation.models import Alert, AlertState
from ivr_gateway.models import AuditEntry
from tests.api.conftest import Api
from tests.escalation.conftest import COORDINATOR, ON_CALL, TUESDAY_9AM, Escalation, make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.office import conftest as office_fixtures
from tests.office.conftest import Office
from tests.twilio_client import TwilioClient

# The dashboard's fixtures: coordinator "cora" logged in at /office/.
office = office_fixtures.office
coordinator = office_fixtures.coordinator
as_coordinator = office_fixtures.as_coordinator

NIGHT = datetime(2026, 1, 13, 22, 0, tzinfo=UTC)  # out of hours: the on-call phone is rung


def _raise_alert(session: Session, escalation: Escalation, start: datetime) -> tuple[Alert, str]:
    escalation.clock.set(start)
    make_ladder(session, start)
    visit = make_planned_visit(session, make_adult(session), [make_care_worker(session)],
                               start=start)
    session.commit()
    escalation.tick()
    escalation.run_until(start + timedelta(minutes=31))
    [alert] = escalation.alerts()
    assert alert.state is AlertState.OPEN
    return alert, visit.ref


def _audit(database: Database) -> list[AuditEntry]:
    with database.unit_of_work() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.action == "acknowledge_alert")))


def _by_dashboard(alert: Alert, as_coordinator: Office, **_: Any) -> None:
    as_coordinator.post(f"/office/alerts/{alert.id}/acknowledge", {"note": "Rang Amy"})


def _by_api(alert: Alert, api: Api, **_: Any) -> None:
    response = api.post(f"/alerts/{alert.id}/acknowledge", {"by": "Jo", "note": "Rang Amy"})
    assert response.status_code == 200


def _by_cli(alert: Alert, database: Database, session: Session, **_: Any) -> None:
    session.rollback()  # SQLite: release this session's read lock before the CLI writes
    result = CliRunner().invoke(main, ["alerts", "ack", str(alert.id), "--note", "Rang Amy"],
                                env={"DATABASE_URL": database.url})
    assert result.exit_code == 0, result.output


def _by_text(alert: Alert, twilio: TwilioClient, **_: Any) -> None:
    response = twilio.post("/twilio/sms", {"From": COORDINATOR, "Body": f"ACK {alert.number}",
                                           "MessageSid": "SM" + "7" * 32,
                                           "AccountSid": "AC" + "0" * 32})
    [reply] = [m.text for m in ET.fromstring(response.get_data()).iter("Message")]
    assert reply is not None and reply.startswith("Thank you.")


DOORS = {
    # door: (acknowledge, when, the audit actor: the door and who came through it, note kept)
    "dashboard": (_by_dashboard, TUESDAY_9AM, "office:cora", True),
    "api": (_by_api, TUESDAY_9AM, "api:rostering", True),
    "cli": (_by_cli, TUESDAY_9AM, "cli:", True),
    "sms": (_by_text, TUESDAY_9AM, "sms:Sam Carter", False),
}


@pytest.mark.parametrize("door", list(DOORS))
def test_each_door_writes_the_same_audit_entry(
        door: str, session: Session, database: Database, escalation: Escalation,
        as_coordinator: Office, api: Api, twilio: TwilioClient) -> None:
    acknowledge_by, start, actor, with_note = DOORS[door]
    alert, ref = _raise_alert(session, escalation, start)
    acknowledge_by(alert, as_coordinator=as_coordinator, api=api, database=database,
                   session=session, twilio=twilio)
    [acknowledged] = escalation.alerts()
    assert acknowledged.state is AlertState.ACKNOWLEDGED
    assert acknowledged.acknowledged_via == door
    [audit] = _audit(database)
    assert (audit.action, audit.entity, audit.entity_ref) == ("acknowledge_alert",
                                                              "planned_visit", ref)
    assert audit.actor.startswith(actor)
    expected = {"alert_id": alert.id, "kind": alert.kind.value, "via": door}
    assert audit.detail == ({**expected, "note": "Rang Amy"} if with_note else expected)


def test_key_one_on_the_alert_call_writes_the_same_audit_entry(
        session: Session, database: Database, escalation: Escalation,
        twilio: TwilioClient) -> None:
    alert, ref = _raise_alert(session, escalation, NIGHT)
    [call] = [s for s in escalation.sender.sent if s.channel == "voice"]
    answered = twilio.post_twiml(call.url, {"CallSid": "CA" + "5" * 32, "To": ON_CALL,
                                            "CallStatus": "in-progress"})
    gather = answered.gather()
    assert gather is not None
    twilio.post_twiml(gather.attrib["action"], {"CallSid": "CA" + "5" * 32, "Digits": "1"})
    [audit] = _audit(database)
    assert (audit.actor, audit.action, audit.entity, audit.entity_ref) == (
        "voice:Olu Bello", "acknowledge_alert", "planned_visit", ref)
    assert audit.detail == {"alert_id": alert.id, "kind": alert.kind.value, "via": "voice"}


def test_a_second_acknowledgement_audits_nothing(
        session: Session, database: Database, escalation: Escalation, api: Api,
        as_coordinator: Office) -> None:
    alert, _ref = _raise_alert(session, escalation, TUESDAY_9AM)
    _by_api(alert, api)
    again = api.post(f"/alerts/{alert.id}/acknowledge", {})
    assert again.get_json()["acknowledged"] is False
    _by_dashboard(alert, as_coordinator)
    assert [a.actor for a in _audit(database)] == ["api:rostering"]
