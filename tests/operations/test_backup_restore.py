"""Backup and restore, as SECURITY.md says to do them: a populated database (a carer logged in
by a real signed call, an API token) is backed up with `ivr-gateway backup`, restored into a
fresh database, and the gateway on the restored copy serves the same visit to the same token."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ivr_gateway.api.tokens import create_api_token
from ivr_gateway.app import create_app
from ivr_gateway.cli import main
from ivr_gateway.clock import FixedClock
from ivr_gateway.commandline import CliContext
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.operations.backup import libpq_environment
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import PlayedCall, new_call_sid
from tests.twilio_client import TwilioClient


def _populate(session: Session, twilio: TwilioClient, clock: FixedClock) -> str:
    """A visit with a log-in made by a real call; the API token's secret."""
    adult = make_adult(session, ref="A1", landlines=("+441134960001",))
    carer = make_care_worker(session, ref="C1", staff_number="1234", pin="4721")
    make_planned_visit(session, adult, [carer], ref="V1",
                       start=datetime(2026, 1, 13, 8, 50, tzinfo=UTC))
    _token, secret = create_api_token(session, "rostering", now=clock.now(), actor="test")
    session.commit()
    call = PlayedCall(twilio, new_call_sid(), "+441134960001")
    call.start()
    call.press("1234")
    assert "Logged in" in " ".join(call.press("4721").said())
    return secret


def _visit_served(client: FlaskClient, secret: str) -> dict[str, object]:
    response = client.get("/api/v1/visits?date=2026-01-13",
                          headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    (visit,) = response.get_json()["visits"]
    return dict(visit)


def _backup(database: Database, destination: Path, clock: FixedClock) -> None:
    context = CliContext(settings=Settings(database_url=database.url), clock=clock,
                         database=database)
    result = CliRunner().invoke(main, ["backup", str(destination)], obj=context)
    assert result.exit_code == 0, result.output
    assert destination.stat().st_size > 0


def check_restored_app_serves(url: str, clock: FixedClock, secret: str,
                         before: dict[str, object]) -> None:
    restored = Database(url)
    try:
        app = create_app(Settings(database_url=url), restored, clock)
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        after = _visit_served(client, secret)
        assert after == before
        assert after["actual_start"] == "2026-01-13T09:00:00Z"
    finally:
        restored.dispose()


def test_a_sqlite_backup_restores_into_a_fresh_file_the_gateway_serves(
        database: Database, session: Session, twilio: TwilioClient, client: FlaskClient,
        clock: FixedClock, tmp_path: Path) -> None:
    if not database.url.startswith("sqlite"):
        pytest.skip("the SQLite backup API; PostgreSQL has its own test below")
    secret = _populate(session, twilio, clock)
    before = _visit_served(client, secret)
    backup = tmp_path / "backup.sqlite3"
    session.close()
    _backup(database, backup, clock)
    # Restore: copy the backup into place as the new database file.
    fresh = tmp_path / "restored" / "ivr-gateway.sqlite3"
    fresh.parent.mkdir()
    shutil.copyfile(backup, fresh)
    check_restored_app_serves(f"sqlite:///{fresh}", clock, secret, before)


@pytest.mark.postgres_only
@pytest.mark.slow  # pg_dump and pg_restore are real processes
def test_a_pg_dump_restores_with_pg_restore_into_an_empty_database_the_gateway_serves(
        database: Database, session: Session, twilio: TwilioClient, client: FlaskClient,
        clock: FixedClock, tmp_path: Path) -> None:
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        pytest.skip("the PostgreSQL client tools are not installed")
    secret = _populate(session, twilio, clock)
    before = _visit_served(client, secret)
    backup = tmp_path / "ivr-gateway.dump"
    session.close()
    _backup(database, backup, clock)
    # The fresh database: the test database emptied to a bare public schema (as the suite's
    # own set-up does), rather than CREATE DATABASE: on a PostgreSQL shared with other test
    # runs, DROP DATABASE waits on every backend of the cluster.
    database.dispose()
    with database.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    assert not inspect(database.engine).get_table_names()
    database.dispose()
    url = make_url(database.url).render_as_string(hide_password=False)
    restore = subprocess.run(  # noqa: S603 - pg_restore, as SECURITY.md says
        [pg_restore, "--no-owner", "--exit-on-error", "--dbname",
         str(make_url(database.url).database), str(backup)],
        env=libpq_environment(url), capture_output=True, text=True, check=False)
    assert restore.returncode == 0, restore.stderr
    check_restored_app_serves(url, clock, secret, before)
