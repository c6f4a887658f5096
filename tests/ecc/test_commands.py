"""`outbox status|retry`, `report kpi`, `relay`, and the outbox figures at /api/v1/outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select

from ivr_gateway.cli import main
from ivr_gateway.db import Database
from ivr_gateway.ecc.events import RENDER_KINDS
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.outbox.service import enqueue
from tests.api.conftest import Api
from tests.ecc.conftest import MOCK_TOKEN, MockCouncil, visits_with_log_in_and_out

PAST = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


def _run(database: Database, *args: str, **env: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": database.url, **env})


def _kill_one(database: Database) -> int:
    with database.unit_of_work() as session:
        message = session.scalars(select(OutboxMessage)  # the first message that leaves us
                                  .where(OutboxMessage.kind.not_in(RENDER_KINDS))
                                  .order_by(OutboxMessage.id)).first()
        assert message is not None
        message.status = OutboxStatus.DEAD
        message.last_error = "council refused ecc:x: validation_error: data/rag: 'purple'"
        return message.id


def test_outbox_status_shows_the_backlog_and_the_dead_letters_and_retry_requeues(
        database: Database) -> None:
    visits_with_log_in_and_out(database, 2, PAST)
    dead_id = _kill_one(database)
    result = _run(database, "outbox", "status")
    assert result.exit_code == 0, result.output
    assert "pending 3 (oldest" in result.output and "dead 1" in result.output
    assert f"dead #{dead_id} ecc" in result.output and "'purple'" in result.output
    figures = json.loads(_run(database, "outbox", "status", "--json").output)
    assert figures["kinds"]["ecc"]["pending"] == 3
    assert _run(database, "outbox", "retry").exit_code == 2  # neither an ID nor --dead
    assert "is not a dead letter" in _run(database, "outbox", "retry", "99999").output
    result = _run(database, "outbox", "retry", str(dead_id))
    assert "Requeued 1 message(s)" in result.output
    assert json.loads(_run(database, "outbox", "status", "--json").output)["dead"] == 0


def test_relay_once_delivers_to_the_council_and_refuses_to_start_without_an_address(
        database: Database, mock_council: MockCouncil) -> None:
    pairs = visits_with_log_in_and_out(database, 3, PAST)
    result = _run(database, "relay", "--once")
    assert result.exit_code == 1 and "Set ECC_API_URL" in result.output
    result = _run(database, "relay", "--once", "--workers", "1", ECC_API_URL=mock_council.url,
                  ECC_API_TOKEN=MOCK_TOKEN)
    assert result.exit_code == 0, result.output
    assert sorted(mock_council.keys()) == sorted(log_in for log_in, _out in pairs)


def test_report_kpi_writes_csv_and_html(database: Database, tmp_path: Path) -> None:
    visits_with_log_in_and_out(database, 2, PAST)
    result = _run(database, "report", "kpi", "--from", "2026-01-13", "--to", "2026-01-13",
                  "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "2 visits: 2 on time, 0 late, 0 missed" in result.output
    assert (tmp_path / "kpi-2026-01-13_2026-01-13.html").read_text().count("<svg") >= 6
    result = _run(database, "report", "kpi", "--from", "2026-01-14", "--to", "2026-01-13")
    assert result.exit_code == 2 and "before --from" in result.output


def test_api_outbox_reports_the_figures_for_monitoring(api: Api, database: Database,
                                                       clock: object) -> None:
    with database.unit_of_work() as session:
        enqueue(session, kind="sms", idempotency_key="sms:1", payload={},
                now=PAST - timedelta(minutes=10))
    visits_with_log_in_and_out(database, 1, PAST - timedelta(hours=2))
    _kill_one(database)
    body = api.get("/outbox").get_json()
    # sent: the two "visit changed" pointers the relay rendered into the two records pending
    assert (body["pending"], body["dead"], body["sent"]) == (2, 1, 2)
    assert body["kinds"]["sms"] == {"pending": 0, "dead": 1, "sent": 0,
                                    "oldest_pending_age_seconds": None}
    assert body["oldest_pending_age_seconds"] == 2 * 3600  # the log-in, queued at 07:00
    assert api.get("/outbox", token="wrong").status_code == 401
