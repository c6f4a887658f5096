"""Leavers on the dashboard: a carer the rota marked inactive is shown as left where a
coordinator would trip over it, is never sent to a visit, and a visit still booked for one
needs someone until another carer is sent."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.models import PlannedVisit
from ivr_gateway.rota.service import patch_care_worker
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.office.conftest import Office

NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)  # a Tuesday; GMT, so London = UTC
LEFT_AT = datetime(2025, 11, 12, 16, 30, tzinfo=UTC)


def _rota(session: Session) -> None:
    """Joan's 09:00 visit booked for Amy; Ben works on; Amy has left (marked by the rota)."""
    joan = make_adult(session, ref="A1", client_number="100001")
    amy = make_care_worker(session, ref="C1", staff_number="1234", mobiles=("+447911123450",))
    make_care_worker(session, ref="C2", staff_number="2345", given_name="Ben",
                     family_name="Taylor", mobiles=("+447911123451",))
    make_planned_visit(session, joan, [amy], start=NINE_AM, ref="V1")
    session.commit()


def _amy_leaves(database: Database, settings: Settings, at: datetime = LEFT_AT) -> None:
    """The rostering system marks Amy as a leaver, as the API's PATCH does."""
    with database.unit_of_work() as db:
        patch_care_worker(db, "C1", {"active": False}, settings=settings, now=at,
                          actor="api:rostering")


def _carer_rows(page: str) -> dict[str, str]:
    """Each carer row of the carers table: name -> the text of its last cell."""
    table = page[page.index('<table id="carers">'):page.index("</table>") + 8]
    rows = ElementTree.fromstring(table.replace("&nbsp;", " ")).iter("tr")
    found = {}
    for row in rows:
        cells = ["".join(td.itertext()).strip() for td in row.findall("td")]
        if len(cells) == 6:
            found[cells[0]] = cells[5]
    return found


def test_the_carers_page_lists_working_carers_and_finds_leavers_marked_left(
        as_coordinator: Office, session: Session, database: Database,
        settings: Settings) -> None:
    _rota(session)
    _amy_leaves(database, settings)
    working = as_coordinator.get("/office/care-workers").get_data(as_text=True)
    assert _carer_rows(working) == {"Taylor, Ben": "yes"}  # working carers by default
    assert '<option value="working" selected>Working</option>' in working
    left = as_coordinator.get("/office/care-workers?standing=left").get_data(as_text=True)
    assert _carer_rows(left) == {"Jones, Amy": "Left"}
    assert '<option value="left" selected>Left</option>' in left
    every = as_coordinator.get("/office/care-workers?standing=all").get_data(as_text=True)
    assert _carer_rows(every) == {"Jones, Amy": "Left", "Taylor, Ben": "yes"}
    # A search keeps to what is shown, and says so.
    none = as_coordinator.get("/office/care-workers?q=Amy").get_data(as_text=True)
    assert "No working carers match “Amy”." in none
    assert _carer_rows(as_coordinator.get(
        "/office/care-workers?q=Amy&standing=all").get_data(as_text=True)) == {
        "Jones, Amy": "Left"}
    odd = as_coordinator.get("/office/care-workers?standing=gone").get_data(as_text=True)
    assert _carer_rows(odd) == {"Taylor, Ben": "yes"}  # an odd value: the default


def test_the_pager_keeps_the_leavers_filter(as_coordinator: Office, session: Session) -> None:
    for n in range(55):
        make_care_worker(session, ref=f"L{n}", staff_number=f"{5000 + n}",
                         family_name=f"Leaver{n:02d}").active = False
    session.commit()
    page = as_coordinator.get("/office/care-workers?standing=left").get_data(as_text=True)
    assert "1–50 of 55 carers who have left" in page
    assert 'href="/office/care-workers?page=2&amp;standing=left">Next page</a>' in page


def test_the_carer_page_says_when_they_left_or_only_that_they_did(
        as_coordinator: Office, session: Session, database: Database,
        settings: Settings) -> None:
    _rota(session)
    assert "carer-left" not in as_coordinator.get("/office/care-workers/C1").get_data(
        as_text=True)
    _amy_leaves(database, settings)
    page = as_coordinator.get("/office/care-workers/C1").get_data(as_text=True)
    assert '<span class="status status-cancelled">Left on 12 Nov 2025</span>' in page
    make_care_worker(session, ref="C9", staff_number="9999", given_name="Cy").active = False
    session.commit()  # created as a leaver: when is not known
    page = as_coordinator.get("/office/care-workers/C9").get_data(as_text=True)
    assert '<span class="status status-cancelled">Left</span>' in page


def test_send_another_carer_never_offers_a_leaver_and_refuses_one_posted(
        as_coordinator: Office, session: Session, database: Database, settings: Settings,
        clock: FixedClock) -> None:
    _rota(session)
    make_care_worker(session, ref="C3", staff_number="3456", given_name="Ola",
                     family_name="Nowak")
    session.commit()
    with database.unit_of_work() as db:
        patch_care_worker(db, "C3", {"active": False}, settings=settings, now=LEFT_AT,
                          actor="api:rostering")
    clock.set(NINE_AM - timedelta(minutes=40))
    page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    offered = re.findall(r'<option value="(\w+)">', page[page.index('id="re-to"'):][:2000])
    assert "C2" in offered and "C3" not in offered
    refused = as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C3", "reason": "Amy is off sick"}, follow_redirects=True)
    assert ("Ola Nowak has left and cannot be sent: choose a carer who is still working."
            in refused.get_data(as_text=True))
    with database.unit_of_work() as db:
        visit = db.scalars(select(PlannedVisit).where(PlannedVisit.ref == "V1")).one()
        assert [c.ref for c in visit.care_workers] == ["C1"]  # nothing changed


def test_a_visit_still_booked_for_a_leaver_needs_someone_until_another_carer_is_sent(
        as_coordinator: Office, session: Session, database: Database, settings: Settings,
        clock: FixedClock) -> None:
    _rota(session)
    clock.set(NINE_AM - timedelta(minutes=40))  # not yet due: nothing else needs anyone
    board = as_coordinator.get("/office/").get_data(as_text=True)
    assert "has left" not in board
    _amy_leaves(database, settings, at=clock.now())
    board = as_coordinator.get("/office/").get_data(as_text=True)
    row = board[board.index('data-ref="V1"'):]
    row = row[:row.index("</tr>")]
    assert "Amy Jones (has left)" in row
    assert '<span class="tag tag-alert">Amy Jones has left: send another carer</span>' in row
    attention = as_coordinator.get("/office/?status=attention").get_data(as_text=True)
    assert 'data-ref="V1"' in attention
    visit = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert "<strong>Amy Jones has left: send another carer.</strong>" in visit
    assert '<option value="C1" selected>Amy Jones (has left)</option>' in visit
    assert "Amy Jones (has left) (carer):" in visit
    # Ben is sent instead: Amy is off the visit, and it needs nobody.
    as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": "Amy has left us", "confirm": "yes"})
    board = as_coordinator.get("/office/").get_data(as_text=True)
    assert "has left" not in board
    assert 'data-ref="V1"' not in as_coordinator.get("/office/?status=attention").get_data(
        as_text=True)
