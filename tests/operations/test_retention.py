"""`ivr-gateway retention purge`: dry run by default, removes only what is past the period and
only the personal parts, audited, and finds nothing the second time."""

from __future__ import annotations

from datetime import datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.cli import main
from ivr_gateway.clock import FixedClock
from ivr_gateway.commandline import CliContext
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.models import AuditEntry, ConcernRecording
from ivr_gateway.sms.models import InboundText, TextStatus
from tests.factories import make_care_worker


def _arrange(session: Session, now: datetime) -> None:
    old = now - timedelta(days=120)
    recent = now - timedelta(days=10)
    carer = make_care_worker(session, mobiles=("+447700900001",))
    session.add_all([
        ConcernRecording(call_sid="CA" + "1" * 32, recording_sid="RE" + "1" * 32,
                         recording_url="https://api.twilio.com/rec/RE1", duration_seconds=9,
                         created_at=old),
        ConcernRecording(call_sid="CA" + "2" * 32, recording_sid="RE" + "2" * 32,
                         recording_url="https://api.twilio.com/rec/RE2", duration_seconds=9,
                         created_at=recent),
        InboundText(message_sid="SM" + "1" * 32, from_number="+447700900999",
                    body="IN 123456 from a stranger", received_at=old,
                    status=TextStatus.UNREGISTERED, needs_office=True,
                    raw={"Body": "IN 123456"}, reply="This mobile is not registered."),
        InboundText(message_sid="SM" + "2" * 32, from_number="+447700900998", body="IN 654321",
                    received_at=recent, status=TextStatus.UNREGISTERED, needs_office=True),
        InboundText(message_sid="SM" + "3" * 32, from_number="+447700900001", body="IN 111111",
                    received_at=old, status=TextStatus.LOGGED, care_worker_id=carer.id),
    ])
    session.commit()


def _purge(database: Database, clock: FixedClock, *args: str) -> str:
    context = CliContext(settings=Settings(database_url=database.url), clock=clock,
                         database=database)
    result = CliRunner().invoke(main, ["retention", "purge", *args], obj=context)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_purge_is_a_dry_run_until_applied(database: Database, clock: FixedClock,
                                            session: Session) -> None:
    _arrange(session, clock.now())
    output = _purge(database, clock, "--older-than", "90d")
    assert "Would remove" in output and "1 recorded concern(s), 1 text(s)" in output
    session.expire_all()
    assert session.scalar(select(InboundText).where(
        InboundText.message_sid == "SM" + "1" * 32)).body == "IN 123456 from a stranger"
    assert session.scalars(select(AuditEntry)).all() == []


def test_an_applied_purge_removes_only_old_personal_data_and_is_audited(
        database: Database, clock: FixedClock, session: Session) -> None:
    _arrange(session, clock.now())
    output = _purge(database, clock, "--older-than", "90d", "--apply")
    assert "Removed" in output and "RE" + "1" * 32 in output
    session.expire_all()
    texts = {t.message_sid[2:3]: t for t in session.scalars(select(InboundText))}
    assert (texts["1"].from_number, texts["1"].body, texts["1"].raw) == ("", "", {})
    assert texts["1"].reply == "This mobile is not registered."  # what we said stays
    assert texts["2"].body == "IN 654321"  # too recent
    assert texts["3"].body == "IN 111111"  # a carer's evidence is kept
    recordings = {r.call_sid[2:3]: r for r in session.scalars(select(ConcernRecording))}
    assert (recordings["1"].recording_url, recordings["1"].recording_sid) == ("", None)
    assert recordings["2"].recording_url.endswith("RE2")
    (audit,) = session.scalars(select(AuditEntry)).all()
    assert audit.action == "retention_purge" and audit.actor.startswith("cli")
    assert audit.detail["recordings"] == 1 and audit.detail["unregistered_texts"] == 1
    session.rollback()  # end this read (SQLite: one writer, and readers hold it off)
    again = _purge(database, clock, "--older-than", "90d", "--apply")
    assert "0 recorded concern(s), 0 text(s)" in again
    session.expire_all()
    assert len(session.scalars(select(AuditEntry)).all()) == 1


def test_a_period_that_is_not_days_is_refused(database: Database, clock: FixedClock) -> None:
    context = CliContext(settings=Settings(database_url=database.url), clock=clock,
                         database=database)
    result = CliRunner().invoke(main, ["retention", "purge", "--older-than", "3 months"],
                                obj=context)
    assert result.exit_code == 2 and "number of days" in result.output
