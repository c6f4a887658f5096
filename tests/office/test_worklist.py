"""The board as a worklist: "need attention" counts only what nobody has handled yet, each row
says who took what, and "mine" lists the visits whose alerts I acknowledged."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.models import Alert
from ivr_gateway.escalation.tick import run_escalation_tick
from ivr_gateway.models import VisitException
from ivr_gateway.office.board import BoardRow, still_open
from ivr_gateway.office.models import OfficeRole
from ivr_gateway.office.providers import AlertView, register_alert_source
from ivr_gateway.visits.summary import VisitSummary
from tests.escalation.conftest import make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import play
from tests.office.conftest import Office, make_office_user
from tests.office.fakes import FakeAlerts, late_alert
from tests.twilio_client import TwilioClient

SEVEN_AM = datetime(2026, 1, 13, 7, 0, tzinfo=UTC)  # a Tuesday; GMT, so London = UTC


def _morning(session: Session) -> None:
    """Joan (V1) and Edith (V3) due at 07:00, nobody there; Harold's 04:00 visit (V2) missed."""
    joan = make_adult(session, ref="A1", landlines=("+441134960001",), client_number="100001")
    harold = make_adult(session, ref="A2", given_name="Harold", family_name="Brown",
                        landlines=("+441134960002",), client_number="100002")
    edith = make_adult(session, ref="A3", given_name="Edith", family_name="Clarke",
                       landlines=("+441134960003",), client_number="100003")
    amy = make_care_worker(session, ref="C1", staff_number="1234", given_name="Amy",
                           family_name="Jones")
    make_care_worker(session, ref="C2", staff_number="2345", given_name="Ben",
                     family_name="Taylor")
    make_planned_visit(session, joan, [amy], start=SEVEN_AM, ref="V1")
    make_planned_visit(session, harold, [amy], start=SEVEN_AM - timedelta(hours=3), ref="V2")
    make_planned_visit(session, edith, [amy], start=SEVEN_AM, ref="V3")
    session.commit()


def _attention(office: Office, query: str = "") -> int:
    page = office.get(f"/office/{query}").get_data(as_text=True)
    match = re.search(r'id="count-attention">(\d+)<', page)
    assert match, "the board shows no need-attention count"
    return int(match.group(1))


def _row(office: Office, ref: str, query: str = "") -> str:
    page = office.get(f"/office/{query}").get_data(as_text=True)
    match = re.search(rf'<tr [^>]*data-ref="{ref}"[^>]*>(.*?)</tr>', page, re.S)
    assert match, f"no row for {ref} on the board"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def test_need_attention_goes_down_as_each_visit_is_handled_and_rows_say_who_did_what(
        app: Flask, as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _morning(session)
    clock.set(SEVEN_AM + timedelta(minutes=40))
    alerts = FakeAlerts([late_alert("V1", SEVEN_AM + timedelta(minutes=31))])
    register_alert_source(app, alerts)
    assert _attention(as_coordinator) == 3
    assert "nobody there yet" in _row(as_coordinator, "V3")
    assert "nobody went" in _row(as_coordinator, "V2")

    as_coordinator.post("/office/alerts/1/acknowledge", {"note": "rang Ben, on his way"})
    assert _attention(as_coordinator) == 2
    row = _row(as_coordinator, "V1")
    assert "acknowledged by Cora 07:40: rang Ben, on his way" in row
    assert "nobody there yet" not in row and "alert: late start" not in row

    clock.advance(minutes=2)
    as_coordinator.post("/office/visits/V2/reason", {"code": "client_in_hospital"})
    assert _attention(as_coordinator) == 1
    row = _row(as_coordinator, "V2")
    assert "reason: Client in hospital (Cora 07:42)" in row
    assert "client_in_hospital" not in row and "reason code due" not in row

    reassign = {"from": "C1", "to": "C2", "reason": "Amy is stuck at Joan's"}
    as_coordinator.post("/office/visits/V3/reassign", reassign)  # asks to confirm first
    assert _attention(as_coordinator) == 1
    as_coordinator.post("/office/visits/V3/reassign", {**reassign, "confirm": "yes"})
    assert _attention(as_coordinator) == 0
    assert "Ben Taylor sent instead of Amy Jones (Cora 07:42)" in _row(as_coordinator, "V3")
    page = as_coordinator.get("/office/?status=attention").get_data(as_text=True)
    assert "No visits match." in page


def test_the_mine_filter_lists_the_visits_whose_alerts_i_acknowledged(
        as_coordinator: Office, office: Office, app: Flask, session: Session,
        clock: FixedClock, database: Database, settings: Settings) -> None:
    _morning(session)
    make_ladder(session, SEVEN_AM)
    clock.set(SEVEN_AM + timedelta(minutes=31))  # Joan's and Edith's visits start late
    run_escalation_tick(database, settings, clock)
    with database.unit_of_work() as db:
        [joan_alert] = [a.id for a in db.scalars(select(Alert)) if a.summary.startswith("J.S.")]
    as_coordinator.post(f"/office/alerts/{joan_alert}/acknowledge",
                        {"note": "rang Ben, on his way"})

    mine = as_coordinator.get("/office/?status=mine").get_data(as_text=True)
    refs = re.findall(r'data-ref="([^"]+)"', mine)
    assert refs == ["V1"]
    assert "acknowledged by Cora 07:31: rang Ben, on his way" in _row(
        as_coordinator, refs[0], "?status=mine")

    # Somebody else's "mine" is empty: the row shows who took it, but it is not theirs.
    make_office_user(session, "jo", OfficeRole.COORDINATOR)
    jo = Office(app.test_client())
    assert jo.login("jo").status_code == 302
    assert "No visits match." in jo.get("/office/?status=mine").get_data(as_text=True)
    assert "acknowledged by Cora 07:31" in _row(jo, refs[0])


def _row_for(outcome: str, alerts: list[AlertView] | None = None,
             exceptions: list[str] | None = None) -> BoardRow:
    summary = VisitSummary(ref="V1", adult_ref="A1", adult_initials="J.S.",
                           care_worker_refs=["C1"], planned_start=SEVEN_AM,
                           planned_end=SEVEN_AM + timedelta(minutes=30), status="planned",
                           cancel_reason=None, time_critical=False, outcome=outcome,
                           minutes_late=None, short=False, actual_start=None, actual_end=None,
                           carers_needed=1, carers_logged_in=0)
    return BoardRow(summary, None, "Joan Smith", "green", [("C1", "Amy Jones")], outcome, "due",
                    [], exceptions or [], alerts or [])


def test_the_worklist_rule_a_late_visit_is_open_until_an_alert_on_it_is_acknowledged() -> None:
    alert = late_alert("V1", SEVEN_AM + timedelta(minutes=31))
    assert still_open(_row_for("late_start")) == ["nobody there yet"]
    assert still_open(_row_for("late_start", [alert])) == ["nobody there yet",
                                                           "alert: late start"]
    taken = AlertView(**{**alert.__dict__, "acknowledged_at": SEVEN_AM,
                         "acknowledged_by": "office:cora"})
    assert still_open(_row_for("late_start", [taken])) == []
    assert still_open(_row_for("in_progress")) == []  # the carer is there: no job
    assert still_open(_row_for("completed", exceptions=["unverified location"])) == [
        "unverified location"]


def test_checking_an_unverified_log_in_takes_it_off_the_worklist_and_says_who_checked(
        as_coordinator: Office, session: Session, clock: FixedClock, twilio: TwilioClient,
        database: Database) -> None:
    joan = make_adult(session, ref="A1", landlines=("+441134960001",), client_number="100001")
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="5678")
    make_planned_visit(session, joan, [amy], start=SEVEN_AM, ref="V1")
    session.commit()
    clock.set(SEVEN_AM + timedelta(minutes=1))
    play(twilio, "anonymous", "100001", "1234", "5678")  # withheld: keys the client number
    assert _attention(as_coordinator) == 1
    assert "unverified location" in _row(as_coordinator, "V1")
    with database.unit_of_work() as db:
        exception = db.scalars(select(VisitException)).one()
    clock.advance(minutes=5)
    as_coordinator.post(f"/office/exceptions/{exception.id}/check",
                        {"note": "rang Joan, Amy was there"})
    assert _attention(as_coordinator) == 0
    assert ("checked by Cora 07:06: unverified location (rang Joan, Amy was there)"
            in _row(as_coordinator, "V1"))
