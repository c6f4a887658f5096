"""`ivr-gateway import-rota` and `ivr-gateway care-worker ...` on the test database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import func, select

from ivr_gateway.cli import main
from ivr_gateway.config import DEV_PIN_PEPPER as PEPPER
from ivr_gateway.config import PROJECT_ROOT
from ivr_gateway.db import Database
from ivr_gateway.hashing import verify_pin
from ivr_gateway.models import AuditEntry, CareWorker, PlannedVisit
from tests.factories import make_care_worker

EXAMPLE = PROJECT_ROOT / "docs" / "rota-example.csv"


def _run(database: Database, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": database.url}, input=input)


def _visits(database: Database) -> int:
    with database.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(PlannedVisit)) or 0


def test_import_rota_prints_a_summary(database: Database) -> None:
    result = _run(database, "import-rota", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert "5 of 5 row(s) were imported." in result.stdout
    assert "planned visits: 5 created, 0 updated, 0 unchanged" in result.stdout
    assert "care workers: 2 created, 0 updated, 0 unchanged" in result.stdout
    assert _visits(database) == 5
    again = _run(database, "import-rota", str(EXAMPLE))
    assert "planned visits: 0 created, 0 updated, 5 unchanged" in again.stdout


def _bad_file(tmp_path: Path) -> Path:
    lines = EXAMPLE.read_text().splitlines()
    lines[2] = lines[2].replace("020 7946 0002;", "020 7946;")
    path = tmp_path / "rota.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_import_rota_with_a_bad_row_imports_nothing_and_exits_1(database: Database,
                                                                tmp_path: Path) -> None:
    result = _run(database, "import-rota", str(_bad_file(tmp_path)))
    assert result.exit_code == 1
    assert "2 problem(s) in rota.csv:" in result.stderr
    assert "row 3, column adult_landlines: item 1: '020 7946' is not a valid phone number" in (
        result.stderr)
    assert ("row 5, column adult_ref: there is no adult with ref 'A002'; send the adult first "
            "(its details are on row 3, which has problems)") in result.stderr
    assert "Nothing was imported" in result.stderr
    assert _visits(database) == 0


def test_import_rota_skip_bad_rows_imports_the_rest(database: Database, tmp_path: Path) -> None:
    result = _run(database, "import-rota", "--skip-bad-rows", str(_bad_file(tmp_path)))
    assert result.exit_code == 0
    assert "row 3, column adult_landlines" in result.stderr
    assert "3 of 5 row(s) were imported." in result.stdout  # V1002 bad; V1004 needs its adult
    assert _visits(database) == 3


def test_import_rota_dry_run_stores_nothing(database: Database) -> None:
    result = _run(database, "import-rota", "--dry-run", str(EXAMPLE))
    assert result.exit_code == 0
    assert "5 of 5 row(s) would be imported (dry run: nothing stored)." in result.stdout
    assert _visits(database) == 0


def test_import_rota_shows_progress_on_a_large_file_without_breaking(
        database: Database, tmp_path: Path) -> None:
    header, first, *_ = EXAMPLE.read_text().splitlines()
    rows = [first.replace("V1001", f"V{n:05d}") for n in range(600)]
    path = tmp_path / "big.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    result = _run(database, "import-rota", str(path))
    assert result.exit_code == 0, result.output
    assert "Importing" in result.stderr
    assert "600 of 600 row(s) were imported." in result.stdout


def test_import_rota_with_missing_columns_says_which(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "rota.csv"
    path.write_text("visit_ref,adult_ref\nV1,A1\n")
    result = _run(database, "import-rota", str(path))
    assert result.exit_code == 1
    assert "lacks the required column(s): date, start, end, care_worker_refs" in result.stderr


def test_set_pin_prompts_twice_and_stores_only_a_hash(database: Database) -> None:
    with database.unit_of_work() as session:
        make_care_worker(session, staff_number="4821", ref="C1")
    result = _run(database, "care-worker", "set-pin", "4821", input="3860\n3860\n")
    assert result.exit_code == 0, result.output
    assert "PIN set for Amy Jones (staff number 4821)." in result.stdout
    with database.unit_of_work() as session:
        stored = session.scalars(select(CareWorker.pin_hash)).one()
        assert verify_pin(stored, "3860", PEPPER)
        audit = session.scalars(select(AuditEntry)).one()
        assert audit.detail == {"changes": {"pin": "reset"}}
        assert audit.actor.startswith("cli")


def test_set_pin_refuses_a_weak_pin_and_an_unknown_carer(database: Database) -> None:
    with database.unit_of_work() as session:
        make_care_worker(session, staff_number="4821", ref="C1", pin="5091")
    weak = _run(database, "care-worker", "set-pin", "4821", input="1234\n1234\n")
    assert weak.exit_code == 1
    assert "straight run of digits" in weak.stderr
    unknown = _run(database, "care-worker", "set-pin", "9999", input="3860\n3860\n")
    assert unknown.exit_code == 1
    assert "no care worker with staff number '9999'" in unknown.stderr
    with database.unit_of_work() as session:
        assert verify_pin(session.scalars(select(CareWorker.pin_hash)).one(), "5091", PEPPER)


def test_set_pin_needs_the_same_pin_twice(database: Database) -> None:
    with database.unit_of_work() as session:
        make_care_worker(session, staff_number="4821", ref="C1", pin="5091")
    result = _run(database, "care-worker", "set-pin", "4821", input="3860\n3861\n3860\n3860\n")
    assert result.exit_code == 0
    assert "do not match" in result.output.lower()
    with database.unit_of_work() as session:
        assert verify_pin(session.scalars(select(CareWorker.pin_hash)).one(), "3860", PEPPER)


def test_unlock_command_lifts_a_lockout(database: Database) -> None:
    with database.unit_of_work() as session:
        carer = make_care_worker(session, staff_number="4821", ref="C1")
        carer.locked_until = datetime.now(UTC) + timedelta(minutes=10)
    result = _run(database, "care-worker", "unlock", "C1")
    assert result.exit_code == 0
    assert "unlocked" in result.stdout
    with database.unit_of_work() as session:
        assert session.scalars(select(CareWorker.locked_until)).one() is None
