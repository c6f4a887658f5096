"""PATCH (JSON merge patch) of adults, care workers and planned visits; withdrawing a visit."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import DEV_PIN_PEPPER as PEPPER
from ivr_gateway.config import KpiWindows, Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.models import Alert
from ivr_gateway.escalation.tick import run_escalation_tick
from ivr_gateway.hashing import verify_pin
from ivr_gateway.models import (
    Adult,
    AuditEntry,
    CareWorker,
    Channel,
    LogEvent,
    PlannedVisit,
    Verification,
)
from ivr_gateway.outbox.models import OutboxMessage
from ivr_gateway.visits.recording import LogRequest, record_log_event
from tests.api.conftest import Api, adult_body, care_worker_body, count, visit_body
from tests.escalation.conftest import make_ladder
from tests.ivr.calls import count as count_rows
from tests.ivr.calls import play
from tests.twilio_client import TwilioClient


def _rota(api: Api) -> None:
    assert api.put("/adults/A1", adult_body()).status_code == 201
    assert api.put("/care-workers/C1", care_worker_body()).status_code == 201
    assert api.put("/planned-visits/V1", visit_body()).status_code == 201


def _pin_hash(database: Database) -> str | None:
    with database.unit_of_work() as session:
        return session.scalars(select(CareWorker.pin_hash).where(CareWorker.ref == "C1")).one()


def test_a_pin_alone_resets_the_pin_and_nothing_else(api: Api, database: Database) -> None:
    _rota(api)
    before = api.get("/care-workers/C1").get_json()
    response = api.patch("/care-workers/C1", {"pin": "3860"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["change"] == "updated"
    assert verify_pin(_pin_hash(database), "3860", PEPPER)
    after = body["care_worker"]
    for name in ("staff_number", "given_name", "family_name", "mobiles", "language", "branch"):
        assert after[name] == before[name]
    assert after["pin_set"] is True
    with database.unit_of_work() as session:
        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert audit is not None and audit.detail["changes"] == {"pin": "set"}


def test_only_the_fields_given_change_and_null_clears(api: Api) -> None:
    _rota(api)
    body = api.patch("/adults/A1", {"rag": "red", "address": None}).get_json()
    adult = body["adult"]
    assert (body["change"], adult["rag"], adult["address"]) == ("updated", "red", "")
    assert (adult["given_name"], adult["postcode"]) == ("Joan", "CM1 1AA")
    again = api.patch("/adults/A1", {"rag": "red"}).get_json()
    assert again["change"] == "unchanged"


def test_a_patch_is_checked_as_the_whole_record_would_be(api: Api) -> None:
    _rota(api)
    response = api.patch("/planned-visits/V1", {"planned_end": "2026-01-13T07:00:00Z"})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"][0]["field"] == "planned_end"
    unknown = api.call("PATCH", "/adults/A1", {"landline": "020 7946 0002"})
    assert unknown.status_code == 422
    assert api.patch("/adults/NOPE", {"rag": "red"}).status_code == 404


def test_a_visit_moved_by_patch_keeps_its_carers_and_can_be_uncancelled(api: Api) -> None:
    _rota(api)
    moved = api.patch("/planned-visits/V1", {"planned_start": "2026-01-13T09:00:00Z",
                                             "planned_end": "2026-01-13T09:30:00Z"})
    visit = moved.get_json()["planned_visit"]
    assert (visit["planned_start"], visit["care_worker_refs"]) == ("2026-01-13T09:00:00Z",
                                                                   ["C1"])
    cancelled = api.patch("/planned-visits/V1", {"status": "cancelled",
                                                 "cancel_reason": "HOSPITAL"}).get_json()
    assert cancelled["planned_visit"]["cancel_reason"] == "HOSPITAL"
    back = api.patch("/planned-visits/V1", {"status": "planned"}).get_json()["planned_visit"]
    assert (back["status"], back["cancel_reason"]) == ("planned", None)


def test_a_leaver_is_deactivated_not_deleted(api: Api, database: Database) -> None:
    _rota(api)
    body = api.patch("/care-workers/C1", {"active": False}).get_json()
    assert body["care_worker"]["active"] is False
    assert count(database, CareWorker) == 1
    assert api.get("/care-workers/C1").get_json()["active"] is False


def test_a_visit_withdrawn_before_it_starts_is_cancelled_and_announced(
        api: Api, database: Database) -> None:
    _rota(api)
    outbox = count(database, OutboxMessage)
    response = api.delete("/planned-visits/V1")
    assert response.status_code == 200
    visit = response.get_json()["planned_visit"]
    assert (visit["status"], visit["cancel_reason"]) == ("cancelled", "WITHDRAWN")
    assert count(database, OutboxMessage) == outbox + 1  # the council hears of it
    assert api.delete("/planned-visits/V1").get_json()["change"] == "unchanged"
    listed = api.get("/visits?date=2026-01-13").get_json()["visits"]
    assert [(v["ref"], v["outcome"]) for v in listed] == [("V1", "cancelled")]


def test_a_visit_cannot_be_withdrawn_once_a_carer_logged_in(api: Api,
                                                           database: Database) -> None:
    _rota(api)
    logged_in = datetime(2026, 1, 13, 8, 5, tzinfo=UTC)
    with database.unit_of_work() as session:
        carer = session.scalars(select(CareWorker).where(CareWorker.ref == "C1")).one()
        adult = session.scalars(select(Adult).where(Adult.ref == "A1")).one()
        record_log_event(session, LogRequest(
            channel=Channel.IVR, care_worker_id=carer.id, adult_id=adult.id,
            event_time=logged_in, received_at=logged_in,
            verification=Verification.CALLER_ID), KpiWindows())
    response = api.delete("/planned-visits/V1")
    assert response.status_code == 409
    assert "has started (a carer logged in at 08:05)" in response.get_json()["error"]["message"]
    assert api.get("/planned-visits/V1").get_json()["status"] == "planned"


def test_a_leaver_cannot_log_a_visit_by_phone_and_their_evidence_stays(
        api: Api, twilio: TwilioClient, session: Session) -> None:
    api.put("/adults/A1", adult_body(landlines=["0113 496 0001"]))
    api.put("/care-workers/C1", care_worker_body(pin="3860"))
    api.put("/planned-visits/V1", visit_body(planned_start="2026-01-13T08:50:00Z",
                                             planned_end="2026-01-13T09:20:00Z"))
    play(twilio, "+441134960001", "4821", "3860")
    assert count_rows(session, LogEvent) == 1
    api.patch("/care-workers/C1", {"active": False})
    play(twilio, "+441134960001", "4821", "3860")
    assert count_rows(session, LogEvent) == 1  # refused: nothing new recorded
    assert api.get("/visits?date=2026-01-13").get_json()["visits"][0]["actual_start"] is not None


def test_a_withdrawn_visit_raises_no_alert_where_a_planned_one_does(
        api: Api, session: Session, database: Database, settings: Settings,
        clock: FixedClock) -> None:
    _rota(api)  # V1 08:00-08:30 on 13 January
    api.put("/planned-visits/V2", visit_body(planned_start="2026-01-13T08:05:00Z",
                                             planned_end="2026-01-13T08:35:00Z"))
    clock.set(datetime(2026, 1, 13, 7, 30, tzinfo=UTC))
    make_ladder(session, clock.now())
    session.commit()
    assert api.delete("/planned-visits/V1").status_code == 200
    clock.set(datetime(2026, 1, 13, 10, 30, tzinfo=UTC))  # both past the missed window
    run_escalation_tick(database, settings, clock)
    with database.unit_of_work() as db:
        refs = {db.get_one(PlannedVisit, a.planned_visit_id).ref
                for a in db.scalars(select(Alert)) if a.planned_visit_id}
    assert refs == {"V2"}
