"""Send another carer: what will happen first, a clash warned of, both carers texted, audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.jobs import alert_relay
from ivr_gateway.models import AuditEntry, PlannedVisit
from ivr_gateway.office.reassignment import render_text, text_languages, texts_for
from ivr_gateway.outbox.models import OutboxMessage
from ivr_gateway.sms.models import SmsOptOut
from ivr_gateway.sms.replies import fits_one_segment
from ivr_gateway.telephony.senders import RecordingSender
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.office.conftest import Office

NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)  # a Tuesday; GMT, so London = UTC
AMY_MOBILE, BEN_MOBILE, OLA_MOBILE = "+447911123450", "+447911123451", "+447911123452"
REASON = "Amy is off sick today"


def _rota(session: Session, *, ben_busy: bool = False, ben_mobile: bool = True) -> None:
    joan = make_adult(session, ref="A1", client_number="100001")
    edith = make_adult(session, ref="A2", given_name="Edith", family_name="Clarke",
                       landlines=("+441134960003",), client_number="100002")
    amy = make_care_worker(session, ref="C1", staff_number="1234", mobiles=(AMY_MOBILE,))
    ben = make_care_worker(session, ref="C2", staff_number="2345", given_name="Ben",
                           family_name="Taylor", mobiles=(BEN_MOBILE,) if ben_mobile else ())
    make_care_worker(session, ref="C3", staff_number="3456", given_name="Ola",
                     family_name="Nowak", language="pl", mobiles=(OLA_MOBILE,))
    make_planned_visit(session, joan, [amy], start=NINE_AM, minutes=30, ref="V1")
    if ben_busy:  # Ben is at Edith's 08:45-09:15: overlaps Joan's 09:00-09:30
        make_planned_visit(session, edith, [ben], start=NINE_AM - timedelta(minutes=15),
                           minutes=30, ref="V2")
    session.commit()


def _texts(database: Database) -> list[tuple[str, str]]:
    with database.unit_of_work() as db:
        return [(m.payload["to"], m.payload["body"]) for m in db.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "sms").order_by(OutboxMessage.id))]


def _carers_on(database: Database, ref: str) -> list[str]:
    with database.unit_of_work() as db:
        visit = db.scalars(select(PlannedVisit).where(PlannedVisit.ref == ref)).one()
        return [c.ref for c in visit.care_workers]


def _reassign_audit(database: Database) -> list[AuditEntry]:
    with database.unit_of_work() as db:
        rows = list(db.scalars(select(AuditEntry).where(AuditEntry.action == "reassign")))
        db.expunge_all()
        return rows


def _hidden_fields(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page)


def test_the_first_post_shows_what_will_happen_and_changes_nothing(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database) -> None:
    _rota(session)
    clock.set(NINE_AM - timedelta(minutes=40))
    page = as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": REASON}).get_data(as_text=True)
    assert "Send Ben Taylor instead of Amy Jones?" in page
    assert "EHM: please go to J.S. at 09:00 today instead of Amy. Reply HELP for help." in page
    assert ("EHM: you are no longer needed at J.S. 09:00 today; the office has sent someone "
            "else.") in page
    assert "already booked" not in page
    assert _carers_on(database, "V1") == ["C1"] and _texts(database) == []
    assert _reassign_audit(database) == []


def test_confirming_sends_the_carer_texts_both_with_initials_only_and_audits_it(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database) -> None:
    _rota(session)
    clock.set(NINE_AM - timedelta(minutes=40))
    page = as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": REASON}).get_data(as_text=True)
    fields = dict(_hidden_fields(page))
    assert fields["confirm"] == "yes"
    response = as_coordinator.post("/office/visits/V1/reassign", fields, follow_redirects=True)
    visit_page = response.get_data(as_text=True)
    assert "Ben Taylor is sent instead of Amy Jones. Texted: Ben Taylor, Amy Jones." in visit_page
    assert _carers_on(database, "V1") == ["C2"]
    texts = _texts(database)
    assert texts == [
        (BEN_MOBILE, "EHM: please go to J.S. at 09:00 today instead of Amy. Reply HELP for help."),
        (AMY_MOBILE, "EHM: you are no longer needed at J.S. 09:00 today; the office has sent "
                     "someone else.")]
    assert not any("Joan" in body or "Smith" in body for _, body in texts)
    [audit] = _reassign_audit(database)
    assert audit.actor == "office:cora"
    assert audit.detail["from"] == "C1" and audit.detail["to"] == "C2"
    assert audit.detail["reason"] == REASON
    assert audit.detail["text to C2"].startswith(f"{BEN_MOBILE}: EHM: please go to J.S.")
    assert audit.detail["text to C1"].startswith(f"{AMY_MOBILE}: EHM: you are no longer")
    # The audit trail on the visit page shows the texts, to the carers by name.
    assert "Text to Ben Taylor (" in visit_page and "Text to Amy Jones (" in visit_page


def test_a_clash_is_warned_of_and_the_change_happens_only_when_accepted(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database) -> None:
    _rota(session, ben_busy=True)
    clock.set(NINE_AM - timedelta(minutes=40))
    page = as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": REASON}).get_data(as_text=True)
    assert "Ben Taylor is already booked at that time" in page
    assert "V2</a>: Edith Clarke, 08:45–09:15" in page
    assert "Send Ben Taylor anyway" in page
    assert ("accept_clash", "V2") in _hidden_fields(page)

    # Confirming without accepting the clash (a stale page) shows the warning, changes nothing.
    refused = as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": REASON, "confirm": "yes"})
    assert refused.status_code == 409
    assert "Ben Taylor is already booked at that time" in refused.get_data(as_text=True)
    assert _carers_on(database, "V1") == ["C1"] and _texts(database) == []

    as_coordinator.post("/office/visits/V1/reassign", dict(_hidden_fields(page)) | {
        "accept_clash": "V2"})
    assert _carers_on(database, "V1") == ["C2"]
    assert _carers_on(database, "V2") == ["C2"]  # still booked there: the coordinator chose
    [audit] = _reassign_audit(database)
    assert audit.detail["clashes accepted"] == "V2"


def test_a_carer_with_no_mobile_is_named_so_the_office_rings_them(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database) -> None:
    _rota(session, ben_mobile=False)
    clock.set(NINE_AM - timedelta(minutes=40))
    confirm = as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": REASON}).get_data(as_text=True)
    assert "Ben Taylor has no mobile on file: ring them." in confirm
    after = as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": REASON, "confirm": "yes"},
        follow_redirects=True).get_data(as_text=True)
    assert "Ben Taylor has no mobile on file: ring them." in after
    assert [to for to, _ in _texts(database)] == [AMY_MOBILE]
    [audit] = _reassign_audit(database)
    assert audit.detail["text to C2"] == "none: no mobile on file, the office rings"


def test_a_carer_who_texted_stop_is_rung_not_texted(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database) -> None:
    _rota(session)
    session.add(SmsOptOut(number=BEN_MOBILE, opted_out=True, changed_at=NINE_AM))
    session.commit()
    clock.set(NINE_AM - timedelta(minutes=40))
    after = as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": REASON, "confirm": "yes"},
        follow_redirects=True).get_data(as_text=True)
    assert "Ben Taylor has no mobile on file: ring them." in after
    assert [to for to, _ in _texts(database)] == [AMY_MOBILE]


def test_a_polish_carer_is_texted_in_polish_and_tomorrows_visit_says_tomorrow(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database) -> None:
    _rota(session)
    clock.set(NINE_AM - timedelta(days=1))
    as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C3", "reason": REASON, "confirm": "yes"})
    assert _texts(database) == [
        (OLA_MOBILE, "EHM: prosimy pojechac do J.S. o 09:00 jutro zamiast Amy. HELP - pomoc."),
        (AMY_MOBILE, "EHM: you are no longer needed at J.S. 09:00 tomorrow; the office has sent "
                     "someone else.")]


def test_a_refusal_goes_back_to_the_visit_page_and_says_why(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database) -> None:
    _rota(session)
    clock.set(NINE_AM - timedelta(minutes=40))
    page = as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": "sick"}, follow_redirects=True).get_data(as_text=True)
    assert "Give the reason for the change" in page
    assert _carers_on(database, "V1") == ["C1"]


def test_without_the_csrf_token_nothing_changes(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database) -> None:
    _rota(session)
    response = as_coordinator.client.post("/office/visits/V1/reassign", data={
        "from": "C1", "to": "C2", "reason": REASON, "confirm": "yes"})
    assert response.status_code == 400
    assert _carers_on(database, "V1") == ["C1"] and _texts(database) == []


@pytest.mark.parametrize("language", text_languages())
def test_every_reassignment_text_fits_one_gsm7_segment(language: str) -> None:
    settings = Settings()
    start = datetime(2026, 1, 13, 23, 59, tzinfo=UTC)
    for purpose in ("sent", "released"):
        for now in (start, start - timedelta(days=1), start - timedelta(days=5)):
            text = render_text(language, purpose, initials="W.W.", start=start, now=now,
                               settings=settings, name="Maximiliano")
            assert fits_one_segment(text), (language, purpose, text)
    assert set(texts_for(language)) == set(texts_for("en"))


def test_the_alert_relay_sends_the_texts_once_the_change_is_committed(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database,
        settings: Settings) -> None:
    _rota(session)
    clock.set(NINE_AM - timedelta(minutes=40))
    as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": REASON, "confirm": "yes"})
    sender = RecordingSender()
    relay = alert_relay(database, settings, clock, sender)
    assert relay.run_once().claimed == 2
    assert [(s.channel, s.to) for s in sender.sent] == [("sms", BEN_MOBILE), ("sms", AMY_MOBILE)]
    assert relay.run_once().claimed == 0  # sent once


def test_after_the_visit_the_rota_is_put_right_without_texting_anyone(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(hours=2))
    confirm = as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": "Ben went in Amy's place this morning"}
    ).get_data(as_text=True)
    assert "the visit's time has passed, so nobody is asked to go" in confirm
    as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": "Ben went in Amy's place this morning",
        "confirm": "yes"})
    assert _carers_on(database, "V1") == ["C2"] and _texts(database) == []
    [audit] = _reassign_audit(database)
    assert audit.detail["texts"] == "none: the visit's time had passed"
