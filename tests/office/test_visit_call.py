"""The visit page for the phone call: numbers to ring at the top in UK national format, and
only the actions the visit's state needs, most urgent first."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.db import Database
from ivr_gateway.models import CareWorker, VisitStatus
from ivr_gateway.office.providers import register_alert_source
from tests.escalation.conftest import make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import play
from tests.office.conftest import Office
from tests.office.fakes import FakeAlerts, late_alert
from tests.twilio_client import TwilioClient

SEVEN_AM = datetime(2026, 1, 13, 7, 0, tzinfo=UTC)  # a Tuesday; GMT, so London = UTC
AMY_MOBILE, JOAN_LANDLINE = "+447911123450", "+441134960002"


def _rota(session: Session, *, status: VisitStatus = VisitStatus.PLANNED,
          mobiles: tuple[str, ...] = (AMY_MOBILE,)) -> None:
    joan = make_adult(session, ref="A1", landlines=(JOAN_LANDLINE,), client_number="100001")
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="5678", mobiles=mobiles)
    make_care_worker(session, ref="C2", staff_number="2345", given_name="Ben",
                     family_name="Taylor")
    visit = make_planned_visit(session, joan, [amy], start=SEVEN_AM, ref="V1", status=status)
    if status is VisitStatus.CANCELLED:
        visit.cancel_reason = None
    session.commit()


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _actions(office: Office) -> list[str]:
    """What the Actions panel offers, in order: its buttons' words."""
    page = office.get("/office/visits/V1").get_data(as_text=True)
    panel = page[page.index('id="actions"'):page.index('id="facts"')]
    return [_text(b) for b in re.findall(r"<button[^>]*>(.*?)</button>", panel, re.S)]


def test_the_numbers_to_ring_are_at_the_top_as_tel_links_in_uk_national_format(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _rota(session)
    clock.set(SEVEN_AM + timedelta(minutes=40))
    page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    top = page[:page.index('id="actions"')]
    assert '<a class="tel" href="tel:+447911123450">07911 123450</a>' in top
    assert '<a class="tel" href="tel:+441134960002">0113 496 0002</a>' in top
    assert "Address: 1 High Street" in _text(top)
    assert "+447911123450" not in _text(page) and "+441134960002" not in _text(page)


def test_every_page_with_a_number_shows_it_the_uk_way(
        as_coordinator: Office, session: Session, clock: FixedClock, twilio: TwilioClient,
        ) -> None:
    _rota(session)
    make_ladder(session, SEVEN_AM)  # Olu Bello on call, +447911123502
    clock.set(SEVEN_AM + timedelta(minutes=2))
    play(twilio, JOAN_LANDLINE, "1234", "5678")
    assert "0113 496 0002" in _text(as_coordinator.get("/office/adults").get_data(as_text=True))
    assert '<a href="tel:+441134960002">0113 496 0002</a>' in as_coordinator.get(
        "/office/adults/A1").get_data(as_text=True)
    assert "07911 123450" in _text(as_coordinator.get("/office/care-workers").get_data(
        as_text=True))
    assert '<a href="tel:+447911123450">07911 123450</a>' in as_coordinator.get(
        "/office/care-workers/C1").get_data(as_text=True)
    assert '<a href="tel:+447911123502">07911 123502</a>' in as_coordinator.get(
        "/office/on-call").get_data(as_text=True)
    timeline = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert "from: 0113 496 0002" in timeline and "from: +44" not in timeline


def test_a_number_phonenumbers_cannot_read_is_shown_as_given(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _rota(session, mobiles=("+447700900123",))  # Ofcom's drama range: no real number
    clock.set(SEVEN_AM + timedelta(minutes=40))
    page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert '<a class="tel" href="tel:+447700900123">+447700900123</a>' in page


def test_a_late_visit_nobody_started_offers_acknowledge_then_send_another_carer_first(
        app: Flask, as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _rota(session)
    clock.set(SEVEN_AM + timedelta(minutes=40))
    register_alert_source(app, FakeAlerts([late_alert("V1", SEVEN_AM + timedelta(minutes=31))]))
    assert _actions(as_coordinator) == ["Acknowledge alert 1", "Reassign…", "Record correction"]
    page = _text(as_coordinator.get("/office/visits/V1").get_data(as_text=True))
    assert "Set a missing log-in" in page and "Correct the times" not in page
    assert "Record reason code" not in page  # a late visit needs no reason code


def test_a_visit_not_yet_due_offers_only_sending_another_carer(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _rota(session)
    clock.set(SEVEN_AM - timedelta(minutes=30))
    assert _actions(as_coordinator) == ["Reassign…"]  # no correction before anyone logged in


def test_a_missed_visit_offers_sending_a_carer_then_the_reason_code(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _rota(session)
    clock.set(SEVEN_AM + timedelta(hours=3))
    assert _actions(as_coordinator) == ["Reassign…", "Record reason code", "Record correction"]


def test_a_finished_visit_offers_a_correction_and_no_carer_to_send_or_reason_code(
        as_coordinator: Office, session: Session, clock: FixedClock, twilio: TwilioClient,
        database: Database) -> None:
    _rota(session)
    clock.set(SEVEN_AM + timedelta(minutes=2))
    play(twilio, JOAN_LANDLINE, "1234", "5678")
    clock.set(SEVEN_AM + timedelta(minutes=20))
    assert _actions(as_coordinator) == ["Record correction"]  # in progress: fix the times
    clock.set(SEVEN_AM + timedelta(minutes=32))
    play(twilio, JOAN_LANDLINE, "1234", "5678")
    clock.set(SEVEN_AM + timedelta(hours=1))
    assert _actions(as_coordinator) == ["Record correction"]
    page = _text(as_coordinator.get("/office/visits/V1").get_data(as_text=True))
    assert "Send another carer" not in page and "Correct the times" in page


def test_a_cancelled_visit_offers_only_its_reason_code(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _rota(session, status=VisitStatus.CANCELLED)
    clock.set(SEVEN_AM + timedelta(hours=1))
    assert _actions(as_coordinator) == ["Record reason code"]


def test_a_double_up_short_of_a_carer_offers_sending_one_in_place_of_the_missing_one(
        as_coordinator: Office, session: Session, clock: FixedClock, twilio: TwilioClient,
        ) -> None:
    joan = make_adult(session, ref="A1", landlines=(JOAN_LANDLINE,), client_number="100001")
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="5678")
    ben = make_care_worker(session, ref="C2", staff_number="2345", pin="6190",
                           given_name="Ben", family_name="Taylor")
    make_care_worker(session, ref="C3", staff_number="3456", given_name="Cat",
                     family_name="Reed")
    make_planned_visit(session, joan, [amy, ben], start=SEVEN_AM, ref="V1")
    session.commit()
    clock.set(SEVEN_AM + timedelta(minutes=2))
    play(twilio, JOAN_LANDLINE, "1234", "5678")  # Amy alone at a two-carer visit
    clock.set(SEVEN_AM + timedelta(minutes=10))
    assert _actions(as_coordinator) == ["Reassign…", "Record correction"]


def test_a_manager_saves_the_mobiles_as_shown_and_they_stay_e164(
        as_manager: Office, session: Session, database: Database) -> None:
    _rota(session)
    page = as_manager.get("/office/care-workers/C1").get_data(as_text=True)
    [shown] = re.findall(r'<textarea id="mobiles" name="mobiles"[^>]*>([^<]*)</textarea>', page)
    assert shown == "07911 123450"
    saved = as_manager.post("/office/care-workers/C1/details",
                            {"mobiles": f"{shown}\n07911 123451", "language": "en"},
                            follow_redirects=True).get_data(as_text=True)
    assert "Carer details saved." in saved
    with database.unit_of_work() as db:
        carer = db.scalars(select(CareWorker).where(CareWorker.ref == "C1")).one()
        assert sorted(m.number for m in carer.mobiles) == [AMY_MOBILE, "+447911123451"]
