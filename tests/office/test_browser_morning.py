"""Issue 12's "done when": a coordinator clears a morning's exceptions from the board to an empty
"need attention", without leaving the dashboard or reading a code, on a desktop and on a phone.

Nothing is faked: the alerts are the escalation package's own, raised by real ticks of the
scheduler's job on the test's clock; the carers ring in through the phone simulator (signed
webhooks); the coordinator uses only what the pages offer. The morning (Tuesday 7 July 2026, in
London; the board is opened at 09:00):
- Mary's 06:30 visit: Carl never came (missed, a reason code due, alerts climbed);
- Joan's 07:30 visit: Amy logged in and never logged out (the log-out chase alert);
- Dot's 08:30 double-up: Dan came, Eve did not (a carer short);
- Edith's 08:30 visit: Ben is half an hour late (nobody there yet).

SQLite only, like the other browser tests; screenshots of the full and the empty worklist go to
test-artifacts/.
"""

from __future__ import annotations

import re
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
from ivr_gateway.simulator import PhoneSimulator
from tests.escalation.conftest import Escalation, make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.live_server import serving
from tests.office.browser import ARTIFACTS, BROWSER_MARKS, log_in
from tests.office.conftest import make_office_user

DAWN = datetime(2026, 7, 7, 5, 0, tzinfo=UTC)  # 06:00 in London (BST)
NINE = datetime(2026, 7, 7, 8, 0, tzinfo=UTC)  # 09:00 in London: the coordinator starts
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# A code on screen: a snake_case identifier (no_carer_available), a role in brackets, a level.
RAW_CODE = re.compile(r"\b[a-z]+_[a-z_]+\b|\((?:level \d|on_call|office)\)")

pytestmark = BROWSER_MARKS


@pytest.fixture
def morning(database: Database, clock: FixedClock, session: Session
            ) -> Iterator[dict[str, Any]]:
    """The rota, the office ladder, the gateway on a real port and the morning played to 09:00."""
    clock.set(DAWN)
    mary = make_adult(session, ref="A1", given_name="Mary", family_name="Hughes",
                      landlines=("+441134960001",), client_number="100001")
    joan = make_adult(session, ref="A2", given_name="Joan", family_name="Smith",
                      landlines=("+441134960002",), client_number="100002")
    dot = make_adult(session, ref="A3", given_name="Dorothy", family_name="Evans",
                     landlines=("+441134960003",), client_number="100003")
    edith = make_adult(session, ref="A4", given_name="Edith", family_name="Clarke",
                       landlines=("+441134960004",), client_number="100004")
    carl = make_care_worker(session, ref="C1", staff_number="1001", pin="4721",
                            given_name="Carl", family_name="Brown", mobiles=("+447911123451",))
    amy = make_care_worker(session, ref="C2", staff_number="1002", pin="4722",
                           given_name="Amy", family_name="Jones", mobiles=("+447911123452",))
    dan = make_care_worker(session, ref="C3", staff_number="1003", pin="4723",
                           given_name="Dan", family_name="Green", mobiles=("+447911123453",))
    eve = make_care_worker(session, ref="C4", staff_number="1004", pin="4724",
                           given_name="Eve", family_name="White", mobiles=("+447911123454",))
    ben = make_care_worker(session, ref="C5", staff_number="1005", pin="4725",
                           given_name="Ben", family_name="Taylor", mobiles=("+447911123455",))
    make_care_worker(session, ref="C6", staff_number="1006", pin="4726",  # free this morning
                     given_name="Fay", family_name="Khan", mobiles=("+447911123456",))
    make_planned_visit(session, mary, [carl], start=DAWN + timedelta(minutes=30), ref="MARY-AM")
    make_planned_visit(session, joan, [amy], start=DAWN + timedelta(minutes=90), ref="JOAN-AM")
    make_planned_visit(session, dot, [dan, eve], start=NINE - timedelta(minutes=30),
                       ref="DOT-AM")
    make_planned_visit(session, edith, [ben], start=NINE - timedelta(minutes=30),
                       ref="EDITH-AM")
    session.commit()
    make_ladder(session, DAWN)
    make_office_user(session, "cora", OfficeRole.COORDINATOR)
    settings = Settings(database_url=database.url)
    escalation = Escalation(database, settings, clock)

    def app_at(base_url: str) -> Flask:
        return create_app(Settings(database_url=database.url, public_base_url=base_url),
                          database, clock)

    ARTIFACTS.mkdir(exist_ok=True)
    with serving(app_at) as base_url:
        phones = PhoneSimulator(base_url, settings.twilio_auth_token,
                                account_sid=settings.twilio_account_sid,
                                gateway_number=settings.twilio_phone_number)
        escalation.run_until(DAWN + timedelta(minutes=90), step=timedelta(minutes=5))
        phones.call("01134960002", ["1002", "4722"])  # Amy arrives at Joan's, 07:30
        escalation.run_until(NINE - timedelta(minutes=29), step=timedelta(minutes=5))
        phones.call("01134960003", ["1003", "4723"])  # Dan arrives at Dot's, 08:35
        escalation.run_until(NINE + timedelta(minutes=5), step=timedelta(minutes=2))
        yield {"url": base_url, "escalation": escalation}


def _attention(page: Any) -> int:
    return int(page.inner_text("#count-attention"))


def _no_codes(page: Any, where: str) -> None:
    """The coordinator reads words: no snake_case identifier or bracketed code on the page."""
    found = sorted(set(RAW_CODE.findall(page.inner_text("main"))))
    assert not found, f"codes on {where}: {found}"


def _visit(page: Any, base: str, ref: str) -> None:
    """From the board to the visit, by its row's link (the dashboard's own way there)."""
    page.goto(f"{base}/office/")
    page.locator(f'tr[data-ref="{ref}"] td a').first.click()
    page.wait_for_url(re.compile(f"/office/visits/{ref}"))
    _no_codes(page, f"the visit page of {ref}")


def _form(page: Any, button: str) -> Any:
    """The form whose submit button says `button` (a visit page has several "Reason" fields)."""
    return page.locator("form", has=page.get_by_role("button", name=button, exact=True))


def _acknowledge_every_open_alert(page: Any, note: str) -> int:
    """Acknowledge the visit's open alerts (their buttons say which), with a note; how many."""
    taken = 0
    while (forms := page.locator("form.ack")).count():
        button = forms.first.get_by_role("button", name=re.compile(r"^Acknowledge alert \d+$"))
        number = button.inner_text().rsplit(" ", 1)[1]
        forms.first.get_by_label("Note (optional)").fill(note)
        button.click()
        page.get_by_text(f"Alert {number} acknowledged.").wait_for()
        taken += 1
    return taken


@pytest.mark.parametrize("device", sorted(VIEWPORTS))
def test_the_coordinator_clears_the_morning_to_an_empty_worklist(
        browser: Any, morning: dict[str, Any], device: str) -> None:
    base = morning["url"]
    page = browser.new_page(viewport=VIEWPORTS[device])
    log_in(page, base)
    _no_codes(page, "the board")
    assert _attention(page) == 4
    page.get_by_label("Show").select_option("attention")
    page.get_by_role("button", name="Apply").click()
    for ref, still in (("MARY-AM", "nobody went"), ("JOAN-AM", "alert"),
                       ("DOT-AM", "a carer short"), ("EDITH-AM", "nobody there yet")):
        expect(page.locator(f'tr[data-ref="{ref}"]')).to_contain_text(still)
    page.screenshot(path=str(ARTIFACTS / f"morning-{device}-full.png"), full_page=True)

    # Mary's missed visit: ring round (acknowledge), then the reason code the council needs.
    _visit(page, base, "MARY-AM")
    assert _acknowledge_every_open_alert(page, "rang Carl: his car broke down") >= 1
    page.get_by_label("Reason", exact=True).select_option(label="Client in hospital")
    page.get_by_role("button", name="Record reason code").click()
    page.get_by_text("Reason code recorded.").wait_for()

    # Joan's visit with no log-out: Amy says she left at 08:00; the times are put right.
    _visit(page, base, "JOAN-AM")
    _acknowledge_every_open_alert(page, "rang Amy: she left at 08:00")
    correction = _form(page, "Record correction")
    correction.get_by_label("Log-out time").fill("2026-07-07T08:00")
    correction.get_by_label("Reason (required)").fill("Amy rang: she forgot to log out")
    correction.get_by_role("button", name="Record correction").click()
    expect(page.locator(".flash-success")).to_be_visible()

    # Dot's double-up with one carer: send Fay instead of Eve (free, so no clash to accept).
    _visit(page, base, "DOT-AM")
    _acknowledge_every_open_alert(page, "Eve is off sick")
    send = _form(page, "Reassign…")
    send.get_by_label("Instead of").select_option("C4")
    send.get_by_label("Send", exact=True).select_option("C6")
    send.get_by_label("Reason (required)").fill("Eve is off sick today")
    send.get_by_role("button", name="Reassign…").click()
    expect(page.locator("#clash-warning")).to_have_count(0)  # Fay is free: nothing to accept
    page.get_by_role("button", name="Send Fay Khan", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("Fay Khan is sent instead of Eve White")

    # Edith's late visit: Ben is on his way.
    _visit(page, base, "EDITH-AM")
    assert _acknowledge_every_open_alert(page, "rang Ben, on his way") >= 1

    morning["escalation"].tick()  # the scheduler's next tick settles what was put right
    page.goto(f"{base}/office/")
    expect(page.locator("#count-attention")).to_have_text("0")
    _no_codes(page, "the board")
    for ref, handled in (("MARY-AM", "reason: Client in hospital"),
                         ("DOT-AM", "Fay Khan sent instead of Eve White"),
                         ("EDITH-AM", "rang Ben, on his way")):
        expect(page.locator(f'tr[data-ref="{ref}"]')).to_contain_text(handled)
    page.get_by_label("Show").select_option("attention")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator('tbody tr[data-ref]')).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / f"morning-{device}-empty.png"), full_page=True)
    if device == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
