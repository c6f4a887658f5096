"""The KPI page of a big range in a real browser (Playwright driving Debian's chromium): it
says the report is being worked out, then shows it without anyone reloading the page.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc import kept_reports
from ivr_gateway.office.models import OfficeRole
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.live_server import serving
from tests.office.browser import ARTIFACTS, BROWSER_MARKS, log_in
from tests.office.conftest import make_office_user

NOW = datetime(2026, 7, 7, 8, 0, tzinfo=UTC)  # Tuesday 09:00 in London (BST)

pytestmark = BROWSER_MARKS


@pytest.fixture
def live(database: Database, clock: FixedClock, session: Session,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The gateway on a real port, a coordinator, a day of visits, every range kept, and a
    report that takes two seconds to work out (a county's day takes about one)."""
    clock.set(NOW)
    make_office_user(session, "cora", OfficeRole.COORDINATOR)
    joan = make_adult(session, ref="A1")
    amy = make_care_worker(session, ref="C1")
    for hour in (-3, -1, 2):
        make_planned_visit(session, joan, [amy], start=NOW + timedelta(hours=hour))
    session.commit()
    build = kept_reports.build_kpi_report

    def slow_build(*args: Any) -> Any:
        time.sleep(2)
        return build(*args)
    monkeypatch.setattr(kept_reports, "build_kpi_report", slow_build)

    def app_at(base_url: str) -> Flask:
        app = create_app(Settings(database_url=database.url, public_base_url=base_url),
                         database, clock)
        app.config["KPI_INLINE_VISITS"] = 0
        return app

    ARTIFACTS.mkdir(exist_ok=True)
    with serving(app_at) as base_url:
        yield base_url


def test_the_kpi_page_says_it_is_working_it_out_then_shows_the_report_by_itself(
        browser: Any, live: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, live, "cora", "/office/kpi")  # the first look: no report kept yet
    expect(page.locator("#kpi-working")).to_contain_text(
        "Working out the report for Wed 1 Jul to Tue 7 Jul 2026")
    page.screenshot(path=str(ARTIFACTS / "office-kpi-working.png"), full_page=True)
    # No reload by the test: the page's own poll reloads it when the report is ready.
    expect(page.locator("#kpi-table")).to_be_visible(timeout=20000)
    expect(page.locator("#kpi-as-of")).to_contain_text("Figures as of 09:00.")
    assert page.locator("#kpi-working").count() == 0
    assert "Tue 7 Jul" in page.inner_text("#kpi-table")
    page.screenshot(path=str(ARTIFACTS / "office-kpi-ready.png"), full_page=True)
