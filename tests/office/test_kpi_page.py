"""The KPI page of a big range: worked out in the background and kept, so the page answers at
once: "working out" with no report yet, the kept report "as of" its time, a stale one shown
while the next is worked out, then the new one."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc.kept_reports import report_of
from ivr_gateway.ecc.kpi import build_kpi_report
from ivr_gateway.ecc.kpi_report import visits_csv
from ivr_gateway.ecc.models import KeptKpiReport
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import play
from tests.office.conftest import Office
from tests.twilio_client import TwilioClient

NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
KPI = "/office/kpi?from=2026-01-12&to=2026-01-13"
STATUS = "/office/kpi/status?from=2026-01-12&to=2026-01-13"


@pytest.fixture(autouse=True)
def every_range_kept(app: Flask) -> None:
    """Every range goes through the kept reports (a real one only past 1,000 visits)."""
    app.config["KPI_INLINE_VISITS"] = 0


def _day(session: Session) -> None:
    joan = make_adult(session, ref="A1", landlines=("+441134960001",))
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="5678")
    make_planned_visit(session, joan, [amy], start=NINE_AM, ref="ONTIME")
    make_planned_visit(session, joan, [amy], start=NINE_AM - timedelta(hours=3), ref="MISSED")
    session.commit()


def _ready(office: Office) -> dict[str, Any]:
    """Poll the status as the page's script does until the report is ready."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = office.get(STATUS).get_json()
        if status["ready"]:
            return dict(status)
        assert status["error"] is None, status
        time.sleep(0.05)
    raise AssertionError("the report was not ready within 30 s")


def _text(page: str, element_id: str) -> str:
    """The text of one element of the page, parsed (the page is well-formed around it)."""
    start = page.index(f'id="{element_id}"')
    start = page.rindex("<", 0, start)
    tag = page[start + 1:page.index(" ", start)]
    end = page.index(f"</{tag}>", start) + len(tag) + 3
    return " ".join("".join(ElementTree.fromstring(page[start:end]).itertext()).split())


def test_with_no_report_yet_the_page_says_it_is_working_it_out_then_shows_it(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _day(session)
    clock.set(NINE_AM + timedelta(minutes=40))
    first = as_coordinator.get(KPI)
    page = first.get_data(as_text=True)
    assert first.status_code == 200
    working = _text(page, "kpi-working")
    assert working.startswith("Working out the report for Mon 12 Jan to Tue 13 Jan 2026")
    assert "(about 1 second)" in working
    assert 'role="status" id="kpi-status"' in page and "<progress" in page
    assert "kpi_report.js" in page and 'data-when-ready="reload"' in page
    assert 'id="kpi-table"' not in page
    status = _ready(as_coordinator)
    assert status == {**status, "ready": True, "working": False, "stale": False, "shown": True}
    shown = as_coordinator.get(KPI).get_data(as_text=True)
    assert "Working out" not in shown and 'id="kpi-table"' in shown
    assert _text(shown, "kpi-as-of").startswith("Figures as of 09:40.")
    row = ('<th scope="row">Tue 13 Jan</th><td>2</td><td>0</td><td>0</td><td>0</td>'
           '<td>1</td>')
    assert row in shown
    assert "kpi_report.js" not in shown  # current: nothing to follow


def test_a_report_changed_by_new_evidence_is_shown_as_of_then_refreshed(
        as_coordinator: Office, session: Session, clock: FixedClock,
        twilio: TwilioClient) -> None:
    _day(session)
    clock.set(NINE_AM + timedelta(minutes=5))
    as_coordinator.get(KPI)
    _ready(as_coordinator)
    clock.advance(seconds=20)  # within the minute: still current by the clock
    play(twilio, "+441134960001", "1234", "5678")  # Amy logs in to ONTIME
    stale = as_coordinator.get(KPI).get_data(as_text=True)
    as_of = _text(stale, "kpi-as-of")
    assert as_of.startswith("Figures as of 09:05. The visits have changed since: the new "
                            "figures are being worked out")
    assert 'data-when-ready="link"' in stale and "kpi_report.js" in stale
    assert ('<th scope="row">Tue 13 Jan</th><td>2</td><td>0</td><td>0</td><td>0</td>'
            '<td>1</td>') in stale  # the old figures, shown while the new ones are made
    _ready(as_coordinator)
    fresh = as_coordinator.get(KPI).get_data(as_text=True)
    assert _text(fresh, "kpi-as-of") == "Figures as of 09:05."
    assert ('<th scope="row">Tue 13 Jan</th><td>2</td><td>1</td><td>0</td><td>0</td>'
            '<td>1</td>') in fresh  # ONTIME started on time now


def test_a_report_whose_verdicts_move_with_the_clock_is_worked_out_again_after_a_minute(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _day(session)
    clock.set(NINE_AM + timedelta(minutes=10))  # ONTIME is due: not yet late
    as_coordinator.get(KPI)
    _ready(as_coordinator)
    clock.advance(seconds=50)
    assert as_coordinator.get(STATUS).get_json()["ready"]
    clock.advance(minutes=30)  # ONTIME is now late for the office
    assert "The visits have changed since" in as_coordinator.get(KPI).get_data(as_text=True)
    _ready(as_coordinator)
    assert "Figures as of 09:40." in as_coordinator.get(KPI).get_data(as_text=True)


def test_the_kept_report_is_the_one_build_kpi_report_makes_and_the_files_use_it(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database,
        settings: Settings) -> None:
    _day(session)
    clock.set(NINE_AM + timedelta(hours=3))
    as_coordinator.get(KPI)
    _ready(as_coordinator)
    with database.unit_of_work() as db:
        row = db.scalars(select(KeptKpiReport)).one()
        assert row.figures is not None and row.lines is not None
        kept = report_of(row.figures, row.lines)
        fresh = build_kpi_report(db, NINE_AM.date() - timedelta(days=1), NINE_AM.date(),
                                 settings, clock.now())
    assert kept == fresh
    csv = as_coordinator.get("/office/kpi/visits.csv?from=2026-01-12&to=2026-01-13")
    assert csv.status_code == 200 and csv.get_data(as_text=True) == visits_csv(fresh)


def test_a_failed_attempt_is_said_and_not_retried_by_the_poll(
        as_coordinator: Office, session: Session, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _day(session)
    clock.set(NINE_AM)

    def broken(*_args: Any) -> Any:
        raise RuntimeError("the database went away")
    monkeypatch.setattr("ivr_gateway.ecc.kept_reports.build_kpi_report", broken)
    as_coordinator.get(KPI)
    deadline = time.monotonic() + 30
    while (status := as_coordinator.get(STATUS).get_json())["error"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status["error"] == "Working out the report stopped (RuntimeError)."
    assert not status["working"]  # the poll started nothing new
    monkeypatch.undo()
    page = as_coordinator.get(KPI).get_data(as_text=True)  # a reload tries again
    assert "Working out the report for" in page and "could not be worked out" not in page
    _ready(as_coordinator)


def test_a_refused_range_is_said_on_the_page_and_by_the_status(
        as_coordinator: Office) -> None:
    page = as_coordinator.get("/office/kpi?from=2025-01-01&to=2026-01-13")
    assert "at most 62 days" in page.get_data(as_text=True)
    status = as_coordinator.get("/office/kpi/status?from=2026-01-13&to=2026-01-01")
    assert status.status_code == 400
    assert status.get_json() == {"error": "The 'to' date is before the 'from' date."}


def test_the_status_needs_a_logged_in_coordinator(office: Office) -> None:
    assert office.get(STATUS).status_code in (302, 401)
