"""Office actions: corrections as new evidence, reason codes with their 48 hours, checks, alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc.events import render_visit_records
from ivr_gateway.escalation.models import Alert, AlertKind, AlertState
from ivr_gateway.escalation.tick import run_escalation_tick
from ivr_gateway.models import (
    AuditEntry,
    Channel,
    ExceptionCode,
    LogEvent,
    LogKind,
    PlannedVisit,
    Verification,
    VisitException,
)
from ivr_gateway.office.providers import alert_source, code_source, register_alert_source
from ivr_gateway.outbox.models import OutboxMessage
from ivr_gateway.visits.models import VisitReasonCode
from tests.escalation.conftest import make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import play
from tests.office.conftest import Office
from tests.office.fakes import FakeAlerts, late_alert
from tests.twilio_client import TwilioClient

LANDLINE = "+441134960001"
NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)  # a Tuesday; GMT, so London = UTC


def _rota(session: Session, start: datetime = NINE_AM) -> None:
    adult = make_adult(session, ref="A1", landlines=(LANDLINE,), client_number="100001")
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="5678")
    make_care_worker(session, ref="C2", staff_number="2345", pin="6190", given_name="Ben",
                     family_name="Taylor")
    make_planned_visit(session, adult, [amy], start=start, minutes=30, ref="V1")
    session.commit()


def _visit_changes(database: Database) -> list[dict[str, object]]:
    with database.unit_of_work() as session:
        # The relay renders the domain's "visit corrected" rows into council records.
        while render_visit_records(session, datetime(2100, 1, 1, tzinfo=UTC)):
            session.flush()
        return [m.payload["data"] for m in session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key.like("ecc:visit_change:%"))
            .order_by(OutboxMessage.id))]


def _alerts(database: Database) -> list[Alert]:
    with database.unit_of_work() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def _audit(database: Database, action: str) -> list[AuditEntry]:
    with database.unit_of_work() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_correcting_a_log_out_time_adds_office_evidence_and_keeps_the_carers_event(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(minutes=2))
    play(twilio, LANDLINE, "1234", "5678")
    clock.set(NINE_AM + timedelta(minutes=10))
    play(twilio, LANDLINE, "1234", "5678")  # logged out far too early, by mistake
    clock.set(NINE_AM + timedelta(hours=2))

    response = as_coordinator.post("/office/visits/V1/correct", {
        "care_worker": "C1", "log_out": "2026-01-13T09:31",
        "reason": "Amy rang: she logged out before finishing the visit"})
    assert response.status_code == 302

    with database.unit_of_work() as db:
        events = db.scalars(select(LogEvent).order_by(LogEvent.id)).all()
        carer_out, office_out = events[1], events[2]
        assert carer_out.channel == Channel.IVR
        assert carer_out.event_time == NINE_AM + timedelta(minutes=10)  # never overwritten
        assert carer_out.superseded_by_id == office_out.id
        assert office_out.channel == Channel.OFFICE
        assert office_out.verification == Verification.OFFICE
        assert office_out.kind == LogKind.OUT
        assert office_out.event_time == NINE_AM + timedelta(minutes=31)
        assert office_out.raw["reason"] == "Amy rang: she logged out before finishing the visit"
        assert office_out.raw["by"] == "office:cora"
    [audit] = _audit(database, "correct_times")
    assert audit.entity_ref == "V1"
    assert audit.detail["before"]["log_out"].startswith("2026-01-13T09:10")
    assert audit.detail["after"]["log_out"].startswith("2026-01-13T09:31")
    # The council hears of it as a visit change, with who, when and why; the calls stay as captured.
    [change] = _visit_changes(database)
    assert change["reason_code"] == "office_correction"
    assert change["change_reason_memo"] == "Amy rang: she logged out before finishing the visit"
    assert change["change_made_by"] == "office:cora"
    page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert "Log-out by office correction" in page
    assert "superseded" in page
    assert "09:02–09:31" in page


def test_setting_the_times_of_a_missed_visit_makes_it_delivered_and_closes_missing_flags(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database,
        app: Flask) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(hours=3))
    assert "Missed" in as_coordinator.get("/office/").get_data(as_text=True)
    as_coordinator.post("/office/visits/V1/correct", {
        "care_worker": "C1", "log_in": "2026-01-13T09:05", "log_out": "2026-01-13T09:35",
        "reason": "Landline out of order; the client's daughter confirmed the visit"})
    board = as_coordinator.get("/office/").get_data(as_text=True)
    assert "status-done" in board and "Completed" in board
    assert "office" in board  # how presence was verified


@pytest.mark.parametrize("form, message", [
    ({"log_in": "2026-01-13T09:05", "reason": ""}, "Give the reason"),
    ({"log_in": "2026-01-13T15:00", "reason": "from the carer"}, "in the future"),
    ({"log_in": "2026-01-13T09:40", "log_out": "2026-01-13T09:10",
      "reason": "from the carer"}, "after the log-in"),
    ({"reason": "from the carer"}, "Give a log-in time"),
    ({"log_in": "yesterday", "reason": "from the carer"}, "not a date and time"),
])
def test_a_correction_that_cannot_be_right_is_refused_with_what_to_do(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database,
        form: dict[str, str], message: str) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(hours=3))
    response = as_coordinator.post("/office/visits/V1/correct", {"care_worker": "C1", **form},
                                   follow_redirects=True)
    assert message in response.get_data(as_text=True)
    with database.unit_of_work() as db:
        assert db.scalars(select(LogEvent)).all() == []
        assert db.scalars(select(AuditEntry).where(AuditEntry.action == "correct_times")
                          ).all() == []


def test_a_time_in_the_spring_clock_gap_is_refused(as_coordinator: Office, session: Session,
                                                   clock: FixedClock) -> None:
    # Sunday 29 March 2026: London clocks go from 01:00 to 02:00; 01:30 never happened.
    night = datetime(2026, 3, 29, 0, 45, tzinfo=UTC)
    _rota(session, start=night)
    clock.set(night + timedelta(hours=3))
    response = as_coordinator.post("/office/visits/V1/correct", {
        "care_worker": "C1", "log_in": "2026-03-29T01:30", "reason": "from the carer"},
        follow_redirects=True)
    assert "the clocks went forward" in response.get_data(as_text=True)


def test_an_autumn_visit_shows_in_london_time_on_the_board(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    # Sunday 25 October 2026: 01:30 London happens twice; 00:30 UTC is the first (BST) one.
    _rota(session, start=datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    clock.set(datetime(2026, 10, 25, 0, 0, tzinfo=UTC))
    board = as_coordinator.get("/office/").get_data(as_text=True)
    assert "01:30–01:00" in board  # 00:30-01:00 UTC is 01:30 BST to 01:00 GMT: 30 minutes


def test_reassigning_a_carer_changes_the_rota_with_the_reason_audited(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database) -> None:
    _rota(session)
    clock.set(NINE_AM - timedelta(minutes=30))
    as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": "Amy is off sick today", "confirm": "yes"})
    with database.unit_of_work() as db:
        visit = db.scalars(select(PlannedVisit)).one()
        assert [c.ref for c in visit.care_workers] == ["C2"]
    [audit] = _audit(database, "reassign")
    assert {k: audit.detail[k] for k in ("from", "to", "reason")} == {
        "from": "C1", "to": "C2", "reason": "Amy is off sick today"}
    assert audit.actor == "office:cora"


def test_a_carer_who_logged_in_cannot_be_reassigned_away(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    clock.set(NINE_AM)
    play(twilio, LANDLINE, "1234", "5678")
    response = as_coordinator.post("/office/visits/V1/reassign", {
        "from": "C1", "to": "C2", "reason": "Amy is off sick today"}, follow_redirects=True)
    assert "correct the visit" in response.get_data(as_text=True)


def test_marking_an_unverified_log_in_as_checked_records_who_and_when(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(minutes=1))
    play(twilio, "anonymous", "100001", "1234", "5678")  # withheld: keys the client number
    board = as_coordinator.get("/office/?status=unverified").get_data(as_text=True)
    assert 'data-ref="V1"' in board
    with database.unit_of_work() as db:
        exception = db.scalars(select(VisitException).where(
            VisitException.code == ExceptionCode.UNVERIFIED_LOCATION)).one()
    clock.advance(minutes=20)
    as_coordinator.post(f"/office/exceptions/{exception.id}/check",
                        {"note": "rang Joan, Amy was there", "next": "/office/visits/V1"})
    with database.unit_of_work() as db:
        checked = db.get(VisitException, exception.id)
        assert checked is not None
        assert checked.reviewed_by == "office:cora"
        assert checked.reviewed_at == NINE_AM + timedelta(minutes=21)
    [audit] = _audit(database, "check_exception")
    assert audit.detail["note"] == "rang Joan, Amy was there"
    board = as_coordinator.get("/office/?status=unverified").get_data(as_text=True)
    assert 'data-ref="V1"' not in board
    again = as_coordinator.post(f"/office/exceptions/{exception.id}/check", {},
                                follow_redirects=True)
    assert "Already checked by Cora." in again.get_data(as_text=True)
    visit_page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert "checked by Cora (office) at 09:21" in visit_page and "office:cora" not in visit_page


def test_a_reason_code_is_due_48_hours_after_planned_start_weekend_included(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database) -> None:
    friday = datetime(2026, 1, 16, 9, 0, tzinfo=UTC)
    _rota(session, start=friday)
    clock.set(friday + timedelta(hours=3))
    page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert "Due by Sun 18 Jan 09:00" in page
    assert "45 hours left" in page
    reasons = as_coordinator.get("/office/reasons").get_data(as_text=True)
    assert "None overdue." in reasons and "V1" in reasons
    clock.set(friday + timedelta(hours=50))  # Sunday 11:00: overdue although it is a weekend
    reasons = as_coordinator.get("/office/reasons").get_data(as_text=True)
    assert "Overdue (1)" in reasons and "Overdue 2 h" in reasons
    assert "Overdue" in as_coordinator.get("/office/visits/V1").get_data(as_text=True)

    as_coordinator.post("/office/visits/V1/reason", {"code": "client_in_hospital"})
    with database.unit_of_work() as db:
        recorded = db.scalars(select(VisitReasonCode)).one()
        assert (recorded.code, recorded.recorded_by) == ("client_in_hospital", "office:cora")
    [audit] = _audit(database, "reason_code")
    assert audit.detail["late"] is True
    assert "Overdue (0)" in as_coordinator.get("/office/reasons").get_data(as_text=True)
    page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert "Recorded: <strong>Client in hospital</strong>" in page
    [change] = _visit_changes(database)
    assert change["reason_code"] == "client_in_hospital"
    assert change["planned_visit_ref"] == "V1"


def test_a_reason_code_is_refused_for_a_visit_that_was_delivered(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    clock.set(NINE_AM)
    play(twilio, LANDLINE, "1234", "5678")
    response = as_coordinator.post("/office/visits/V1/reason", {"code": "client_in_hospital"},
                                   follow_redirects=True)
    assert "only for a missed or cancelled visit" in response.get_data(as_text=True)


def test_other_needs_a_note(as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(hours=3))
    response = as_coordinator.post("/office/visits/V1/reason", {"code": "other"},
                                   follow_redirects=True)
    assert "Say what the reason was" in response.get_data(as_text=True)


def test_acknowledging_an_alert_tells_the_alert_source_which_audits_it(
        app: Flask, as_coordinator: Office, session: Session, clock: FixedClock,
        database: Database) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(minutes=35))
    alerts = FakeAlerts([late_alert("V1", NINE_AM + timedelta(minutes=31))])
    register_alert_source(app, alerts)
    page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert "Texted Cora, the coordinator on duty: delivered" in page
    assert "by sms" not in page and "(level" not in page
    assert "alert: late start" in as_coordinator.get("/office/").get_data(as_text=True)
    as_coordinator.post("/office/alerts/1/acknowledge", {"next": "/office/visits/V1"})
    assert alerts.alerts[1].acknowledged_by == "office:cora"
    assert "Acknowledged by Cora" in as_coordinator.get("/office/visits/V1").get_data(
        as_text=True)
    # The source audits the acknowledgement (the escalation's acknowledge(), the same for every
    # door: see tests/escalation/test_acknowledgement.py); the view writes no entry of its own.
    assert _audit(database, "acknowledge_alert") == []


def test_a_clients_page_lists_its_code_sheets_and_prints_a_new_one(
        as_coordinator: Office, session: Session) -> None:
    _rota(session)
    page = as_coordinator.get("/office/adults/A1").get_data(as_text=True)
    assert "No tokens or code sheets registered." in page and "Print a new code sheet" in page
    printed = as_coordinator.post("/office/adults/A1/code-sheet", {})
    assert printed.status_code == 200
    sheet = printed.get_data(as_text=True)
    assert "J.S." in sheet and "Joan" not in sheet  # initials only on the printed sheet
    page = as_coordinator.get("/office/adults/A1").get_data(as_text=True)
    assert "1001" in page and "0 of" in page  # the new sheet, none of its codes used yet
    as_coordinator.post("/office/adults/A1/code-sheet", {})
    page = as_coordinator.get("/office/adults/A1").get_data(as_text=True)
    assert "retired" in page  # printing a new sheet retires the old one


def test_an_alert_raised_by_the_scheduler_shows_on_the_board_and_is_acknowledged_there(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database,
        settings: Settings) -> None:
    _rota(session)
    make_ladder(session, NINE_AM)
    clock.set(NINE_AM + timedelta(minutes=31))  # nobody has logged in: a late start
    run_escalation_tick(database, settings, clock)
    [alert] = _alerts(database)
    assert "alert: late start" in as_coordinator.get("/office/").get_data(as_text=True)
    alerts_page = as_coordinator.get("/office/alerts").get_data(as_text=True)
    assert "J.S. visit 09:00 not started" in alerts_page
    on_call = as_coordinator.get("/office/on-call").get_data(as_text=True)
    assert "Olu Bello" in on_call
    as_coordinator.post(f"/office/alerts/{alert.id}/acknowledge", {"next": "/office/visits/V1"})
    [alert] = _alerts(database)
    assert alert.state is AlertState.ACKNOWLEDGED
    assert (alert.acknowledged_by, alert.acknowledged_via) == ("office:cora", "dashboard")
    assert "No open alerts." in as_coordinator.get("/office/alerts").get_data(as_text=True)


def test_acknowledging_on_the_dashboard_keeps_the_note_as_the_api_does_and_shows_it(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database,
        settings: Settings) -> None:
    _rota(session)
    make_ladder(session, NINE_AM)
    clock.set(NINE_AM + timedelta(minutes=31))  # nobody has logged in: a late start
    run_escalation_tick(database, settings, clock)
    [alert] = _alerts(database)
    assert f'id="ack-note-{alert.id}"' in as_coordinator.get("/office/alerts").get_data(
        as_text=True)
    page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert f'<label for="ack-note-{alert.id}">Note (optional)</label>' in page
    note = "Rang Amy: her car broke down, Ben is on his way."
    # Without the form's CSRF token, nothing is acknowledged and no note is kept.
    forged = as_coordinator.client.post(f"/office/alerts/{alert.id}/acknowledge", data={
        "note": note, "csrf_token": "forged-" + as_coordinator.token()})
    assert forged.status_code == 400
    assert _alerts(database)[0].state is AlertState.OPEN
    clock.set(NINE_AM + timedelta(minutes=35))
    as_coordinator.post(f"/office/alerts/{alert.id}/acknowledge",
                        {"note": f"  {note}\n", "next": "/office/visits/V1"})
    [alert] = _alerts(database)
    assert (alert.state, alert.acknowledged_by, alert.acknowledged_via, alert.acknowledged_note
            ) == (AlertState.ACKNOWLEDGED, "office:cora", "dashboard", note)
    page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert ("Acknowledged by Cora (office) at 09:35: “Rang Amy: her car broke down, Ben is on "
            "his way.”") in page
    [audit] = _audit(database, "acknowledge_alert")
    assert audit.detail["note"] == note


def test_acknowledging_on_the_dashboard_without_a_note_keeps_none(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database,
        settings: Settings) -> None:
    _rota(session)
    make_ladder(session, NINE_AM)
    clock.set(NINE_AM + timedelta(minutes=31))
    run_escalation_tick(database, settings, clock)
    [alert] = _alerts(database)
    as_coordinator.post(f"/office/alerts/{alert.id}/acknowledge", {"note": "   "})
    [alert] = _alerts(database)
    assert alert.state is AlertState.ACKNOWLEDGED and alert.acknowledged_note is None
    page = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    assert "Acknowledged by Cora (office) at 09:31." in page
    assert "note" not in _audit(database, "acknowledge_alert")[0].detail


def _alert_without_visit(session: Session, raised_at: datetime, number: int) -> Alert:
    """An open forwarding-failed alert: tied to an outbox message, to no visit."""
    alert = Alert(number=number, kind=AlertKind.FORWARDING_FAILED, subject_key=f"outbox:{number}",
                  outbox_message_id=number, summary="council forwarding failed 3 times",
                  state=AlertState.OPEN, level=1, deadline_at=raised_at, raised_at=raised_at)
    session.add(alert)
    session.commit()
    return alert


def test_an_acknowledged_alert_without_a_visit_shows_who_took_it_on_the_alerts_page(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database,
        settings: Settings) -> None:
    _rota(session)
    make_ladder(session, NINE_AM)
    clock.set(NINE_AM + timedelta(minutes=31))  # nobody has logged in to V1: a late start
    run_escalation_tick(database, settings, clock)
    [on_visit] = _alerts(database)
    # Added after the tick: it would resolve them, as their outbox messages do not exist.
    yesterday = _alert_without_visit(session, NINE_AM - timedelta(days=1), 4001)
    today = _alert_without_visit(session, NINE_AM, 4002)

    clock.set(NINE_AM - timedelta(days=1, minutes=-5))
    as_coordinator.post(f"/office/alerts/{yesterday.id}/acknowledge", {"note": "old news"})
    clock.set(NINE_AM + timedelta(minutes=40))  # 09:40 in London (GMT in January)
    as_coordinator.post(f"/office/alerts/{today.id}/acknowledge",
                        {"note": "Rang the council help desk; they are fixing it."})
    as_coordinator.post(f"/office/alerts/{on_visit.id}/acknowledge", {"note": "Ben is going"})

    page = as_coordinator.get("/office/alerts").get_data(as_text=True)
    section = page.split("Acknowledged today, not tied to a visit", 1)[1]
    assert "By Cora (office) at 09:40: “Rang the council help desk; they are fixing it.”" in section
    assert "Alert 4002: forwarding failed" in section
    assert "council forwarding failed 3 times" in section
    assert "4001" not in section and "old news" not in section  # acknowledged yesterday
    assert "Ben is going" not in section  # the visit page shows that one
    assert "Ben is going" in as_coordinator.get("/office/visits/V1").get_data(as_text=True)


def test_the_alerts_page_has_no_acknowledged_section_when_none_were_taken(
        as_coordinator: Office, session: Session) -> None:
    _alert_without_visit(session, NINE_AM, 4003)
    page = as_coordinator.get("/office/alerts").get_data(as_text=True)
    assert "council forwarding failed" in page
    assert "Acknowledged today" not in page


def test_acknowledging_an_alert_someone_else_took_or_that_settled_says_so_and_changes_nothing(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database,
        settings: Settings) -> None:
    _rota(session)
    make_ladder(session, NINE_AM)
    clock.set(NINE_AM + timedelta(minutes=31))
    run_escalation_tick(database, settings, clock)
    [alert] = _alerts(database)
    clock.set(NINE_AM + timedelta(minutes=33))
    first = as_coordinator.post(f"/office/alerts/{alert.id}/acknowledge", {"note": "first"},
                                follow_redirects=True)
    assert f"Alert {alert.number} acknowledged." in first.get_data(as_text=True)
    # A second coordinator's page, left open, acknowledges the same alert two minutes later.
    clock.set(NINE_AM + timedelta(minutes=35))
    second = as_coordinator.post(f"/office/alerts/{alert.id}/acknowledge",
                                 {"note": "second"}, follow_redirects=True)
    page = second.get_data(as_text=True)
    assert f"Alert {alert.number} was already acknowledged by Cora (office) at 09:33." in page
    assert f"Alert {alert.number} acknowledged." not in page
    [alert] = _alerts(database)
    assert (alert.acknowledged_note, alert.acknowledged_at) == (
        "first", NINE_AM + timedelta(minutes=33))
    assert len(_audit(database, "acknowledge_alert")) == 1
    # Settled meanwhile (the carer logged in): the page says it is resolved.
    with database.unit_of_work() as db:
        settled = db.get_one(Alert, alert.id)
        settled.state, settled.resolved_reason = AlertState.RESOLVED, "Amy logged in at 09:36"
    resolved = as_coordinator.post(f"/office/alerts/{alert.id}/acknowledge", {},
                                   follow_redirects=True).get_data(as_text=True)
    assert f"Alert {alert.number} is already resolved: Amy logged in at 09:36." in resolved
    assert len(_audit(database, "acknowledge_alert")) == 1


def test_an_app_with_no_alert_or_code_source_registered_fails_saying_which_is_missing() -> None:
    bare = Flask("bare")
    with bare.app_context(), pytest.raises(RuntimeError, match="register_alert_source"):
        alert_source()
    with bare.app_context(), pytest.raises(RuntimeError, match="register_code_source"):
        code_source()
