"""Putting the day right in a real browser: send another carer over a clash; move a log event.

SQLite only, like test_browser.py; screenshots go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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
from ivr_gateway.models import LogEvent, PlannedVisit
from ivr_gateway.office.models import OfficeRole
from ivr_gateway.outbox.models import OutboxMessage
from ivr_gateway.simulator import PhoneSimulator
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.live_server import serving
from tests.office.browser import ARTIFACTS, BROWSER_MARKS, log_in
from tests.office.conftest import make_office_user

NOW = datetime(2026, 7, 7, 6, 0, tzinfo=UTC)  # Tuesday 07:00 in London (BST): the morning

pytestmark = BROWSER_MARKS




@pytest.fixture
def live(database: Database, clock: FixedClock, session: Session) -> Iterator[dict[str, Any]]:
    """The gateway on a real port; Joan has Amy at 08:30 and 09:00, Edith has Ben at 09:15."""
    clock.set(NOW)
    joan = make_adult(session, ref="A1", landlines=("+441134960001",), client_number="100001")
    edith = make_adult(session, ref="A2", given_name="Edith", family_name="Clarke",
                       landlines=("+441134960003",), client_number="100004")
    make_adult(session, ref="A3", given_name="Olga", family_name="Nowak",  # no visit today
               landlines=("+441134960009",), client_number="100009")
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="4721",
                           mobiles=("+447911123450",))
    ben = make_care_worker(session, ref="C2", staff_number="3456", pin="8052",
                           given_name="Ben", family_name="Taylor", mobiles=("+447911123451",))
    nine = NOW + timedelta(hours=2)
    make_planned_visit(session, joan, [amy], start=nine - timedelta(minutes=30), ref="JOAN-EARLY")
    make_planned_visit(session, joan, [amy], start=nine, ref="JOAN-AM")
    make_planned_visit(session, edith, [ben], start=nine + timedelta(minutes=15),
                       ref="EDITH-AM")
    session.commit()
    make_office_user(session, "cora", OfficeRole.COORDINATOR)

    def app_at(base_url: str) -> Flask:
        return create_app(Settings(database_url=database.url, public_base_url=base_url),
                          database, clock)

    ARTIFACTS.mkdir(exist_ok=True)
    with serving(app_at) as base_url:
        settings = Settings(database_url=database.url, public_base_url=base_url)
        yield {"url": base_url, "simulator": PhoneSimulator(
            base_url, settings.twilio_auth_token, account_sid=settings.twilio_account_sid,
            gateway_number=settings.twilio_phone_number)}


def _log_in(page: Any, base_url: str) -> None:
    log_in(page, base_url)


def test_sending_a_booked_carer_warns_of_the_clash_and_texts_both_once_confirmed(
        browser: Any, live: dict[str, Any], database: Database) -> None:
    base = live["url"]
    page = browser.new_page(viewport={"width": 1024, "height": 900})
    _log_in(page, base)
    page.goto(f"{base}/office/visits/JOAN-AM")
    page.get_by_label("Instead of").select_option("C1")
    page.get_by_label("Send", exact=True).select_option("C2")
    page.get_by_label("Reason (required)").last.fill("Amy rang in sick at 06:50")
    page.get_by_role("button", name="Reassign…").click()

    warning = page.locator("#clash-warning")
    expect(warning).to_contain_text("Ben Taylor is already booked at that time")
    expect(warning).to_contain_text("EDITH-AM: Edith Clarke, 09:15–09:45")
    expect(page.locator("#texts-list")).to_contain_text(
        "EHM: please go to J.S. at 09:00 today instead of Amy. Reply HELP for help.")
    page.screenshot(path=str(ARTIFACTS / "send-carer-clash.png"), full_page=True)
    with database.unit_of_work() as db:  # nothing changed yet
        joan = db.scalars(select(PlannedVisit).where(PlannedVisit.ref == "JOAN-AM")).one()
        assert [c.ref for c in joan.care_workers] == ["C1"]

    page.get_by_role("button", name="Send Ben Taylor anyway").click()
    page.wait_for_url(f"{base}/office/visits/JOAN-AM")
    expect(page.locator(".flash-success")).to_contain_text(
        "Ben Taylor is sent instead of Amy Jones. Texted: Ben Taylor, Amy Jones.")
    expect(page.locator("#audit")).to_contain_text("Clashes accepted: EDITH-AM")
    page.screenshot(path=str(ARTIFACTS / "send-carer-sent.png"), full_page=True)
    with database.unit_of_work() as db:
        bodies = [m.payload["body"] for m in db.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "sms"))]
    assert len(bodies) == 2 and all("J.S." in b and "Joan" not in b for b in bodies)


def test_a_log_in_put_on_the_wrong_visit_is_moved_from_the_visit_page_with_its_evidence_kept(
        browser: Any, live: dict[str, Any], database: Database, clock: FixedClock) -> None:
    base = live["url"]
    clock.set(NOW + timedelta(hours=1, minutes=40))  # 08:40: Amy, early for the 09:00, calls
    live["simulator"].call("01134960001", ["1234", "4721"])
    page = browser.new_page(viewport={"width": 1024, "height": 900})
    _log_in(page, base)
    page.goto(f"{base}/office/visits/JOAN-EARLY")  # nearest in time: the 08:30 it went on
    page.get_by_role("link", name="Move to another visit…").click()

    page.get_by_label("JOAN-AM: Joan Smith, 09:00–09:30 (Amy Jones; same client)").check()
    page.get_by_label("Reason (required)").fill("the 08:30 was cancelled; Amy came for the 09:00")
    page.screenshot(path=str(ARTIFACTS / "move-log-event-choose.png"), full_page=True)
    page.get_by_role("button", name="Move the log-in").click()

    page.wait_for_url(f"{base}/office/visits/JOAN-AM")
    expect(page.locator(".flash-success")).to_contain_text(
        "Moved from JOAN-EARLY to JOAN-AM; the original is kept, marked superseded.")
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("Log-in by office correction")
    expect(timeline).to_contain_text("moved by the office (office:cora) to visit JOAN-AM")
    expect(page.locator("#audit")).to_contain_text("moved a log event from JOAN-EARLY to JOAN-AM")
    page.screenshot(path=str(ARTIFACTS / "move-log-event-moved.png"), full_page=True)
    with database.unit_of_work() as db:
        events = db.scalars(select(LogEvent).order_by(LogEvent.id)).all()
        assert [(e.channel.value, e.superseded_by_id) for e in events] == [
            ("ivr", events[1].id), ("office", None)]


def test_an_unplanned_visit_leaves_the_unmatched_queue_once_linked_to_its_planned_visit(
        browser: Any, live: dict[str, Any], database: Database, clock: FixedClock) -> None:
    base = live["url"]
    clock.set(NOW + timedelta(hours=2, minutes=5))  # 09:05: Amy rings from Olga's next door
    live["simulator"].call("01134960009", ["1234", "4721"])
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    _log_in(page, base)
    page.get_by_role("link", name="Unmatched").click()
    row = page.locator('tr[data-kind="unplanned"]')
    expect(row).to_contain_text("Unplanned visit at Olga Nowak")
    row.get_by_label("Visit").select_option("JOAN-AM")
    row.get_by_label("Reason").first.fill("Amy rang from Olga's phone; she was at Joan's")
    page.screenshot(path=str(ARTIFACTS / "unmatched-queue.png"), full_page=True)
    row.get_by_role("button", name="Link").click()

    expect(page.locator(".flash-success")).to_contain_text("Linked to visit JOAN-AM.")
    expect(page.locator("#unmatched-empty")).to_be_visible()
    page.goto(f"{base}/office/visits/JOAN-AM")
    expect(page.locator(".status")).to_contain_text("In progress")
    page.screenshot(path=str(ARTIFACTS / "unmatched-linked.png"), full_page=True)
