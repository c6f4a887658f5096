"""What the office sees of the outage: the replayed call on the visit page, refused items on the
Unmatched page with the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.office.models import OfficeRole
from ivr_gateway.outage.replay import replay_spool
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import play
from tests.office.conftest import Office, make_office_user
from tests.sms.texting import text
from tests.twilio_client import TwilioClient

LANDLINE = "+441134960001"
NINE = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


def test_visit_page_shows_the_replayed_call_and_unmatched_lists_the_refused_text(
    app: Flask, down: TwilioClient, session: Session, database: Database, settings: Settings,
    clock: FixedClock,
) -> None:
    adult = make_adult(session, landlines=(LANDLINE,))
    carer = make_care_worker(session, mobiles=("+447911123450",))
    make_planned_visit(session, adult, [carer], start=NINE, ref="V1")
    make_office_user(session, "jo", OfficeRole.COORDINATOR)
    clock.set(NINE + timedelta(minutes=2))
    play(down, LANDLINE, "1234", "5678")
    text(down, "+447911123450", "IN 999999")  # no code of this home: refused at replay
    replay_spool(database, settings, clock)

    office = Office(app.test_client())
    office.login("jo")
    visit = office.get("/office/visits/V1")
    assert visit.status_code == 200
    shown = visit.get_data(as_text=True)
    assert "outage call answered" in shown and "outage keyed carer number" in shown
    assert "Log-in by phone call" in shown
    page = office.get("/office/unmatched").get_data(as_text=True)
    assert "Kept during an outage, not logged" in page
    assert "Text during a database outage, not logged" in page and "IN 999999" in page
