"""`codes now` through the database's driver: the same answer as the ORM, without SQLAlchemy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from ivr_gateway.cli import main
from ivr_gateway.clock import FixedClock
from ivr_gateway.commandline import CliContext
from ivr_gateway.config import Settings
from ivr_gateway.db import CONNECT_TIMEOUT, Database
from ivr_gateway.rota.problems import NotFound
from ivr_gateway.schema import metadata
from ivr_gateway.sms import code_now
from ivr_gateway.sms.code_now import driver_target, read_current_code
from ivr_gateway.sms.codes import CurrentCode, SecretKeyMismatch, encrypt_secret
from ivr_gateway.sms.devices import current_code
from ivr_gateway.sms.models import VisitCodeToken
from tests.factories import make_adult
from tests.sms.texting import add_token, code_at

SECOND_SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def _unassigned_token(session: Session, serial: str, *, digits: int, step: int,
                      drift: int) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    session.add(VisitCodeToken(serial=serial, adult_id=None,
                               secret_encrypted=encrypt_secret(SECOND_SEED,
                                                               Settings().token_secret_key),
                               digits=digits, step_seconds=step, drift_steps=drift,
                               active=True, created_at=at, updated_at=at))
    session.flush()


def _orm_answer(database: Database, serial: str, now: datetime) -> CurrentCode | str:
    try:
        with database.unit_of_work() as session:
            return current_code(session, serial, Settings(), now)
    except NotFound as error:
        return f"NotFound: {error.message}"


def _driver_answer(database: Database, serial: str, now: datetime) -> CurrentCode | str | None:
    try:
        return read_current_code(database.url, serial, Settings(), now)
    except NotFound as error:
        return f"NotFound: {error.message}"


def test_the_driver_path_and_current_code_agree_on_every_kind_of_token(
        database: Database, session: Session) -> None:
    adult = make_adult(session, given_name="mary-ann", family_name="  de Vries")
    add_token(session, adult, serial="AHEAD", drift=2)
    add_token(session, adult, serial="BEHIND-8", digits=8, step=60, drift=-1)
    _unassigned_token(session, "SPARE", digits=6, step=30, drift=0)
    session.commit()
    start = datetime(2026, 1, 13, 9, 0, 0, tzinfo=UTC)
    for now in (start, start + timedelta(seconds=29), start + timedelta(seconds=30),
                start + timedelta(seconds=59, microseconds=999_999),
                start + timedelta(hours=7, seconds=13)):
        for serial in ("AHEAD", "BEHIND-8", "SPARE", "NO-SUCH"):
            orm = _orm_answer(database, serial, now)
            assert _driver_answer(database, serial, now) == orm, (serial, now)
    # What they agree on is right: the drift applied, initials only, no client no initials.
    at = start + timedelta(seconds=12)
    assert _driver_answer(database, "AHEAD", at) == CurrentCode(
        "AHEAD", code_at(at, ahead_steps=2), 18, "M.D.")
    assert _driver_answer(database, "BEHIND-8", at) == CurrentCode(
        "BEHIND-8", code_at(at, digits=8, step=60, ahead_steps=-1), 48, "M.D.")
    spare = _driver_answer(database, "SPARE", at)
    assert isinstance(spare, CurrentCode) and spare.adult_initials is None
    assert spare.code == code_at(at, secret=SECOND_SEED)
    assert _driver_answer(database, "NO-SUCH", at) == (
        "NotFound: No visit-code token with serial 'NO-SUCH'.")


def test_a_changed_token_secret_key_is_refused_alike_by_both_paths(
        database: Database, session: Session) -> None:
    add_token(session, make_adult(session), serial="VC-7")
    session.commit()
    other_key = Settings(token_secret_key="another-key-than-the-tokens-were-registered-under")
    at = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
    with pytest.raises(SecretKeyMismatch) as by_driver:
        read_current_code(database.url, "VC-7", other_key, at)
    with pytest.raises(SecretKeyMismatch) as by_orm, database.unit_of_work() as orm_session:
        current_code(orm_session, "VC-7", other_key, at)
    assert str(by_driver.value) == str(by_orm.value)


def test_the_names_the_driver_path_reads_are_in_the_models_and_the_migrated_schema(
        database: Database) -> None:
    query_names = re.findall(r"\b([ta])\.(\w+)", code_now.ROW_QUERY)
    aliases = {"t": "visit_code_tokens", "a": "adults"}
    for alias, column in query_names:  # the query reads nothing READS does not declare
        assert column in code_now.READS[aliases[alias]], (alias, column)
    migrated = inspect(database.engine)
    for table, columns in code_now.READS.items():
        assert set(columns) <= set(metadata.tables[table].columns.keys()), table
        assert set(columns) <= {c["name"] for c in migrated.get_columns(table)}, table


def test_the_driver_path_waits_for_a_server_as_the_engine_does() -> None:
    assert code_now.CONNECT_TIMEOUT == CONNECT_TIMEOUT


@pytest.mark.parametrize(("url", "target"), [
    ("sqlite:///instance/ivr-gateway.sqlite3", ("sqlite", "instance/ivr-gateway.sqlite3")),
    ("sqlite:////srv/gateway/db.sqlite3", ("sqlite", "/srv/gateway/db.sqlite3")),
    ("sqlite+pysqlite:////srv/db.sqlite3", ("sqlite", "/srv/db.sqlite3")),
    ("postgresql+psycopg://gw:p%40ss@db.internal:6432/gateway?sslmode=require",
     ("postgresql", "postgresql://gw:p%40ss@db.internal:6432/gateway?sslmode=require")),
    ("postgresql://gw@localhost/gateway", ("postgresql", "postgresql://gw@localhost/gateway")),
    ("postgres://gw@localhost/gateway", ("postgresql", "postgresql://gw@localhost/gateway")),
    # Read differently by the engine, or not ours to read: the ORM path answers.
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("sqlite:////srv/db.sqlite3?timeout=30", None),
    ("sqlite:////srv/my%20db.sqlite3", None),
    ("postgresql+psycopg2://gw@localhost/gateway", None),
    ("mysql://gw@localhost/gateway", None),
    ("instance/ivr-gateway.sqlite3", None),
])
def test_which_urls_the_driver_path_reads(url: str, target: tuple[str, str] | None) -> None:
    assert driver_target(url) == target


def test_a_missing_database_file_is_left_to_the_orm_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite3"
    assert read_current_code(f"sqlite:///{missing}", "T1", Settings(),
                             datetime(2026, 1, 13, tzinfo=UTC)) is None
    assert not missing.exists()


def test_codes_now_answers_through_the_orm_for_a_url_the_driver_path_does_not_read(
        database: Database, session: Session) -> None:
    if not database.url.startswith("sqlite:///"):
        pytest.skip("a SQLite URL with driver options")
    add_token(session, make_adult(session), serial="VC-7", drift=1)
    session.commit()
    at = datetime(2026, 1, 13, 9, 0, 12, tzinfo=UTC)
    url = f"{database.url}?timeout=20"
    assert read_current_code(url, "VC-7", Settings(), at) is None
    context = CliContext(Settings(database_url=url), clock=FixedClock(at))
    result = CliRunner().invoke(main, ["codes", "now", "VC-7"], obj=context)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [code_at(at, ahead_steps=1)]
    assert "Token VC-7 (at J.S.'s home): valid for 18 more seconds." in result.output


# Run as `ivr-gateway codes now SERIAL` is: the console script's entry in a fresh interpreter,
# then say which modules the command loaded (on stderr, after its own lines).
PROBE = """
import json, sys
from ivr_gateway.cli import main
try:
    main(sys.argv[1:], prog_name="ivr-gateway")
finally:
    heavy = ("sqlalchemy", "pydantic", "flask", "holidays", "phonenumbers", "ivr_gateway.models",
             "ivr_gateway.sms.devices", "ivr_gateway.schema")
    print(json.dumps(sorted({m.split(".")[0] if m.split(".")[0] != "ivr_gateway" else m
                             for m in sys.modules if m.startswith(heavy)})), file=sys.stderr)
"""


@pytest.mark.slow
def test_codes_now_prints_the_code_without_importing_sqlalchemy(
        database: Database, session: Session) -> None:
    add_token(session, make_adult(session), serial="VC-7", drift=-1)
    session.commit()
    env = {**os.environ, "DATABASE_URL": database.url, "IVR_GATEWAY_ENV": "test"}
    before = datetime.now(UTC)
    done = subprocess.run([sys.executable, "-c", PROBE, "codes", "now", "VC-7"],  # noqa: S603
                          capture_output=True, text=True, env=env, check=False)
    after = datetime.now(UTC)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in {code_at(t, ahead_steps=-1) for t in (before, after)}
    told, loaded = done.stderr.strip().splitlines()
    assert re.fullmatch(r"Token VC-7 \(at J\.S\.'s home\): valid for \d+ more seconds\.", told)
    assert json.loads(loaded) == []
    unknown = subprocess.run([sys.executable, "-c", PROBE, "codes", "now", "VC-404"],  # noqa: S603
                             capture_output=True, text=True, env=env, check=False)
    assert unknown.returncode == 1
    assert "No visit-code token with serial 'VC-404'. See 'ivr-gateway codes token add'." in (
        unknown.stderr)
    assert json.loads(unknown.stderr.strip().splitlines()[-1]) == []


@pytest.mark.slow
def test_codes_now_through_the_orm_registers_every_table_before_opening_the_database(
        database: Database, session: Session) -> None:
    if not database.url.startswith("sqlite:///"):
        pytest.skip("a SQLite URL with driver options")
    add_token(session, make_adult(session), serial="VC-7")
    session.commit()
    env = {**os.environ, "DATABASE_URL": f"{database.url}?timeout=20", "IVR_GATEWAY_ENV": "test"}
    before = datetime.now(UTC)
    done = subprocess.run([sys.executable, "-c", PROBE, "codes", "now", "VC-7"],  # noqa: S603
                          capture_output=True, text=True, env=env, check=False)
    after = datetime.now(UTC)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in {code_at(t) for t in (before, after)}
    loaded = json.loads(done.stderr.strip().splitlines()[-1])
    assert {"sqlalchemy", "ivr_gateway.schema", "ivr_gateway.sms.devices"} <= set(loaded)
