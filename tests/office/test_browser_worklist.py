"""The coordinator's morning in a real browser: the board empties as alerts are taken, and the
visit page puts the numbers and the acknowledge button on a phone's first screen.

Same live gateway and chromium as test_browser.py (SQLite only); screenshots to test-artifacts/.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.models import CareWorker, CareWorkerMobile
from tests.office.browser import ARTIFACTS, BROWSER_MARKS
from tests.office.fakes import late_alert
from tests.office.test_browser import (  # noqa: F401 - its `live` fixture, used below
    NOW,
    _log_in,
    _row,
    live,
)

pytestmark = BROWSER_MARKS


def test_acknowledging_an_alert_takes_the_visit_off_the_worklist(
        browser: Any, live: dict[str, Any], clock: FixedClock) -> None:  # noqa: F811 - fixture
    live["alerts"].alerts[1] = late_alert("EDITH-AM", NOW + timedelta(minutes=21))
    clock.advance(minutes=25)  # Ben is 35 minutes late at Edith's; Joan's visit not yet late
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _log_in(page, live["url"])
    assert page.inner_text("#count-attention") == "1"
    assert "nobody there yet" in _row(page, "EDITH-AM").inner_text()

    page.get_by_role("link", name="Edith Clarke").click()
    page.get_by_label("Note (optional)").fill("rang Ben, on his way")
    page.get_by_role("button", name="Acknowledge alert 1").click()
    page.get_by_text("Alert 1 acknowledged.").wait_for()

    page.get_by_role("link", name="← Board").click()
    expect(page.locator("#count-attention")).to_have_text("0")
    row = _row(page, "EDITH-AM").inner_text()
    assert "acknowledged by Cora 09:25: rang Ben, on his way" in row
    assert "nobody there yet" not in row
    page.get_by_label("Show").select_option("mine")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    assert _row(page, "EDITH-AM").count() == 1
    page.screenshot(path=str(ARTIFACTS / "office-board-worklist.png"), full_page=True)


def test_on_a_phone_the_numbers_and_the_acknowledge_button_are_on_the_first_screen(
        browser: Any, live: dict[str, Any], clock: FixedClock,  # noqa: F811
        session: Session) -> None:
    ben = session.scalars(select(CareWorker).where(CareWorker.ref == "C2")).one()
    session.add(CareWorkerMobile(care_worker_id=ben.id, number="+447911123450"))
    session.commit()
    live["alerts"].alerts[1] = late_alert("EDITH-AM", NOW + timedelta(minutes=21))
    clock.advance(minutes=25)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    _log_in(page, live["url"])
    page.goto(f"{live['url']}/office/visits/EDITH-AM")

    ring_ben = page.get_by_role("link", name="07911 123450")
    assert ring_ben.get_attribute("href") == "tel:+447911123450"
    assert page.get_by_role("link", name="0113 496 0003").get_attribute("href") == \
        "tel:+441134960003"
    button = page.get_by_role("button", name="Acknowledge alert 1")
    box = button.bounding_box()
    assert box is not None and box["y"] + box["height"] < 844, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    page.screenshot(path=str(ARTIFACTS / "office-visit-phone.png"))
