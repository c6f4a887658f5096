"""PUT and GET /api/v1/planned-visits/<ref>."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from ivr_gateway.config import KpiWindows
from ivr_gateway.db import Database
from ivr_gateway.models import (
    ActualVisit,
    Adult,
    AuditEntry,
    CareWorker,
    Channel,
    PlannedVisit,
    PlannedVisitCareWorker,
    Verification,
)
from ivr_gateway.visits.recording import LogRequest, record_log_event
from tests.api.conftest import Api, adult_body, care_worker_body, count, visit_body


def _rota(api: Api) -> None:
    assert api.put("/adults/A1", adult_body()).status_code == 201
    assert api.put("/care-workers/C1", care_worker_body()).status_code == 201
    piotr = care_worker_body(staff_number="5902", given_name="Piotr", family_name="Nowak",
                             mobiles=[])
    assert api.put("/care-workers/C2", piotr).status_code == 201


def test_planned_visit_is_created_and_read_back_in_utc(api: Api) -> None:
    _rota(api)
    response = api.put("/planned-visits/V1", visit_body(
        planned_start="2026-06-01T08:00:00+01:00", planned_end="2026-06-01T08:45:00+01:00",
        time_critical=True))
    assert response.status_code == 201
    visit = response.get_json()["planned_visit"]
    assert visit["planned_start"] == "2026-06-01T07:00:00Z"
    assert visit["planned_end"] == "2026-06-01T07:45:00Z"
    assert visit["status"] == "planned"
    assert visit["time_critical"] is True
    assert api.get("/planned-visits/V1").get_json() == visit


def test_double_up_visit_books_two_carers(api: Api, database: Database) -> None:
    _rota(api)
    response = api.put("/planned-visits/V1", visit_body(care_worker_refs=["C1", "C2"]))
    assert response.get_json()["planned_visit"]["care_worker_refs"] == ["C1", "C2"]
    assert count(database, PlannedVisitCareWorker) == 2
    again = api.put("/planned-visits/V1", visit_body(care_worker_refs=["C2", "C1"]))
    assert again.get_json()["change"] == "unchanged"
    single = api.put("/planned-visits/V1", visit_body(care_worker_refs=["C2"]))
    assert single.get_json()["change"] == "updated"
    assert count(database, PlannedVisitCareWorker) == 1


def test_same_visit_sent_twice_is_unchanged(api: Api, database: Database) -> None:
    _rota(api)
    api.put("/planned-visits/V1", visit_body())
    again = api.put("/planned-visits/V1", visit_body(planned_start="2026-01-13T08:00:00+00:00"))
    assert again.status_code == 200
    assert again.get_json()["change"] == "unchanged"
    with database.unit_of_work() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "planned_visit")).all()
        assert len(entries) == 1


def test_visit_ending_before_it_starts_is_refused_with_the_field_named(
        api: Api, database: Database) -> None:
    _rota(api)
    response = api.put("/planned-visits/V1", visit_body(planned_end="2026-01-13T07:30:00Z"))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == [{
        "field": "planned_end", "message": "the visit must end after it starts (planned_start)"}]
    assert count(database, PlannedVisit) == 0


def test_visit_longer_than_twelve_hours_is_refused_as_live_in_care(api: Api) -> None:
    _rota(api)
    response = api.put("/planned-visits/V1", visit_body(planned_end="2026-01-13T20:01:00Z"))
    [problem] = response.get_json()["error"]["fields"]
    assert problem["field"] == "planned_end"
    assert "at most 12 hours" in problem["message"]
    assert "live-in 24-hour care is out of scope" in problem["message"]


def test_times_without_an_offset_are_refused(api: Api) -> None:
    _rota(api)
    response = api.put("/planned-visits/V1", visit_body(planned_start="2026-01-13T08:00:00"))
    assert response.status_code == 422
    [problem] = response.get_json()["error"]["fields"]
    assert problem["field"] == "planned_start"
    assert "timezone" in problem["message"]


def test_unknown_adult_and_carer_references_are_each_named(api: Api, database: Database) -> None:
    _rota(api)
    response = api.put("/planned-visits/V1",
                       visit_body(adult_ref="A9", care_worker_refs=["C1", "C9"]))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == [
        {"field": "adult_ref", "message": "there is no adult with ref 'A9'; send the adult first"},
        {"field": "care_worker_refs[1]",
         "message": "there is no care worker with ref 'C9'; send the care worker first"},
    ]
    assert count(database, PlannedVisit) == 0


def test_visit_needs_at_least_one_carer_and_no_carer_twice(api: Api) -> None:
    _rota(api)
    none = api.put("/planned-visits/V1", visit_body(care_worker_refs=[]))
    assert none.get_json()["error"]["fields"][0]["field"] == "care_worker_refs"
    twice = api.put("/planned-visits/V1", visit_body(care_worker_refs=["C1", "C1"]))
    assert twice.get_json()["error"]["fields"] == [
        {"field": "care_worker_refs", "message": "the same care worker is listed twice"}]


def test_cancellation_needs_a_reason_and_is_audited_as_a_cancel(
        api: Api, database: Database) -> None:
    _rota(api)
    api.put("/planned-visits/V1", visit_body())
    no_reason = api.put("/planned-visits/V1", visit_body(status="cancelled"))
    assert no_reason.status_code == 422
    assert no_reason.get_json()["error"]["fields"] == [
        {"field": "cancel_reason", "message": "a cancelled visit needs a cancel_reason code"}]
    response = api.put("/planned-visits/V1", visit_body(
        status="cancelled", cancel_reason="HOSPITAL", cancel_note="Admitted overnight"))
    assert response.status_code == 200
    visit = response.get_json()["planned_visit"]
    assert (visit["status"], visit["cancel_reason"], visit["cancel_note"]) == (
        "cancelled", "HOSPITAL", "Admitted overnight")
    with database.unit_of_work() as session:
        cancel = session.scalars(select(AuditEntry).where(AuditEntry.action == "cancel")).one()
        assert cancel.detail["changes"]["status"] == ["planned", "cancelled"]


def test_reason_on_a_planned_visit_is_refused(api: Api) -> None:
    _rota(api)
    response = api.put("/planned-visits/V1", visit_body(cancel_reason="HOSPITAL"))
    assert response.get_json()["error"]["fields"][0]["field"] == "cancel_reason"


def test_unknown_planned_visit_is_404(api: Api) -> None:
    assert api.get("/planned-visits/NOPE").status_code == 404


def test_a_visit_moved_on_the_rota_moves_its_logged_in_carers_log_out_chase(
        api: Api, database: Database) -> None:


    _rota(api)
    api.put("/planned-visits/V1", visit_body())  # 08:00-08:30
    logged_in = datetime(2026, 1, 13, 8, 5, tzinfo=UTC)
    with database.unit_of_work() as session:
        carer = session.scalars(select(CareWorker).where(CareWorker.ref == "C1")).one()
        adult = session.scalars(select(Adult).where(Adult.ref == "A1")).one()
        record_log_event(session, LogRequest(
            channel=Channel.IVR, care_worker_id=carer.id, adult_id=adult.id,
            event_time=logged_in, received_at=logged_in,
            verification=Verification.CALLER_ID), KpiWindows())
    assert _expected_end(database) == datetime(2026, 1, 13, 8, 35, tzinfo=UTC)
    moved = api.put("/planned-visits/V1", visit_body(planned_end="2026-01-13T09:00:00Z"))
    assert moved.get_json()["change"] == "updated"
    assert _expected_end(database) == datetime(2026, 1, 13, 9, 5, tzinfo=UTC)


def _expected_end(database: Database) -> object:
    with database.unit_of_work() as session:
        return session.scalars(select(ActualVisit.expected_end_at)).one()
