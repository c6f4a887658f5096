"""The manager's pages in a real browser (Playwright driving Debian's chromium): a rota upload
with rows in the past, confirmed and followed to its summary; an alert contact edited and
deactivated. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.models import ContactRole, OfficeContact
from ivr_gateway.models import PlannedVisit
from ivr_gateway.office.models import OfficeRole
from tests.live_server import serving
from tests.office.browser import ARTIFACTS, BROWSER_MARKS, log_in
from tests.office.conftest import make_office_user

NOW = datetime(2026, 7, 7, 8, 0, tzinfo=UTC)  # Tuesday 09:00 in London (BST)
HEADER = ("visit_ref,adult_ref,adult_given_name,adult_family_name,adult_landlines,adult_rag,"
          "date,start,end,care_worker_refs,care_worker_staff_numbers,care_worker_given_names,"
          "care_worker_family_names")

pytestmark = BROWSER_MARKS




@pytest.fixture
def live(database: Database, clock: FixedClock, session: Session, tmp_path: Path
         ) -> Iterator[str]:
    """The gateway on a real port with a manager, max."""
    clock.set(NOW)
    make_office_user(session, "max", OfficeRole.MANAGER)

    def app_at(base_url: str) -> Flask:
        app = create_app(Settings(database_url=database.url, public_base_url=base_url),
                         database, clock)
        app.config["ROTA_UPLOAD_DIR"] = str(tmp_path / "rota-uploads")
        return app

    ARTIFACTS.mkdir(exist_ok=True)
    with serving(app_at) as base_url:
        yield base_url


def _log_in(page: Any, base_url: str, path: str) -> None:
    log_in(page, base_url, "max", path)


def test_an_upload_with_a_past_row_is_confirmed_then_followed_to_its_summary(
        browser: Any, live: str, database: Database) -> None:
    rows = ["V1,A1,Joan,Smith,020 7946 0001,green,2026-07-06,08:00,08:30,C1,4821,Amy,Jones",
            "V2,A1,Joan,Smith,020 7946 0001,green,2026-07-08,08:00,08:30,C1,4821,Amy,Jones"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _log_in(page, live, "/office/rota")
    assert "visit_ref" in page.inner_text("#rota-columns")  # the help is on the page
    page.get_by_label("CSV file").set_input_files(files=[{
        "name": "july.csv", "mimeType": "text/csv",
        "buffer": "\n".join([HEADER, *rows, ""]).encode()}])
    page.get_by_role("button", name="Upload").click()
    page.get_by_text("1 row(s) of july.csv start in the past").wait_for()
    assert "Mon 6 Jul 2026 08:00" in page.inner_text("#past-rows")  # the local time it had
    with database.unit_of_work() as db:
        assert db.scalars(select(PlannedVisit)).all() == []  # nothing before the confirm
    page.screenshot(path=str(ARTIFACTS / "office-rota-past-rows.png"), full_page=True)

    page.get_by_role("button", name="Import anyway, past rows included").click()
    expect(page.locator("#import-outcome")).to_have_text("Imported all 2 row(s).",
                                                         timeout=15000)
    assert "Planned visits\t2\t0\t0" in page.inner_text("#import-counts")
    page.screenshot(path=str(ARTIFACTS / "office-rota-imported.png"), full_page=True)
    with database.unit_of_work() as db:
        assert sorted(db.scalars(select(PlannedVisit.ref))) == ["V1", "V2"]


def test_a_manager_edits_a_contact_links_a_user_and_deactivates_them(
        browser: Any, live: str, database: Database, session: Session) -> None:
    session.add(OfficeContact(name="Olu Bello", role=ContactRole.ON_CALL,
                              mobile="+447911123456", active=True, created_at=NOW))
    session.commit()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _log_in(page, live, "/office/on-call")
    assert "07911 123456" in page.inner_text("#contacts")
    page.get_by_role("link", name="Olu Bello").click()
    page.get_by_label("Mobile").fill("07911 123789")
    page.get_by_label("Role").select_option("manager")
    page.get_by_label("Office user (their dashboard login, if they have one)").select_option(
        label="Max (max)")
    page.get_by_role("button", name="Save contact").click()
    page.get_by_text("Contact saved.").wait_for()
    page.screenshot(path=str(ARTIFACTS / "office-contact-edit.png"), full_page=True)

    page.get_by_role("link", name="Deactivate Olu Bello…").click()
    page.get_by_text("Deactivate Olu Bello?").wait_for()
    page.get_by_role("button", name="Deactivate Olu Bello").click()
    page.get_by_text("Contact deactivated: the ladder no longer reaches them.").wait_for()
    row = page.locator('#contacts tr[data-contact]')
    expect(row).to_contain_text("07911 123789")
    expect(row).to_contain_text("Max (max)")
    expect(row).to_contain_text("no")
    with database.unit_of_work() as db:
        olu = db.scalars(select(OfficeContact)).one()
        assert (olu.mobile, olu.role, olu.active) == ("+447911123789", ContactRole.MANAGER,
                                                      False)
