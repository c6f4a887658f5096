"""The dashboard in plain words: no raw codes where a coordinator reads.

Reason codes by their label, alerts by the number their texts gave and the rung they reached,
the audit trail and each step of a carer's call as sentences, people by their names.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.models import Alert, AlertNotification
from ivr_gateway.escalation.tick import run_escalation_tick
from ivr_gateway.escalation.wording import alert_text
from ivr_gateway.models import Adult, LogEvent, PlannedVisit, VisitStatus, landlines_at
from ivr_gateway.rota import service as rota
from ivr_gateway.rota.schemas import PlannedVisitIn
from tests.escalation.conftest import make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import play
from tests.office.conftest import Office
from tests.twilio_client import TwilioClient

LANDLINE = "+441134960001"
NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)  # a Tuesday; GMT, so London = UTC


def _rota(session: Session) -> None:
    adult = make_adult(session, ref="A1", landlines=(LANDLINE,))
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="5678")
    make_care_worker(session, ref="C2", staff_number="2345", pin="6190", given_name="Ben",
                     family_name="Taylor")
    make_planned_visit(session, adult, [amy], start=NINE_AM, minutes=30, ref="V1")
    session.commit()


def _text(html: str) -> str:
    """The page as a person reads it: tags dropped, spaces squeezed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _alerts(database: Database) -> list[Alert]:
    with database.unit_of_work() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def _raise_a_late_alert(session: Session, database: Database, settings: Settings,
                        clock: FixedClock) -> Alert:
    _rota(session)
    make_ladder(session, NINE_AM)
    clock.set(NINE_AM + timedelta(minutes=31))  # nobody logged in to V1: a late start
    run_escalation_tick(database, settings, clock)
    [alert] = _alerts(database)
    return alert


def test_the_alert_shows_the_number_its_text_gave_on_the_button_the_flash_and_the_list(
        as_coordinator: Office, session: Session, database: Database, settings: Settings,
        clock: FixedClock) -> None:
    alert = _raise_a_late_alert(session, database, settings, clock)
    with database.unit_of_work() as db:
        # A number unlike its row id, so the page cannot show the id and pass by chance.
        db.execute(Alert.__table__.update().where(Alert.id == alert.id).values(number=4821))
        stored = db.get_one(Alert, alert.id)
        texted = alert_text(stored)
    assert "Reply ACK 4821" in texted and alert.id != 4821

    alerts_page = _text(as_coordinator.get("/office/alerts").get_data(as_text=True))
    assert "Alert 4821: late start" in alerts_page
    assert "Acknowledge alert 4821" in alerts_page
    assert f"Acknowledge alert {alert.id} " not in alerts_page + " "
    visit_page = _text(as_coordinator.get("/office/visits/V1").get_data(as_text=True))
    assert "Acknowledge alert 4821" in visit_page and "Alert 4821: late start" in visit_page

    done = as_coordinator.post(f"/office/alerts/{alert.id}/acknowledge", {"note": "rang Amy"},
                               follow_redirects=True)
    assert "Alert 4821 acknowledged." in _text(done.get_data(as_text=True))


def test_alerts_say_who_was_told_how_and_how_far_up_the_ladder_in_words(
        as_coordinator: Office, session: Session, database: Database, settings: Settings,
        clock: FixedClock) -> None:
    alert = _raise_a_late_alert(session, database, settings, clock)
    with database.unit_of_work() as db:
        told = list(db.scalars(select(AlertNotification)))
        assert told, "the tick texted the first rung"
        steps = {n.step for n in told}
    page = _text(as_coordinator.get("/office/visits/V1").get_data(as_text=True))
    assert "(level" not in page and "(on_call)" not in page and "(manager)" not in page
    assert " by sms " not in page and " by voice " not in page
    if "coordinator" in steps:
        assert "Texted Sam Carter, the coordinator on duty" in page
        assert "told up to the coordinator on duty" in page
    else:  # out of office hours the ladder starts with the on-call person
        assert "Olu Bello, the on-call person" in page
        assert "told up to the on-call person" in page
    alerts_page = _text(as_coordinator.get("/office/alerts").get_data(as_text=True))
    assert f"Alert {alert.number}: late start" in alerts_page and "(level" not in alerts_page


def test_a_reason_code_shows_by_its_label_on_the_board_and_the_visit_page(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(hours=3))  # nobody came: missed
    as_coordinator.post("/office/visits/V1/reason", {"code": "no_carer_available", "note": ""})
    board = _text(as_coordinator.get("/office/?date=2026-01-13").get_data(as_text=True))
    assert "No carer available (sickness, staffing)" in board
    assert "no_carer_available" not in board.replace('value="no_carer_available"', "")
    visit = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    readable = _text(re.sub(r'value="[^"]*"', "", visit))
    assert "no_carer_available" not in readable
    assert "Cora recorded the reason: No carer available (sickness, staffing)" in readable
    assert "Recorded: No carer available (sickness, staffing) (Cora," in readable
    assert "office:cora" not in readable


def test_a_visit_cancelled_on_the_rota_shows_the_rotas_reason_by_its_label(
        as_coordinator: Office, session: Session, clock: FixedClock, settings: Settings
) -> None:
    _rota(session)
    visit = session.scalars(select(PlannedVisit).where(PlannedVisit.ref == "V1")).one()
    rota.upsert_planned_visit(session, "V1", PlannedVisitIn(
        adult_ref="A1", care_worker_refs=["C1"], planned_start=visit.planned_start,
        planned_end=visit.planned_end, status=VisitStatus.CANCELLED,
        cancel_reason="client_in_hospital"), settings=settings, now=NINE_AM - timedelta(hours=2),
        actor="api:rostering")
    session.commit()
    clock.set(NINE_AM + timedelta(hours=1))
    page = _text(re.sub(r'value="[^"]*"', "", as_coordinator.get("/office/visits/V1")
                        .get_data(as_text=True)))
    assert "client_in_hospital" not in page
    assert "Client in hospital" in page
    assert "rostering cancelled the visit: Client in hospital" in page


def test_the_audit_trail_reads_as_sentences_with_the_office_users_name(
        as_coordinator: Office, session: Session, clock: FixedClock, settings: Settings
) -> None:
    _rota(session)
    visit = session.scalars(select(PlannedVisit).where(PlannedVisit.ref == "V1")).one()
    rota.upsert_planned_visit(session, "V1", PlannedVisitIn(
        adult_ref="A1", care_worker_refs=["C2"], planned_start=visit.planned_start,
        planned_end=visit.planned_end), settings=settings, now=NINE_AM, actor="office:cora")
    session.commit()
    clock.set(NINE_AM + timedelta(minutes=5))
    html = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    audit = _text(html.split('id="audit"', 1)[1].split("</table>", 1)[0])
    assert "Cora changed the carers: Amy Jones → Ben Taylor" in audit
    assert "office:cora" not in audit and "care_worker_refs" not in audit
    assert "['C2']" not in audit


def test_the_calls_steps_read_as_sentences(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(minutes=2))
    play(twilio, LANDLINE, "1234", "5678")  # the log-in; the read-back left to time out
    html = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    timeline = _text(html.split('class="timeline"', 1)[1].split("</ol>", 1)[0])
    assert "Call answered: caller ID 0113 496 0001 matched Joan Smith's landline" in timeline
    assert "Keyed carer number 1234" in timeline
    assert "Amy keyed their PIN: accepted" in timeline
    assert "5678" not in timeline
    for raw in ("Call step", "locate", "result:", "staff_number"):
        assert raw not in timeline, raw


def test_a_withheld_call_says_so_and_names_the_client_number_keyed(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _rota(session)
    with session.begin():
        session.execute(Adult.__table__.update().values(client_number="100001"))
    clock.set(NINE_AM + timedelta(minutes=1))
    play(twilio, "anonymous", "100001", "1234", "5678")
    html = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    timeline = _text(html.split('class="timeline"', 1)[1].split("</ol>", 1)[0])
    assert "Call answered: caller ID withheld" in timeline
    assert "Keyed client number 100001" in timeline
    assert "Amy keyed their PIN: accepted" in timeline


def test_the_visit_page_says_who_acknowledged_by_name_and_door_not_by_code(
        as_coordinator: Office, session: Session, database: Database, settings: Settings,
        clock: FixedClock) -> None:
    alert = _raise_a_late_alert(session, database, settings, clock)
    clock.set(NINE_AM + timedelta(minutes=33))
    as_coordinator.post(f"/office/alerts/{alert.id}/acknowledge", {"note": "rang Amy"})
    html = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    alerts = _text(html.split('id="alerts-h"', 1)[1].split("</section>", 1)[0])
    assert "Acknowledged by Cora (office) at 09:33: “rang Amy”." in alerts
    assert "office:cora" not in _text(html)


def test_a_refusal_names_who_is_logged_in_and_the_role_needed(
        as_coordinator: Office, session: Session) -> None:
    _rota(session)
    page = as_coordinator.get("/office/users")
    assert page.status_code == 403
    assert ("You are logged in as Cora (cora), a coordinator: only an administrator can do "
            "this.") in _text(page.get_data(as_text=True))
    pin = as_coordinator.post("/office/care-workers/C1/pin", {"pin": "2580", "pin_again": "2580"})
    assert pin.status_code == 403
    assert ("You are logged in as Cora (cora), a coordinator: only a manager or an "
            "administrator can do this.") in _text(pin.get_data(as_text=True))


def test_the_matching_decision_and_exceptions_read_in_words(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(minutes=2))
    play(twilio, LANDLINE, "1234", "5678", "9")  # a log-in turned into a log-out by the carer
    page = _text(as_coordinator.get("/office/visits/V1").get_data(as_text=True))
    assert "(logged out); no log-in, log-out proven by caller ID." in page
    assert "Carer pressed 9 : the carer changed a log-in to a log-out" in page
    assert "Missing log-in : log-out with no log-in for this client" in page
    for raw in ("caller id", "caller_id", "carer corrected direction", "missing_log_in"):
        assert raw not in page, raw


def test_a_carers_press_8_at_a_shared_landline_reads_as_a_sentence_on_both_visits(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    joan = make_adult(session, given_name="Joan", family_name="Smith", ref="A-JOAN",
                      landlines=("+441134960009",))
    mary = make_adult(session, given_name="Mary", family_name="Smith", ref="A-MARY",
                      landlines=("+441134960009",))
    amy = make_care_worker(session, staff_number="1234", pin="5678")
    make_planned_visit(session, joan, [amy], start=NINE_AM + timedelta(hours=2), ref="V-JOAN")
    make_planned_visit(session, mary, [amy], start=NINE_AM, ref="V-MARY")
    session.commit()
    clock.set(NINE_AM + timedelta(minutes=1))
    play(twilio, "+441134960009", "1", "1234", "5678", "8")  # Joan chosen; it was Mary's
    for ref in ("V-MARY", "V-JOAN"):
        html = as_coordinator.get(f"/office/visits/{ref}").get_data(as_text=True)
        audit = _text(html.split('id="audit"', 1)[1].split("</table>", 1)[0])
        assert ("Amy Jones said on the call that the log-in was for the other client at the "
                "landline: moved from V-JOAN to V-MARY") in audit, ref
        assert "ivr:" not in audit and "correct_client" not in audit
    page = _text(as_coordinator.get("/office/visits/V-MARY").get_data(as_text=True))
    assert "Carer chose the other client : the carer changed the client" in page
    assert "Pressed 8 after the log-in read-back: it was the other client's visit" in page


def test_the_move_page_says_how_the_event_came_in_and_how_presence_was_proven_in_words(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(minutes=2))
    play(twilio, LANDLINE, "1234", "5678")
    [event_id] = session.scalars(select(LogEvent.id)).all()
    session.commit()
    page = _text(as_coordinator.get(f"/office/log-events/{event_id}/move").get_data(
        as_text=True))
    assert "log-in by phone call" in page and "Presence caller ID" in page
    assert " by ivr" not in page and "caller id" not in page


def test_a_call_before_a_landline_changed_still_reads_as_matched(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        settings: Settings) -> None:
    _rota(session)
    clock.set(NINE_AM + timedelta(minutes=2))
    play(twilio, LANDLINE, "1234", "5678")
    # The next day the client's line changes on the rota: yesterday's call was still verified.
    rota.patch_adult(session, "A1", {"landlines": ["0113 496 0999"]}, settings=settings,
                     now=NINE_AM + timedelta(days=1), actor="api:roster")
    session.commit()
    html = as_coordinator.get("/office/visits/V1").get_data(as_text=True)
    timeline = _text(html.split('class="timeline"', 1)[1].split("</ol>", 1)[0])
    assert "Call answered: caller ID 0113 496 0001 matched Joan Smith's landline" in timeline
    # A call from the old number after the change is no longer the client's line.
    with session.begin():
        adult = session.scalars(select(Adult).where(Adult.ref == "A1")).one()
        assert landlines_at(session, adult, NINE_AM) == {LANDLINE}
        assert landlines_at(session, adult, NINE_AM + timedelta(days=2)) == {"+441134960999"}
