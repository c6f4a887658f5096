"""Rota import from CSV: validation per row, all-or-nothing, encodings and clock changes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ivr_gateway.config import PROJECT_ROOT, Settings
from ivr_gateway.db import Base, Database
from ivr_gateway.models import Adult, AuditEntry, CareWorker, PlannedVisit, VisitStatus
from ivr_gateway.rota.csv_import import ImportReport, RowProblem, import_rota_csv
from tests.factories import make_adult, make_care_worker

NOW = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
EXAMPLE = PROJECT_ROOT / "docs" / "rota-example.csv"

HEADER = ("visit_ref,adult_ref,adult_given_name,adult_family_name,adult_landlines,adult_rag,"
          "date,start,end,care_worker_refs,care_worker_staff_numbers,care_worker_given_names,"
          "care_worker_family_names,status,cancel_reason,time_critical")
GOOD_ROW = ("V1,A1,Joan,Smith,020 7946 0001,green,2026-01-13,08:00,08:30,C1,4821,Amy,Jones,"
            "planned,,no")


def _csv(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def _import(database: Database, source: str | bytes | Path, skip_bad_rows: bool = False,
            **kwargs: Any) -> ImportReport:
    with database.unit_of_work() as session:
        return import_rota_csv(session, source, Settings(), NOW, "csv:test", skip_bad_rows,
                               **kwargs)


def _count(database: Database, model: type[Base]) -> int:
    with database.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _visits(database: Database) -> dict[str, PlannedVisit]:
    with database.unit_of_work() as session:
        visits = session.scalars(select(PlannedVisit)).all()
        for visit in visits:
            _ = visit.adult, visit.care_workers
        return {v.ref: v for v in visits}


def test_example_file_imports_adults_carers_and_visits(database: Database) -> None:
    report = _import(database, EXAMPLE)
    assert report.problems == []
    assert report.stored
    assert (report.rows, report.imported_rows) == (5, 5)
    assert dict(report.counts["adult"]) == {"created": 2}
    assert dict(report.counts["care_worker"]) == {"created": 2}
    assert dict(report.counts["planned_visit"]) == {"created": 5}
    visits = _visits(database)
    # 08:00 in London in January is 08:00 UTC; the end before the start is the next morning.
    assert visits["V1001"].planned_start == datetime(2026, 1, 13, 8, 0, tzinfo=UTC)
    assert visits["V1001"].time_critical is True
    assert [c.ref for c in visits["V1002"].care_workers] == ["C01", "C02"]
    assert visits["V1004"].status == VisitStatus.CANCELLED
    assert visits["V1004"].cancel_reason == "HOSPITAL"
    assert visits["V1005"].planned_end == datetime(2026, 1, 14, 0, 15, tzinfo=UTC)
    with database.unit_of_work() as session:
        joan = session.scalars(select(Adult).where(Adult.ref == "A001")).one()
        assert [line.number for line in joan.landlines] == ["+442079460001"]
        actors = set(session.scalars(select(AuditEntry.actor)))
        assert actors == {"csv:test"}


def test_same_file_imported_twice_changes_nothing_the_second_time(database: Database) -> None:
    _import(database, EXAMPLE)
    audit_rows = _count(database, AuditEntry)
    report = _import(database, EXAMPLE)
    assert report.problems == []
    assert dict(report.counts["planned_visit"]) == {"unchanged": 5}
    assert dict(report.counts["adult"]) == {"unchanged": 2}
    assert _count(database, AuditEntry) == audit_rows


def test_bad_rows_are_reported_by_spreadsheet_row_and_column_and_nothing_is_imported(
        database: Database) -> None:
    source = _csv(
        GOOD_ROW,
        "V2,A2,Ann,Lee,12345,green,2026-01-13,09:00,09:30,C1,4821,Amy,Jones,planned,,no",
        "",
        "V3,A1,Joan,Smith,020 7946 0001,green,2026-01-13,10:00,09:30:00x,C9,,,,planned,,no",
        "V4,A1,,,,,2026-01-13,11:00,11:30,C1,,,,cancelled,,maybe",
    )
    report = _import(database, source)
    assert not report.stored
    assert report.imported_rows == 1  # V1 was good, but nothing is kept
    assert [str(p) for p in report.problems] == [
        "row 3, column adult_landlines: item 1: '12345' is not a valid phone number",
        "row 5, column end: '09:30:00x' is not a time; use HH:MM on the 24-hour clock",
        "row 6, column cancel_reason: a cancelled visit needs a cancel_reason code",
        "row 6, column time_critical: 'maybe' is not yes or no",
    ]
    assert report.bad_rows == [3, 5, 6]
    for model in (Adult, CareWorker, PlannedVisit, AuditEntry):
        assert _count(database, model) == 0


def test_skip_bad_rows_imports_the_good_rows_and_reports_the_bad(database: Database) -> None:
    source = _csv(
        GOOD_ROW,
        "V2,A1,Joan,Smith,020 7946 0001,green,2026-01-13,09:00,08:30,C1,4821,Amy,Jones,,,",
        "V3,A1,,,,,2026-01-13,12:00,12:30,C1;C7,,,,,,",
    )
    report = _import(database, source, skip_bad_rows=True)
    assert report.stored
    assert report.imported_rows == 1
    assert report.problems == [
        RowProblem(3, "end", "a visit may last at most 12 hours; live-in 24-hour care is out of "
                   "scope: book it as shifts of up to 12 hours"),
        RowProblem(4, "care_worker_refs", "item 2: there is no care worker with ref 'C7'; send "
                   "the care worker first"),
    ]
    assert set(_visits(database)) == {"V1"}
    assert _count(database, Adult) == 1


def test_row_that_fails_in_the_service_leaves_none_of_its_own_changes(
        database: Database) -> None:
    # The adult on row 2 is valid, the visit's carer unknown: the adult must not be kept either.
    source = _csv("V1,A1,Joan,Smith,020 7946 0001,green,2026-01-13,08:00,08:30,C9,,,,,,")
    report = _import(database, source, skip_bad_rows=True)
    assert report.bad_rows == [2]
    assert _count(database, Adult) == 0
    assert _count(database, AuditEntry) == 0


def test_rows_may_refer_to_adults_and_carers_already_stored(database: Database) -> None:
    with database.unit_of_work() as session:
        make_adult(session, ref="A1")
        make_care_worker(session, ref="C1", staff_number="1111")
    report = _import(database, _csv("V1,A1,,,,,2026-01-13,08:00,08:30,C1,,,,,,"))
    assert report.problems == []
    assert dict(report.counts["planned_visit"]) == {"created": 1}
    assert report.counts["adult"] == {}


def test_unknown_adult_reference_is_reported_on_its_column(database: Database) -> None:
    report = _import(database, _csv("V1,A9,,,,,2026-01-13,08:00,08:30,C1,,,,,,"))
    assert report.problems[0] == RowProblem(
        2, "adult_ref", "there is no adult with ref 'A9'; send the adult first")


def test_one_adult_with_different_details_on_two_rows_is_a_row_error(database: Database) -> None:
    source = _csv(GOOD_ROW,
                  "V2,A1,Joan,Smyth,020 7946 0001,green,2026-01-13,12:00,12:30,C1,,,,,,")
    report = _import(database, source)
    assert [(p.row, p.column) for p in report.problems] == [(3, "adult_given_name")]
    assert "different details on row 2" in report.problems[0].message


def test_same_visit_twice_in_one_file_is_refused(database: Database) -> None:
    report = _import(database, _csv(GOOD_ROW, GOOD_ROW))
    assert report.problems == [RowProblem(3, "visit_ref", "visit V1 is already on row 2; one "
                                          "row per visit")]


def test_carer_lists_must_line_up_with_the_references(database: Database) -> None:
    source = _csv("V1,A1,Joan,Smith,020 7946 0001,green,2026-01-13,08:00,08:30,C1;C2,4821,"
                  "Amy;Piotr,Jones;Nowak,,,")
    report = _import(database, source)
    assert report.problems == [RowProblem(
        2, "care_worker_staff_numbers", "1 entries for 2 care_worker_refs; give one per care "
        "worker, in the same order, separated by ';'")]


def test_missing_required_columns_are_named(database: Database) -> None:
    report = _import(database, "visit_ref,adult_ref,date,care_worker_refs\nV1,A1,2026-01-13,C1\n")
    assert not report.stored
    assert [str(p) for p in report.problems] == [
        "file: The header (row 1) lacks the required column(s): start, end. The template on "
        "the office's rota page (or docs/rota-csv.md) lists them."]


def test_utf8_with_bom_and_crlf_line_endings_import(database: Database) -> None:
    text = _csv(GOOD_ROW.replace("Joan", "Zoë")).replace("\n", "\r\n")
    report = _import(database, b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert report.problems == []
    assert report.encoding == "utf-8-sig"
    with database.unit_of_work() as session:
        assert session.scalars(select(Adult.given_name)).one() == "Zoë"


def test_windows_1252_file_is_read_as_such_with_a_note(database: Database) -> None:
    report = _import(database, _csv(GOOD_ROW.replace("Joan", "Zoë")).encode("cp1252"))
    assert report.problems == []
    assert report.encoding == "windows-1252"
    assert report.warnings == ["The file is not UTF-8; it was read as Windows-1252."]
    with database.unit_of_work() as session:
        assert session.scalars(select(Adult.given_name)).one() == "Zoë"


@pytest.mark.parametrize(("raw", "advice"), [
    (_csv(GOOD_ROW).encode("utf-16"), "saved as UTF-16"),
    (b"PK\x03\x04rest-of-a-zip", "Excel workbook"),
    (_csv(GOOD_ROW).encode() + b"\x81\x8d", "neither UTF-8 nor Windows-1252"),
])
def test_file_in_an_unreadable_encoding_is_refused_with_advice(database: Database, raw: bytes,
                                                               advice: str) -> None:
    report = _import(database, raw)
    assert not report.stored
    [problem] = report.problems
    assert problem.row is None
    assert advice in problem.message
    assert "CSV UTF-8" in problem.message
    assert _count(database, PlannedVisit) == 0


def test_time_the_clocks_skip_in_march_is_a_row_error(database: Database) -> None:
    # 29 March 2026: London goes from 01:00 GMT straight to 02:00 BST.
    source = _csv(GOOD_ROW.replace("2026-01-13,08:00,08:30", "29/03/2026,01:30,02:30"))
    report = _import(database, source)
    assert report.problems == [RowProblem(
        2, "start", "01:30 does not exist on 29/03/2026: the clocks go forward then; use a time "
        "after the change")]


def test_visit_across_the_march_change_is_as_long_as_it_really_is(database: Database) -> None:
    source = _csv(GOOD_ROW.replace("2026-01-13,08:00,08:30", "2026-03-29,00:30,02:30"))
    assert _import(database, source).problems == []
    visit = _visits(database)["V1"]
    assert visit.planned_start == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert visit.planned_end == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_time_that_happens_twice_in_october_is_taken_at_its_first_occurrence(
        database: Database) -> None:
    # 25 October 2026: 01:00-02:00 happens on BST and again on GMT; 01:30 means the BST one.
    source = _csv(GOOD_ROW.replace("2026-01-13,08:00,08:30", "2026-10-25,01:30,02:15"))
    assert _import(database, source).problems == []
    visit = _visits(database)["V1"]
    assert visit.planned_start == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert visit.planned_end == datetime(2026, 10, 25, 2, 15, tzinfo=UTC)


def test_dry_run_counts_but_stores_nothing(database: Database) -> None:
    report = _import(database, EXAMPLE, dry_run=True)
    assert report.problems == []
    assert not report.stored
    assert dict(report.counts["planned_visit"]) == {"created": 5}
    assert _count(database, PlannedVisit) == 0


def test_progress_is_reported_row_by_row(database: Database) -> None:
    seen: list[tuple[int, int]] = []
    _import(database, EXAMPLE, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
