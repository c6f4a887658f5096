"""Forms keep what was typed after a refusal, and start from the current values.

A refused form goes back to its page (post/redirect/get); the page shows the words the person
typed, never a password, and only once. The correction form starts from the carer's recorded
times, and a time left as it is changes nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.db import Database
from ivr_gateway.models import LogEvent
from ivr_gateway.office.models import OfficeUser
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import play
from tests.office.conftest import Office
from tests.twilio_client import TwilioClient

LANDLINE = "+441134960001"
NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)  # GMT: London = UTC


def _rota(session: Session) -> None:
    adult = make_adult(session, ref="A1", landlines=(LANDLINE,))
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="5678")
    make_planned_visit(session, adult, [amy], start=NINE_AM, minutes=30, ref="V1")
    session.commit()


def _value(html: str, field_id: str) -> str:
    """The value an input shows ('' when it has none)."""
    tag = re.search(rf'<input id="{field_id}"[^>]*>', html)
    assert tag, f"no input {field_id}"
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return unescape(value.group(1)) if value else ""


def _selected(html: str, select_id: str) -> str:
    block = html.split(f'<select id="{select_id}"', 1)[1].split("</select>", 1)[0]
    chosen = re.search(r'<option value="([^"]*)" selected', block)
    return chosen.group(1) if chosen else ""


def _events(database: Database) -> list[tuple[str, str]]:
    with database.unit_of_work() as session:
        return [(e.channel.value, e.kind.value) for e in session.scalars(
            select(LogEvent).order_by(LogEvent.id))]


def test_the_correction_form_starts_from_the_times_recorded_and_keeps_a_refused_entry(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(minutes=2))
    play(twilio, LANDLINE, "1234", "5678")
    clock.set(NINE_AM + timedelta(minutes=10))
    play(twilio, LANDLINE, "1234", "5678")
    clock.set(NINE_AM + timedelta(minutes=40))
    page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert _value(page, "corr-in") == "2026-01-13T09:02"
    assert _value(page, "corr-out") == "2026-01-13T09:10"

    # The log-out before the log-in: refused, and the form comes back as typed.
    reason = "Amy rang: she left at 09:31, her phone was flat"
    refused = as_coordinator.post("/office/visits/V1/correct", {
        "care_worker": "C1", "log_in": "2026-01-13T09:02", "log_out": "2026-01-13T08:31",
        "reason": reason}, follow_redirects=True).get_data(as_text=True)
    assert "The log-out must be after the log-in." in refused
    assert _value(refused, "corr-out") == "2026-01-13T08:31"
    assert _value(refused, "corr-reason") == reason
    # Only once: the next view starts from the recorded times again.
    again = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert _value(again, "corr-out") == "2026-01-13T09:10" and _value(again, "corr-reason") == ""

    # Sent with the log-in left as it was: only the log-out is corrected.
    as_coordinator.post("/office/visits/V1/correct", {
        "care_worker": "C1", "log_in": "2026-01-13T09:02", "log_out": "2026-01-13T09:31",
        "reason": reason})
    assert _events(database) == [("ivr", "in"), ("ivr", "out"), ("office", "out")]


def test_a_correction_that_changes_no_time_is_refused_in_words(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(minutes=2))
    play(twilio, LANDLINE, "1234", "5678")
    clock.set(NINE_AM + timedelta(minutes=20))
    page = as_coordinator.post("/office/visits/V1/correct", {
        "care_worker": "C1", "log_in": "2026-01-13T09:02", "log_out": "",
        "reason": "checking the form"}, follow_redirects=True).get_data(as_text=True)
    assert "Those are the times already recorded" in page
    assert _events(database) == [("ivr", "in")]


def test_the_reason_form_keeps_a_refused_note_and_starts_from_the_reason_recorded(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(hours=3))  # missed
    refused = as_coordinator.post("/office/visits/V1/reason", {
        "code": "other", "note": ""}, follow_redirects=True).get_data(as_text=True)
    assert _selected(refused, "reason-code") == "other"  # kept, though the note was missing
    as_coordinator.post("/office/visits/V1/reason", {
        "code": "client_in_hospital", "note": "admitted overnight"})
    page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert _selected(page, "reason-code") == "client_in_hospital"
    assert _value(page, "reason-note") == "admitted overnight"


def test_the_add_user_form_keeps_what_was_typed_but_never_the_password(
        as_administrator: Office, database: Database) -> None:
    page = as_administrator.post("/office/users", {
        "username": "jo", "display_name": "Jo Bloggs", "role": "manager",
        "password": "short"}, follow_redirects=True).get_data(as_text=True)
    with database.unit_of_work() as session:
        assert session.scalar(select(OfficeUser).where(OfficeUser.username == "jo")) is None
    assert _value(page, "username") == "jo"
    assert _value(page, "display-name") == "Jo Bloggs"
    assert _selected(page, "role") == "manager"
    assert _value(page, "password") == "" and "short" not in page.split("<main", 1)[1] \
        .replace("too short", "")


def test_a_refused_contact_keeps_what_was_typed(as_manager: Office) -> None:
    page = as_manager.post("/office/on-call/contacts", {
        "name": "Sam Carter", "role": "coordinator", "mobile": "020 7946 0001"},
        follow_redirects=True).get_data(as_text=True)
    assert "is not a mobile" in page
    assert _value(page, "contact-name") == "Sam Carter"
    assert _value(page, "contact-mobile") == "020 7946 0001"
    assert _selected(page, "contact-role") == "coordinator"
