"""A wall screen in a real browser: an administrator makes the display link on the dashboard,
the screen keeps refreshing while she logs out, and stops with a clear message once she revokes
it. Screenshots: test-artifacts/. SQLite only, like the other browser tests."""

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
    """The gateway on a real port, refreshing every second: Joan's 09:00 visit; ada (admin)."""
    clock.set(NOW)
    joan = make_adult(session, ref="A1", landlines=("+441134960001",), client_number="100001")
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="4721")
    make_planned_visit(session, joan, [amy], start=NOW - timedelta(minutes=1), ref="JOAN-AM")
    session.commit()
    make_office_user(session, "ada", OfficeRole.ADMINISTRATOR)

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


def test_a_wall_screen_outlives_a_logout_and_stops_when_its_link_is_revoked(
        browser: Any, live: dict[str, Any]) -> None:
    admin = browser.new_context().new_page()
    log_in(admin, live["url"], "ada", path="/office/display-links")
    admin.get_by_label("Name (the screen it is for)").fill("Office wall")
    admin.get_by_label("Name (the screen it is for)").press("Enter")
    address = admin.locator("#new-display-link").inner_text()

    wall = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    wall.goto(address)
    expect(wall.locator('tr[data-ref="JOAN-AM"]')).to_contain_text("Due")
    assert wall.get_by_role("link", name="Joan Smith").count() == 0  # read-only
    wall.evaluate("window.notReloaded = true")

    admin.get_by_role("button", name="Log out").click()  # every session of hers ends
    live["simulator"].call("01134960001", ["1234", "4721"])  # Amy arrives at Joan's
    expect(wall.locator('tr[data-ref="JOAN-AM"]')).to_contain_text("In progress", timeout=5000)
    expect(wall.locator("#board-announce")).to_have_text(
        "1 visit changed: J.S. now In progress", timeout=5000)
    assert wall.locator("#board-banner").is_hidden()
    assert wall.evaluate("window.notReloaded") is True
    wall.screenshot(path=str(ARTIFACTS / "office-wall-screen.png"))

    log_in(admin, live["url"], "ada", path="/office/display-links")
    admin.get_by_role("link", name="Revoke Office wall…").click()
    admin.get_by_role("button", name="Revoke Office wall").click()
    expect(admin.locator(".flash-success")).to_have_text("Display link revoked.")

    banner = wall.locator("#board-banner")
    expect(banner).to_be_visible(timeout=5000)
    expect(banner).to_contain_text("This display link was revoked by an administrator")
    assert wall.locator("tr[data-ref]").count() == 0  # the rows are gone, not left stale
    wall.screenshot(path=str(ARTIFACTS / "office-wall-screen-revoked.png"))
