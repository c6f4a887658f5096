"""CLI: contacts, on-call periods (local times), alerts list and ack, reason codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.cli import main
from ivr_gateway.db import Database
from ivr_gateway.escalation.models import AlertState, OnCallPeriod
from ivr_gateway.visits.models import VisitReasonCode
from tests.escalation.conftest import TUESDAY_9AM, Escalation, make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit


def _run(database: Database, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": database.url})


def test_contacts_and_on_call_from_the_command_line(database: Database, session: Session
                                                    ) -> None:
    added = _run(database, "contacts", "add", "Olu Bello", "--role", "on_call",
                 "--mobile", "07911 123502")
    assert added.exit_code == 0, added.output
    assert "Contact 1: Olu Bello, on_call, +447911123502" in added.output
    wrong = _run(database, "contacts", "add", "Desk", "--role", "manager", "--mobile", "0113")
    assert wrong.exit_code == 1 and "not usable" in wrong.output
    # Local wall-clock times: 18:00 on a summer day is 17:00 UTC.
    period = _run(database, "on-call", "add", "1", "--from", "2026-07-01 18:00",
                  "--to", "2026-07-02 08:00")
    assert period.exit_code == 0, period.output
    row = session.scalar(select(OnCallPeriod))
    assert row is not None and row.starts_at == datetime(2026, 7, 1, 17, 0, tzinfo=UTC)
    session.rollback()  # SQLite: release the lock this read took before the CLI writes
    assert _run(database, "contacts", "list").output.split() == [
        "1", "on_call", "+447911123502", "Olu", "Bello"]
    assert _run(database, "on-call", "remove", "1").exit_code == 0
    assert _run(database, "on-call", "remove", "1").exit_code == 1


def test_alerts_listed_and_acknowledged_and_reason_code_recorded(
        database: Database, session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    visit = make_planned_visit(session, make_adult(session), [make_care_worker(session)],
                               start=TUESDAY_9AM)
    session.commit()
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))
    listed = _run(database, "alerts", "list")
    assert "(id 1) open" in listed.output and "J.S. visit 09:00 not started" in listed.output
    acked = _run(database, "alerts", "ack", "1", "--by", "Sam Carter")
    assert acked.exit_code == 0 and "acknowledged" in acked.output
    assert escalation.alerts()[0].state is AlertState.ACKNOWLEDGED
    # The command runs on the real clock: by now this January visit is long missed.
    unknown_code = _run(database, "reason-code", visit.ref, "carer_sick")
    assert unknown_code.exit_code == 1 and "Choose a reason from the list" in unknown_code.output
    recorded = _run(database, "reason-code", visit.ref, "no_carer_available", "--note", "flu")
    assert recorded.exit_code == 0, recorded.output
    assert session.scalar(select(VisitReasonCode.code)) == "no_carer_available"
    assert _run(database, "reason-code", "NOPE", "no_carer_available").exit_code == 1
