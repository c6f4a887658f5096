"""The manager's rota upload: a true summary, a confirm step for rows in the past, the template
and the help on the page, and the import as a background job with its progress."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.models import AuditEntry, PlannedVisit
from ivr_gateway.rota import imports
from ivr_gateway.rota.csv_import import COLUMNS
from ivr_gateway.rota.models import RotaImport, RotaImportState
from tests.office.conftest import Office

HEADER = ("visit_ref,adult_ref,adult_given_name,adult_family_name,adult_landlines,adult_rag,"
          "date,start,end,care_worker_refs,care_worker_staff_numbers,care_worker_given_names,"
          "care_worker_family_names")
JOAN = "A1,Joan,Smith,020 7946 0001,green"
AMY = "C1,4821,Amy,Jones"


def _row(ref: str, day: str = "2026-01-14", start: str = "08:00", end: str = "08:30") -> str:
    return f"{ref},{JOAN},{day},{start},{end},{AMY}"


def _csv(*rows: str) -> bytes:
    return "\n".join([HEADER, *rows, ""]).encode()


@pytest.fixture(autouse=True)
def upload_dir(app: Flask, tmp_path: Path) -> Path:
    """Uploaded files kept in the test's own folder."""
    folder = tmp_path / "rota-uploads"
    app.config["ROTA_UPLOAD_DIR"] = str(folder)
    return folder


def _upload(office: Office, raw: bytes, name: str = "monday.csv", **options: str) -> Any:
    return office.post("/office/rota", {"file": (io.BytesIO(raw), name), **options},
                       content_type="multipart/form-data")


def _finished(office: Office, location: str) -> dict[str, Any]:
    """Poll the import's status as the page does until it has finished."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = office.get(f"{location}/status").get_json()
        if status["finished"]:
            return dict(status)
        time.sleep(0.05)
    raise AssertionError("the import did not finish within 30 s")


def _import(office: Office, raw: bytes, **options: str) -> tuple[dict[str, Any], str]:
    """Upload a file with no past rows; the import job's final status and its page."""
    response = _upload(office, raw, **options)
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert "/office/rota/imports/" in location
    status = _finished(office, location)
    return status, office.get(location).get_data(as_text=True)


def _visit_refs(database: Database) -> list[str]:
    with database.unit_of_work() as db:
        return sorted(db.scalars(select(PlannedVisit.ref)))


def test_a_refused_file_says_nothing_was_imported_and_names_each_refused_row(
        as_manager: Office, database: Database) -> None:
    rows = [_row("V1"), _row("V2", end="07:00x"), _row("V3", start="07:30"),
            _row("V4", day="31/02/2026"), _row("V5", start="10:00", end="10:30")]
    status, page = _import(as_manager, _csv(*rows))
    assert status["state"] == "done"
    # The report said "Nothing imported: 3 of 5 row(s) were imported" before; now it is true.
    assert ("Nothing imported: 2 of 5 row(s) refused (below), so the whole file was left out."
            in page)
    assert "were imported" not in page
    assert "would</strong> have done: nothing was stored" in page
    assert "<td>3</td><td>end</td>" in page
    assert "&#39;07:00x&#39; is not a time; use HH:MM on the 24-hour clock" in page
    assert "<td>5</td><td>date</td><td>&#39;31/02/2026&#39; is not a real date</td>" in page
    assert "Refused rows: 2." in page
    assert _visit_refs(database) == []


def test_skipping_bad_rows_imports_the_good_ones_and_counts_each_kind(
        as_manager: Office, database: Database) -> None:
    rows = [_row("V1"), _row("V2", end="07:00x"), _row("V3", start="07:30")]
    _status, page = _import(as_manager, _csv(*rows), skip_bad_rows="yes")
    assert "Imported 2 of 3 row(s); 1 refused and skipped (below)." in page
    assert ("<th scope=\"row\">Planned visits</th><td>2</td><td>0</td><td>0</td>" in page)
    assert "<th scope=\"row\">Clients</th><td>1</td><td>0</td><td>0</td>" in page
    assert _visit_refs(database) == ["V1", "V3"]
    with database.unit_of_work() as db:
        actors = set(db.scalars(select(AuditEntry.actor).where(
            AuditEntry.entity == "planned_visit")))
    assert actors == {"office:max csv:monday.csv"}

    _status, page = _import(as_manager, _csv(_row("V1"), _row("V3", start="07:45")))
    assert "Imported all 2 row(s)." in page
    assert "<th scope=\"row\">Planned visits</th><td>0</td><td>1</td><td>1</td>" in page


def test_rows_in_the_past_are_shown_and_nothing_is_written_until_confirmed(
        as_manager: Office, database: Database, upload_dir: Path) -> None:
    # 09:00 on Tue 13 Jan: 08:15 is within the late window (30 min), 08:00 and Monday are not.
    rows = [_row("V1", day="2026-01-12"), _row("V2", day="2026-01-13", start="08:00"),
            _row("V3", day="2026-01-13", start="08:45", end="09:15"), _row("V4")]
    page = _upload(as_manager, _csv(*rows), name="july.csv").get_data(as_text=True)
    assert "2 row(s) of july.csv start in the past" in page
    assert "<td>2</td><td>V1</td><td>Mon 12 Jan 2026 08:00</td>" in page
    assert "<td>3</td><td>V2</td><td>Tue 13 Jan 2026 08:00</td>" in page
    past_table = page.split("past-rows")[1].split("</tbody>")[0]
    assert "<td>V3</td>" not in past_table and "<td>V4</td>" not in past_table
    assert "Nothing has been imported yet." in page
    assert _visit_refs(database) == []
    with database.unit_of_work() as db:
        assert db.scalar(select(func.count()).select_from(RotaImport)) == 0
    assert len(list(upload_dir.glob("*.csv"))) == 1  # the file is kept for the confirm

    token = page.split('name="token" value="')[1].split('"')[0]
    assert as_manager.post("/office/rota/confirm", {"token": "0" * 32}).status_code == 302
    assert _visit_refs(database) == []  # another token: nothing (and the upload is dropped)

    page = _upload(as_manager, _csv(*rows), name="july.csv").get_data(as_text=True)
    token = page.split('name="token" value="')[1].split('"')[0]
    response = as_manager.post("/office/rota/confirm", {"token": token})
    assert response.status_code == 302
    _finished(as_manager, response.headers["Location"])
    assert _visit_refs(database) == ["V1", "V2", "V3", "V4"]
    assert list(upload_dir.glob("*.csv")) == []  # the file goes once imported


def test_cancelling_an_upload_with_past_rows_imports_nothing(
        as_manager: Office, database: Database, upload_dir: Path) -> None:
    _upload(as_manager, _csv(_row("V1", day="2026-01-12")))
    _upload(as_manager, _csv(_row("V2", day="2026-01-12")))  # replaces the first
    assert len(list(upload_dir.glob("*.csv"))) == 1
    page = as_manager.post("/office/rota/cancel", follow_redirects=True).get_data(as_text=True)
    assert "Upload cancelled: nothing was imported." in page
    assert list(upload_dir.glob("*.csv")) == []
    response = as_manager.post("/office/rota/confirm", {"token": "0" * 32},
                               follow_redirects=True)
    assert "no longer waiting" in response.get_data(as_text=True)
    assert _visit_refs(database) == []


def test_the_template_has_the_importers_columns_and_imports_cleanly(
        as_manager: Office, database: Database) -> None:
    response = as_manager.get("/office/rota/template.csv")
    assert response.mimetype == "text/csv"
    assert "rota-template.csv" in response.headers["Content-Disposition"]
    raw = response.get_data()
    header, *rows = list(csv.reader(io.StringIO(raw.decode())))
    assert header == [c.name for c in COLUMNS]
    assert len(rows) == 2
    assert {row[header.index("date")] for row in rows} == {"2026-01-14"}  # tomorrow
    status, page = _import(as_manager, raw)
    assert "Imported all 2 row(s)." in page
    assert status["rows_done"] == status["rows_total"] == 2
    assert _visit_refs(database) == ["V1001", "V1002"]


def test_the_page_explains_every_column_without_pointing_at_the_repository(
        as_manager: Office) -> None:
    page = as_manager.get("/office/rota").get_data(as_text=True)
    assert "docs/rota-csv.md" not in page
    assert 'href="/office/rota/template.csv"' in page
    for column in COLUMNS:
        assert f"<td><code>{column.name}</code></td><td>{column.needed}</td>" in page


def test_the_import_runs_as_a_job_with_its_progress_as_json(
        as_manager: Office, database: Database) -> None:
    rows = [_row(f"V{n}", start=f"{8 + n // 4:02d}:{n % 4 * 15:02d}",
                 end=f"{8 + n // 4:02d}:{n % 4 * 15 + 10:02d}") for n in range(40)]
    response = _upload(as_manager, _csv(*rows), name="big.csv")
    location = response.headers["Location"]
    status = _finished(as_manager, location)
    job_id = int(location.rsplit("/", 1)[1])
    assert status == {"id": job_id, "state": "done", "rows_done": 40, "rows_total": 40,
                      "stalled": False, "finished": True}
    with database.unit_of_work() as db:
        job = db.get_one(RotaImport, job_id)
        assert (job.who, job.file_name, job.state) == ("office:max", "big.csv",
                                                       RotaImportState.DONE)
        assert job.summary is not None
        assert job.summary["counts"]["planned_visit"] == {"created": 40, "updated": 0,
                                                          "unchanged": 0}
    page = as_manager.get("/office/rota").get_data(as_text=True)
    assert "big.csv" in page and "40 of 40" in page


def test_a_running_import_shows_its_rows_done_of_total(
        as_manager: Office, database: Database, clock: FixedClock) -> None:
    with database.unit_of_work() as db:
        job = imports.queue_import(db, who="office:max", file_name="county.csv",
                                   rows_total=10_000, skip_bad_rows=False, dry_run=False,
                                   now=clock.now())
        job.state, job.rows_done = RotaImportState.RUNNING, 1_200
        job_id = job.id
    page = as_manager.get(f"/office/rota/imports/{job_id}").get_data(as_text=True)
    assert "Importing: 1,200 of 10,000 rows." in page
    assert f'data-status-url="/office/rota/imports/{job_id}/status"' in page
    assert as_manager.get(f"/office/rota/imports/{job_id}/status").get_json() == {
        "id": job_id, "state": "running", "rows_done": 1200, "rows_total": 10000,
        "stalled": False, "finished": False}
    clock.advance(minutes=11)  # its worker went away: the page says so rather than spin
    page = as_manager.get(f"/office/rota/imports/{job_id}").get_data(as_text=True)
    assert "This import has stopped answering" in page


def test_check_only_stores_nothing_and_skips_the_past_rows_question(
        as_manager: Office, database: Database) -> None:
    _status, page = _import(as_manager, _csv(_row("V1", day="2026-01-12"), _row("V2")),
                            dry_run="yes")
    assert "Checked only, nothing stored: 2 of 2 row(s) would be imported, 0 refused." in page
    assert _visit_refs(database) == []


def test_a_queued_job_is_run_to_done_by_the_worker(
        database: Database, settings: Settings, clock: FixedClock, tmp_path: Path) -> None:
    path = tmp_path / "rota.csv"
    path.write_bytes(_csv(_row("V1"), _row("V2", start="07:30")))
    with database.unit_of_work() as db:
        job_id = imports.queue_import(db, who="office:max", file_name="rota.csv", rows_total=2,
                                      skip_bad_rows=False, dry_run=False, now=clock.now()).id
    with database.unit_of_work() as db:
        assert db.get_one(RotaImport, job_id).state == RotaImportState.QUEUED
    imports.run_import(database, settings, clock, job_id, path)
    with database.unit_of_work() as db:
        job = db.get_one(RotaImport, job_id)
        assert (job.state, job.rows_done, job.rows_total) == (RotaImportState.DONE, 2, 2)
        assert job.summary is not None and job.summary["outcome"] == "Imported all 2 row(s)."
    assert not path.exists()
    imports.run_import(database, settings, clock, job_id, path)  # run twice: nothing more
    assert _visit_refs(database) == ["V1", "V2"]


def test_a_job_whose_file_is_unreadable_is_marked_failed(
        database: Database, settings: Settings, clock: FixedClock, tmp_path: Path) -> None:
    with database.unit_of_work() as db:
        job_id = imports.queue_import(db, who="office:max", file_name="gone.csv", rows_total=0,
                                      skip_bad_rows=False, dry_run=False, now=clock.now()).id
    imports.run_import(database, settings, clock, job_id, tmp_path / "gone.csv")
    with database.unit_of_work() as db:
        job = db.get_one(RotaImport, job_id)
        assert job.state == RotaImportState.FAILED
        assert job.summary is not None and "Nothing was stored" in job.summary["error"]


def test_a_coordinator_can_neither_upload_nor_confirm_nor_read_imports(
        as_coordinator: Office, database: Database) -> None:
    assert _upload(as_coordinator, _csv(_row("V1"))).status_code == 403
    assert as_coordinator.post("/office/rota/confirm", {"token": "0" * 32}).status_code == 403
    assert as_coordinator.get("/office/rota/template.csv").status_code == 403
    assert as_coordinator.get("/office/rota/imports/1/status").status_code == 403
    assert _visit_refs(database) == []


def test_an_upload_without_the_csrf_token_is_refused(as_manager: Office,
                                                     database: Database) -> None:
    response = as_manager.client.post("/office/rota", data={
        "file": (io.BytesIO(_csv(_row("V1"))), "x.csv")}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert _visit_refs(database) == []


def test_running_imports_silent_for_ten_minutes_are_shown_as_stalled(clock: FixedClock) -> None:
    job = RotaImport(id=1, state=RotaImportState.RUNNING, rows_done=5, rows_total=9,
                     updated_at=datetime(2026, 1, 13, 8, 49, tzinfo=UTC))
    assert imports.import_status(job, clock.now())["stalled"] is True


@pytest.mark.postgres_only
def test_progress_is_visible_to_other_connections_while_the_import_runs(
        database: Database, settings: Settings, clock: FixedClock, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "rota.csv"
    path.write_bytes(_csv(*[_row(f"V{n}", start=f"{8 + n // 4:02d}:{n % 4 * 15:02d}",
                                 end=f"{8 + n // 4:02d}:{n % 4 * 15 + 10:02d}")
                            for n in range(30)]))
    with database.unit_of_work() as db:
        job_id = imports.queue_import(db, who="office:max", file_name="rota.csv",
                                      rows_total=30, skip_bad_rows=False, dry_run=False,
                                      now=clock.now()).id
    monkeypatch.setattr(imports, "PROGRESS_EVERY", 10)
    seen: list[tuple[str, int, int]] = []
    real_writer = imports._progress_writer

    def watched(*args: Any) -> Any:
        write = real_writer(*args)
        assert write is not None

        def progress(done: int, total: int) -> None:
            write(done, total)
            if done % 10 == 0:  # what the page's poll would read now, on its own connection
                with database.unit_of_work() as db:
                    job = db.get_one(RotaImport, job_id)
                    seen.append((job.state.value, job.rows_done, job.rows_total))
        return progress
    monkeypatch.setattr(imports, "_progress_writer", watched)
    imports.run_import(database, settings, clock, job_id, path)
    assert seen == [("running", 10, 30), ("running", 20, 30), ("running", 30, 30)]
    with database.unit_of_work() as db:
        assert db.get_one(RotaImport, job_id).state == RotaImportState.DONE
