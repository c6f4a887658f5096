"""The board's live refresh in a real browser: focus kept, changes announced, a session that
ended said loudly, and the phone layout (status and needs first). Screenshots: test-artifacts/.

SQLite only, like the other browser tests.
"""

from __future__ import annotations

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
from ivr_gateway.office.models import OfficeRole
from ivr_gateway.office.providers import register_alert_source
from ivr_gateway.simulator import PhoneSimulator
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.live_server import serving
from tests.office.browser import ARTIFACTS, BROWSER_MARKS, log_in
from tests.office.conftest import make_office_user
from tests.office.fakes import FakeAlerts

NOW = datetime(2026, 7, 7, 8, 0, tzinfo=UTC)  # Tuesday 09:00 in London (BST)

pytestmark = BROWSER_MARKS




@pytest.fixture
def live(database: Database, clock: FixedClock, session: Session) -> Iterator[dict[str, Any]]:
    """The gateway on a real port, refreshing every second: Joan's and Edith's 09:00 visits."""
    clock.set(NOW)
    joan = make_adult(session, ref="A1", landlines=("+441134960001",), client_number="100001")
    edith = make_adult(session, ref="A2", given_name="Edith", family_name="Clarke",
                       landlines=("+441134960003",), client_number="100004")
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="4721")
    ben = make_care_worker(session, ref="C2", staff_number="3456", pin="8052",
                           given_name="Ben", family_name="Taylor")
    make_planned_visit(session, joan, [amy], start=NOW - timedelta(minutes=1), ref="JOAN-AM")
    make_planned_visit(session, edith, [ben], start=NOW - timedelta(minutes=10), ref="EDITH-AM")
    session.commit()
    make_office_user(session, "cora", OfficeRole.COORDINATOR)

    def app_at(base_url: str) -> Flask:
        app = create_app(Settings(database_url=database.url, public_base_url=base_url),
                         database, clock)
        app.config["OFFICE_BOARD_REFRESH_SECONDS"] = 1
        register_alert_source(app, FakeAlerts())
        return app

    ARTIFACTS.mkdir(exist_ok=True)
    with serving(app_at) as base_url:
        settings = Settings(database_url=database.url, public_base_url=base_url)
        yield {"url": base_url, "simulator": PhoneSimulator(
            base_url, settings.twilio_auth_token, account_sid=settings.twilio_account_sid,
            gateway_number=settings.twilio_phone_number)}


def _log_in(page: Any, base_url: str) -> None:
    log_in(page, base_url)


def test_focus_stays_on_the_row_link_across_a_live_refresh_that_changes_that_row(
        browser: Any, live: dict[str, Any]) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    _log_in(page, live["url"])
    page.get_by_role("link", name="Joan Smith").focus()
    page.evaluate("window.notReloaded = true")

    live["simulator"].call("01134960001", ["1234", "4721"])  # Amy arrives: Joan's row changes
    expect(page.locator('tr[data-ref="JOAN-AM"]')).to_contain_text("In progress", timeout=5000)
    focused = page.evaluate("""() => { const e = document.activeElement;
        const row = e.closest('tr');
        return [e.tagName, e.textContent.trim(), row && row.dataset.ref]; }""")
    assert focused == ["A", "Joan Smith", "JOAN-AM"]
    expect(page.locator("#board-announce")).to_have_text(
        "1 visit changed: J.S. now In progress", timeout=5000)
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=str(ARTIFACTS / "office-board-focus-kept.png"))


def test_a_logout_on_another_device_puts_a_loud_banner_over_old_rows(
        browser: Any, live: dict[str, Any]) -> None:
    wall = browser.new_page(viewport={"width": 1280, "height": 800})
    _log_in(wall, live["url"])
    other = browser.new_context().new_page()  # the same person, another device
    _log_in(other, live["url"])
    other.get_by_role("button", name="Log out").click()

    banner = wall.locator("#board-banner")
    expect(banner).to_be_visible(timeout=5000)
    expect(banner).to_contain_text("Your session has ended: log in again.")
    assert wall.locator("#board-live.board-stale").count() == 1  # rows greyed, not current
    assert wall.locator("#board-live").get_attribute("inert") == ""  # not read, not focusable
    wall.screenshot(path=str(ARTIFACTS / "office-board-session-ended.png"))
    wall.get_by_role("link", name="Log in again").click()
    assert "/office/login" in wall.url


def test_on_a_phone_each_visit_starts_with_its_status_and_what_it_needs(
        browser: Any, live: dict[str, Any], clock: FixedClock) -> None:
    clock.advance(minutes=35)  # Edith's visit is late: it needs someone
    page = browser.new_page(viewport={"width": 390, "height": 844})
    _log_in(page, live["url"])
    row = page.locator('tr[data-ref="EDITH-AM"]')
    status, needs = row.locator("td").nth(1), row.locator("td.needs")
    planned, client = row.locator("td").nth(0), row.locator("td").nth(2)
    box = {name: cell.bounding_box() for name, cell in (
        ("status", status), ("needs", needs), ("planned", planned), ("client", client))}
    assert box["status"]["y"] < box["needs"]["y"] < box["planned"]["y"]
    assert box["needs"]["y"] < box["client"]["y"]
    for name in ("status", "needs"):  # on screen, not scrolled off to the right
        assert box[name]["x"] >= 0 and box[name]["x"] + box[name]["width"] <= 390
    assert "nobody there yet" in needs.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "office-board-phone.png"), full_page=True)
