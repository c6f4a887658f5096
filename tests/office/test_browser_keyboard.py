"""The acknowledge and reason-code flows with the keyboard alone (Tab, Enter, Space, typing),
across live refreshes of the board: focus and what was typed stay put while rows change under
them, and the flow ends with the worklist one shorter.

Same live gateway as test_browser.py (refresh every second, SQLite only); screenshots to
test-artifacts/.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from playwright.sync_api import expect

from ivr_gateway.clock import FixedClock
from tests.office.browser import ARTIFACTS, BROWSER_MARKS
from tests.office.fakes import late_alert
from tests.office.test_browser import (  # noqa: F401 - its `live` fixture, used below
    NOW,
    _log_in,
    _row,
    live,
)

pytestmark = BROWSER_MARKS

EDITH_LINK = 'tr[data-ref="EDITH-AM"] td a'


def _tab_to(page: Any, selector: str, *, most: int = 120) -> None:
    """Press Tab (only Tab) until the focused element matches the selector."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)",
                         selector):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


def _focused(page: Any) -> list[str]:
    """The focused element: its tag, text (or typed value) and the board row it is in."""
    return list(page.evaluate("""() => { const e = document.activeElement;
        const row = e.closest('tr');
        return [e.tagName, (e.value !== undefined && e.tagName !== 'BUTTON') ? e.value :
                e.textContent.trim(), row ? row.dataset.ref : '']; }"""))


def _due_hours(page: Any) -> int:
    match = re.search(r"reason code due in (\d+) h", _row(page, "EDITH-AM").inner_text())
    assert match, _row(page, "EDITH-AM").inner_text()
    return int(match.group(1))


def test_acknowledge_by_keyboard_across_a_live_refresh(
        browser: Any, live: dict[str, Any], clock: FixedClock) -> None:  # noqa: F811 - fixture
    live["alerts"].alerts[1] = late_alert("EDITH-AM", NOW + timedelta(minutes=21))
    clock.advance(minutes=25)  # Ben is 35 minutes late at Edith's
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _log_in(page, live["url"])
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#count-attention")).to_have_text("1")

    # Typed into the search box, not sent: a refresh that changes rows leaves it as typed.
    _tab_to(page, "#q")
    page.keyboard.type("Edi")
    live["simulator"].call("01134960001", ["1234", "4721"])  # Amy arrives at Joan's
    expect(_row(page, "JOAN-AM")).to_contain_text("In progress", timeout=5000)  # refreshed
    assert _focused(page) == ["INPUT", "Edi", ""]
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")

    # On Edith's row when the row itself changes (Ben rings in from Edith's at last): focus
    # stays on the same link of the new row, and the change is announced.
    _tab_to(page, EDITH_LINK)
    live["simulator"].call("01134960003", ["3456", "8052"])
    expect(_row(page, "EDITH-AM")).to_contain_text("In progress", timeout=5000)
    assert _focused(page) == ["A", "Edith Clarke", "EDITH-AM"]
    expect(page.locator("#board-announce")).to_have_text(
        "1 visit changed: E.C. now In progress", timeout=5000)
    expect(page.locator("#count-attention")).to_have_text("1")  # the alert is still open
    assert page.evaluate("window.notReloaded") is True

    page.keyboard.press("Enter")  # to the visit page
    page.wait_for_url(f"{live['url']}/office/visits/EDITH-AM")
    _tab_to(page, "#ack-note-1")
    page.keyboard.type("rang Ben, on his way")
    page.keyboard.press("Tab")
    assert _focused(page)[:2] == ["BUTTON", "Acknowledge alert 1"]
    page.keyboard.press("Space")
    page.get_by_text("Alert 1 acknowledged.").wait_for()

    _tab_to(page, 'a[href^="/office/?"], a[href="/office/"]')
    page.keyboard.press("Enter")
    expect(page.locator("#count-attention")).to_have_text("0")
    assert "acknowledged by Cora 09:25: rang Ben, on his way" in _row(page, "EDITH-AM").inner_text()
    page.screenshot(path=str(ARTIFACTS / "office-keyboard-acknowledge.png"), full_page=True)


def test_record_a_reason_code_by_keyboard_across_a_live_refresh(
        browser: Any, live: dict[str, Any], clock: FixedClock) -> None:  # noqa: F811 - fixture
    live["simulator"].call("01134960001", ["1234", "4721"])  # Amy in and out at Joan's
    clock.advance(minutes=30)
    live["simulator"].call("01134960001", ["1234", "4721"])
    clock.advance(hours=2, minutes=30)  # nobody came to Edith's 08:50 visit: missed
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _log_in(page, live["url"])
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#count-attention")).to_have_text("1")  # Edith's reason code
    due = _due_hours(page)

    _tab_to(page, EDITH_LINK)
    clock.advance(hours=1)  # Edith's row changes under the focus: an hour less to give it
    expect(_row(page, "EDITH-AM")).to_contain_text(f"reason code due in {due - 1} h",
                                                   timeout=5000)
    assert _focused(page) == ["A", "Edith Clarke", "EDITH-AM"]
    assert page.evaluate("window.notReloaded") is True

    page.keyboard.press("Enter")
    page.wait_for_url(f"{live['url']}/office/visits/EDITH-AM")
    _tab_to(page, "#reason-code")
    page.keyboard.type("Client in hospital")  # a closed select picks the option typed
    assert page.eval_on_selector("#reason-code", "s => s.value") == "client_in_hospital"
    page.keyboard.press("Tab")
    page.keyboard.type("admitted overnight")
    page.keyboard.press("Tab")
    assert _focused(page)[:2] == ["BUTTON", "Record reason code"]
    page.keyboard.press("Enter")
    page.get_by_text("Reason code recorded.").wait_for()

    _tab_to(page, 'a[href^="/office/?"], a[href="/office/"]')
    page.keyboard.press("Enter")
    expect(page.locator("#count-attention")).to_have_text("0")
    assert "reason: Client in hospital" in _row(page, "EDITH-AM").inner_text()
    page.screenshot(path=str(ARTIFACTS / "office-keyboard-reason.png"), full_page=True)
