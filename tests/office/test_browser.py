"""The dashboard in a real browser (Playwright driving Debian's chromium) against a real port.

SQLite only: these tests are about what the coordinator sees and does; the permission and CSRF
tests run on both engines. Screenshots go to test-artifacts/ for a person to look at.
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
from tests.office.fakes import FakeAlerts, late_alert

NOW = datetime(2026, 7, 7, 8, 0, tzinfo=UTC)  # Tuesday 09:00 in London (BST)
JOAN_LANDLINE = "+441134960001"

pytestmark = BROWSER_MARKS




@pytest.fixture
def live(database: Database, clock: FixedClock, session: Session) -> Iterator[dict[str, Any]]:
    """The gateway on a real port with a coordinator, two clients and two visits at 09:00."""
    clock.set(NOW)
    joan = make_adult(session, ref="A1", landlines=(JOAN_LANDLINE,), client_number="100001")
    edith = make_adult(session, ref="A2", given_name="Edith", family_name="Clarke",
                       landlines=("+441134960003",), client_number="100004")
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="4721")
    ben = make_care_worker(session, ref="C2", staff_number="3456", pin="8052",
                           given_name="Ben", family_name="Taylor")
    make_planned_visit(session, joan, [amy], start=NOW - timedelta(minutes=1), ref="JOAN-AM")
    make_planned_visit(session, edith, [ben], start=NOW - timedelta(minutes=10), ref="EDITH-AM")
    session.commit()
    make_office_user(session, "cora", OfficeRole.COORDINATOR)
    alerts = FakeAlerts()

    def app_at(base_url: str) -> Flask:
        app = create_app(Settings(database_url=database.url, public_base_url=base_url),
                         database, clock)
        app.config["OFFICE_BOARD_REFRESH_SECONDS"] = 1
        register_alert_source(app, alerts)
        return app

    ARTIFACTS.mkdir(exist_ok=True)
    with serving(app_at) as base_url:
        settings = Settings(database_url=database.url, public_base_url=base_url)
        simulator = PhoneSimulator(base_url, settings.twilio_auth_token,
                                   account_sid=settings.twilio_account_sid,
                                   gateway_number=settings.twilio_phone_number)
        yield {"url": base_url, "simulator": simulator, "alerts": alerts}


def _log_in(page: Any, base_url: str) -> None:
    log_in(page, base_url)


def _row(page: Any, ref: str) -> Any:
    return page.locator(f'tr[data-ref="{ref}"]')


def test_the_board_turns_a_visit_red_when_no_call_arrives_and_shows_a_call_that_does(
        browser: Any, live: dict[str, Any], clock: FixedClock) -> None:
    page = browser.new_page(viewport={"width": 1024, "height": 768})  # a tablet on its side
    _log_in(page, live["url"])
    page.keyboard.press("Tab")  # the first stop on every page skips the navigation
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert "Due" in _row(page, "EDITH-AM").inner_text()
    page.evaluate("window.notReloaded = true")

    live["simulator"].call("01134960001", ["1234", "4721"])  # Amy arrives at Joan's
    expect(_row(page, "JOAN-AM")).to_contain_text("In progress", timeout=5000)
    assert "caller ID" in _row(page, "JOAN-AM").inner_text()

    clock.advance(minutes=25)  # Ben is now 35 minutes late at Edith's, and has not called
    expect(_row(page, "EDITH-AM")).to_have_class("row-late", timeout=5000)
    status = _row(page, "EDITH-AM").locator(".status")
    assert status.inner_text() == "Late"  # the word, not only the colour
    assert status.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(176, 0, 32)"
    assert page.evaluate("window.notReloaded") is True  # refreshed in place
    page.screenshot(path=str(ARTIFACTS / "office-board.png"), full_page=True)


def test_acknowledge_an_alert_record_a_reason_and_correct_a_visit(
        browser: Any, live: dict[str, Any], clock: FixedClock) -> None:
    live["alerts"].alerts[1] = late_alert("EDITH-AM", NOW + timedelta(minutes=21))
    live["simulator"].call("01134960001", ["1234", "4721"])  # Amy logs in at Joan's, 09:00
    clock.advance(minutes=25)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _log_in(page, live["url"])

    page.get_by_role("link", name="Edith Clarke").click()
    page.get_by_label("Note (optional)").fill("Rang Ben: stuck in traffic")
    page.get_by_role("button", name="Acknowledge alert 1").click()
    page.get_by_text("Alert 1 acknowledged.").wait_for()
    assert ("Acknowledged by Cora (office) at 09:25: “Rang Ben: stuck in traffic”"
            in page.inner_text("body"))

    clock.advance(hours=3)  # nobody came: missed
    page.reload()
    assert "Due by Thu 9 Jul 08:50: 44 hours left" in page.inner_text("#reason-countdown")
    page.get_by_label("Reason", exact=True).select_option("client_in_hospital")
    page.get_by_role("button", name="Record reason code").click()
    page.get_by_text("Reason code recorded.").wait_for()
    assert "Recorded: Client in hospital" in page.inner_text("body")

    page.goto(f"{live['url']}/office/visits/JOAN-AM")
    page.get_by_label("Log-out time").fill("2026-07-07T09:40")
    page.get_by_label("Reason (required)").first.fill("Amy rang: her phone died at log-out")
    page.get_by_role("button", name="Record correction").click()
    page.get_by_text("Correction recorded as new evidence.").wait_for()
    audit = page.inner_text("#audit")
    assert "Cora corrected Amy Jones's times: log-out" in audit and "office:cora" not in audit
    assert "Amy rang: her phone died at log-out" in audit
    assert "Log-out by office correction" in page.inner_text(".timeline")
    assert "Log-in by phone call" in page.inner_text(".timeline")
    page.screenshot(path=str(ARTIFACTS / "office-visit.png"), full_page=True)

    page.goto(f"{live['url']}/office/")
    assert "Completed" in _row(page, "JOAN-AM").inner_text()
    assert "Missed" in _row(page, "EDITH-AM").inner_text()

