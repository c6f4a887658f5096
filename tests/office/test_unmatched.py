"""Putting evidence right over HTTP: move a log event; the unmatched queue, linked or dismissed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.db import Database
from ivr_gateway.models import (
    ActualVisit,
    AuditEntry,
    Channel,
    LogEvent,
    PlannedVisit,
    VisitException,
)
from ivr_gateway.sms.models import InboundText
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import play
from tests.office.conftest import Office
from tests.sms.texting import text
from tests.twilio_client import TwilioClient

JOAN, EDITH = "+441134960001", "+441134960003"
EIGHT = datetime(2026, 1, 13, 8, 0, tzinfo=UTC)  # a Tuesday; GMT, so London = UTC


def _rota(session: Session) -> None:
    """Joan: Amy at 08:00 (V1) and 09:00 (V2). Edith: no visit today. Ben: Olga at 10:00 (V3)."""
    joan = make_adult(session, ref="A1", landlines=(JOAN,), client_number="100001")
    make_adult(session, ref="A2", given_name="Edith", family_name="Clarke", landlines=(EDITH,),
               client_number="100002")
    olga = make_adult(session, ref="A3", given_name="Olga", family_name="Nowak",
                      landlines=("+441134960009",), client_number="100003")
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="5678")
    ben = make_care_worker(session, ref="C2", staff_number="2345", pin="6190", given_name="Ben",
                           family_name="Taylor")
    make_planned_visit(session, joan, [amy], start=EIGHT, ref="V1")
    make_planned_visit(session, joan, [amy], start=EIGHT + timedelta(hours=1), ref="V2")
    make_planned_visit(session, olga, [ben], start=EIGHT + timedelta(hours=2), ref="V3")
    session.commit()


def _events_on(database: Database, ref: str) -> list[tuple[str, str, bool]]:
    with database.unit_of_work() as db:
        visit = db.scalars(select(PlannedVisit).where(PlannedVisit.ref == ref)).one()
        return [(e.channel.value, e.kind.value, e.superseded_by_id is not None)
                for e in db.scalars(select(LogEvent).where(LogEvent.planned_visit_id == visit.id)
                                    .order_by(LogEvent.id))]


def _audit(database: Database, action: str) -> list[tuple[str, str, dict[str, object]]]:
    with database.unit_of_work() as db:
        return [(a.entity, a.entity_ref, a.detail) for a in db.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))]


def test_a_log_event_is_moved_from_the_visit_page_with_the_original_kept(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    clock.set(EIGHT + timedelta(minutes=25))
    play(twilio, JOAN, "1234", "5678")  # Amy, early for the 09:00: matched to the 08:00
    visit_page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    link = re.search(r'href="(/office/log-events/(\d+)/move)">Move to another visit…', visit_page)
    assert link, "the visit page offers to move the log-in"
    move_page = as_coordinator.get(link.group(1)).get_data(as_text=True)
    assert "V2: Joan Smith, 09:00–09:30 (Amy Jones; same client)" in move_page
    offered = re.findall(r'name="to" id="to-[^"]*" value="([^"]+)"', move_page)
    assert offered == ["V2"]  # Olga's V3 is neither Joan's nor Amy's

    clock.set(EIGHT + timedelta(minutes=40))
    response = as_coordinator.post(link.group(1), {
        "to": "V2", "reason": "rang Amy: the 08:00 was cancelled, she came for the 09:00"},
        follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.request.path == "/office/visits/V2"
    assert "Moved from V1 to V2; the original is kept, marked superseded." in page
    assert "moved by the office (office:cora) to visit V2: rang Amy" in page
    assert _events_on(database, "V2") == [("office", "in", False)]
    assert _events_on(database, "V1") == [("ivr", "in", True)]
    v1_page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    # The evidence and the audit stay, the audit in a sentence.
    assert "superseded" in v1_page and "moved a log event from V1 to V2" in v1_page
    assert [(entity, ref) for entity, ref, _ in _audit(database, "move_log_event")] in (
        [("planned_visit", "V1"), ("planned_visit", "V2")],
        [("planned_visit", "V2"), ("planned_visit", "V1")])


def test_a_move_without_a_reason_or_the_csrf_token_changes_nothing(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    clock.set(EIGHT + timedelta(minutes=25))
    play(twilio, JOAN, "1234", "5678")
    with database.unit_of_work() as db:
        event_id = db.scalars(select(LogEvent.id)).one()
    path = f"/office/log-events/{event_id}/move"
    page = as_coordinator.post(path, {"to": "V2", "reason": "x"},
                               follow_redirects=True).get_data(as_text=True)
    assert "Give the reason for the move" in page
    assert as_coordinator.client.post(path, data={"to": "V2", "reason": "a good reason"}
                                      ).status_code == 400
    assert _events_on(database, "V1") == [("ivr", "in", False)]


def _one_of_each(twilio: TwilioClient, clock: FixedClock) -> None:
    clock.set(EIGHT + timedelta(minutes=5))
    play(twilio, "anonymous", "100001", "1234", "5678")  # Amy at Joan's, number withheld
    clock.set(EIGHT + timedelta(minutes=10))
    play(twilio, EDITH, "2345", "6190")  # Ben at Edith's, who has no visit today: unplanned
    clock.set(EIGHT + timedelta(minutes=15))
    text(twilio, "+447700900123", "IN 123456")  # a mobile that is no carer's


def _queue_rows(office: Office) -> dict[str, str]:
    page = office.get("/office/unmatched").get_data(as_text=True)
    return dict(re.findall(r'<tr data-kind="(\w+)" data-id="(\d+)">', page))


def test_the_unmatched_queue_lists_an_unplanned_visit_an_unknown_text_and_an_unproven_call(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    _one_of_each(twilio, clock)
    page = as_coordinator.get("/office/unmatched").get_data(as_text=True)
    assert 'href="/office/unmatched">Unmatched</a>' in page  # in the navigation
    assert "Unplanned visit at Edith Clarke" in page
    assert "+447700900123" in page and "IN ******" in page  # a stranger's digits masked
    assert "Call from a withheld number: log-in put on V1, presence not proven" in page
    assert set(_queue_rows(as_coordinator)) == {"unplanned", "text", "call"}


def test_each_item_leaves_the_queue_once_linked_or_dismissed_and_it_is_audited(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    _one_of_each(twilio, clock)
    rows = _queue_rows(as_coordinator)
    clock.set(EIGHT + timedelta(minutes=30))

    # Ben was at Edith's, but the rota had him at Olga's: link the unplanned visit to V3.
    as_coordinator.post(f"/office/unmatched/unplanned/{rows['unplanned']}/link", {
        "to": "V3", "reason": "Olga was staying at Edith's this week"})
    assert _events_on(database, "V3") == [("office", "in", False)]
    with database.unit_of_work() as db:
        assert db.get(ActualVisit, int(rows["unplanned"])) is None
    # The text came from Amy's new phone: link it to Joan's 08:00 as her log-in.
    as_coordinator.post(f"/office/unmatched/text/{rows['text']}/link", {
        "to": "V1", "reason": "Amy's new phone; rang her to check"})
    with database.unit_of_work() as db:
        assert db.get_one(InboundText, int(rows["text"])).reviewed_at is not None
        office_events = db.scalars(select(LogEvent).where(
            LogEvent.channel == Channel.OFFICE, LogEvent.superseded_by_id.is_(None))).all()
        assert {e.raw["reason"].startswith("text from +447700900123") for e in office_events
                if e.planned_visit_id != db.scalars(select(PlannedVisit.id).where(
                    PlannedVisit.ref == "V3")).one()} == {True}
    # The withheld call was Amy at Joan's: checked, and dismissed from the queue.
    as_coordinator.post(f"/office/unmatched/call/{rows['call']}/dismiss", {
        "reason": "rang Joan's daughter: Amy was there"})
    with database.unit_of_work() as db:
        assert all(e.reviewed_by == "office:cora" for e in db.scalars(
            select(VisitException).where(VisitException.log_event_id == int(rows["call"]))))

    page = as_coordinator.get("/office/unmatched").get_data(as_text=True)
    assert "Nothing to place" in page
    assert [(entity, ref) for entity, ref, _ in _audit(database, "link_unmatched")] == [
        ("unmatched_unplanned", rows["unplanned"]), ("unmatched_text", rows["text"])]
    assert _audit(database, "dismiss_unmatched") == [
        ("unmatched_call", rows["call"], {"reason": "rang Joan's daughter: Amy was there"})]


def test_a_dismissal_needs_a_reason(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    _one_of_each(twilio, clock)
    rows = _queue_rows(as_coordinator)
    page = as_coordinator.post(f"/office/unmatched/text/{rows['text']}/dismiss", {
        "reason": "no"}, follow_redirects=True).get_data(as_text=True)
    assert "Give the reason" in page
    assert "text" in _queue_rows(as_coordinator)


@pytest.mark.parametrize("path", ["/office/unmatched", "/office/log-events/1/move"])
def test_the_pages_need_a_login(office: Office, path: str) -> None:
    response = office.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/office/login?next=")


@pytest.mark.parametrize("path", ["/office/log-events/1/move", "/office/unmatched/text/1/link",
                                  "/office/unmatched/call/1/dismiss"])
def test_no_form_is_accepted_without_a_login(office: Office, path: str) -> None:
    response = office.client.post(path, data={"csrf_token": office.csrf(), "reason": "a reason"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/office/login")


def test_dismissing_an_unplanned_visit_keeps_its_evidence_and_marks_its_flag_checked(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    _one_of_each(twilio, clock)
    rows = _queue_rows(as_coordinator)
    as_coordinator.post(f"/office/unmatched/unplanned/{rows['unplanned']}/dismiss", {
        "reason": "Ben popped in to drop off shopping, not a care visit"})
    assert "unplanned" not in _queue_rows(as_coordinator)
    with database.unit_of_work() as db:
        visit = db.get_one(ActualVisit, int(rows["unplanned"]))  # still there, as evidence
        assert [(e.code.value, e.reviewed_by) for e in visit.exceptions] == [
            ("unplanned_visit", "office:cora")]


def test_a_call_that_found_no_client_is_listed_and_linked_as_the_carers_log_in(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    clock.set(EIGHT + timedelta(minutes=3))
    play(twilio, "+447700900555")  # an unknown mobile; hung up before keying the client number
    rows = _queue_rows(as_coordinator)
    assert set(rows) == {"unknown_call"}
    page = as_coordinator.get("/office/unmatched").get_data(as_text=True)
    assert "Call from +447700900555: no client found, nothing logged" in page
    clock.set(EIGHT + timedelta(minutes=20))
    as_coordinator.post(f"/office/unmatched/unknown_call/{rows['unknown_call']}/link", {
        "to": "V1", "reason": "Amy rang from her own phone at Joan's; checked with her"})
    assert _queue_rows(as_coordinator) == {}
    with database.unit_of_work() as db:
        [event] = db.scalars(select(LogEvent)).all()
        assert (event.channel, event.kind.value, event.event_time) == (
            Channel.OFFICE, "in", EIGHT + timedelta(minutes=3))
        assert event.raw["reason"].startswith("call from +447700900555")
    [(entity, _ref, detail)] = _audit(database, "link_unmatched")
    assert entity == "unmatched_unknown_call" and detail["as"] == "log-in"
