"""GET /api/v1/visits?date=: a London day's visits with actual times, outcomes and exceptions."""

from __future__ import annotations

from datetime import UTC, datetime

from ivr_gateway.clock import FixedClock
from ivr_gateway.db import Database
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    ExceptionCode,
    Verification,
    VisitException,
    VisitStatus,
)
from tests.api.conftest import Api
from tests.factories import make_adult, make_care_worker, make_planned_visit


def test_day_lists_planned_visits_with_actual_times_outcome_and_exceptions(
        api: Api, database: Database, clock: FixedClock) -> None:
    clock.set(datetime(2026, 1, 13, 12, 0, tzinfo=UTC))
    with database.unit_of_work() as session:
        adult = make_adult(session, ref="A1", given_name="Joan", family_name="Smith")
        amy = make_care_worker(session, ref="C1", staff_number="1111")
        done = make_planned_visit(session, adult, [amy], ref="V1",
                                  start=datetime(2026, 1, 13, 8, 0, tzinfo=UTC), minutes=30)
        make_planned_visit(session, adult, [amy], ref="V2",
                           start=datetime(2026, 1, 13, 9, 0, tzinfo=UTC),
                           status=VisitStatus.CANCELLED)
        make_planned_visit(session, adult, [amy], ref="V-other-day",
                           start=datetime(2026, 1, 14, 0, 30, tzinfo=UTC))
        actual = ActualVisit(care_worker_id=amy.id, adult_id=adult.id, planned_visit_id=done.id,
                             state=ActualVisitState.CLOSED,
                             started_at=datetime(2026, 1, 13, 8, 5, tzinfo=UTC),
                             ended_at=datetime(2026, 1, 13, 8, 35, tzinfo=UTC),
                             in_verification=Verification.UNVERIFIED,
                             out_verification=Verification.CALLER_ID, match_reason="planned",
                             created_at=datetime(2026, 1, 13, 8, 5, tzinfo=UTC))
        session.add(actual)
        session.flush()
        session.add(VisitException(actual_visit_id=actual.id, planned_visit_id=done.id,
                                   code=ExceptionCode.UNVERIFIED_LOCATION, detail="withheld",
                                   created_at=datetime(2026, 1, 13, 8, 5, tzinfo=UTC)))

    response = api.get("/visits?date=2026-01-13")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["date"], body["timezone"]) == ("2026-01-13", "Europe/London")
    assert [v["ref"] for v in body["visits"]] == ["V1", "V2"]
    first, cancelled = body["visits"]
    assert first["planned_start"] == "2026-01-13T08:00:00Z"
    assert first["actual_start"] == "2026-01-13T08:05:00Z"
    assert first["actual_end"] == "2026-01-13T08:35:00Z"
    assert first["outcome"] == "completed"
    assert (first["carers_needed"], first["carers_logged_in"]) == (1, 1)
    assert first["adult_initials"] == "J.S."
    assert first["actuals"][0]["in_verification"] == "unverified"
    assert [(e["code"], e["care_worker_ref"]) for e in first["exceptions"]] == [
        ("unverified_location", "C1")]
    assert cancelled["outcome"] == "cancelled"


def test_double_up_with_one_carer_in_is_short_of_a_carer_with_the_carer_counts(
        api: Api, database: Database, clock: FixedClock) -> None:
    clock.set(datetime(2026, 1, 13, 12, 0, tzinfo=UTC))
    start = datetime(2026, 1, 13, 8, 0, tzinfo=UTC)
    with database.unit_of_work() as session:
        adult = make_adult(session, ref="A1")
        amy = make_care_worker(session, ref="C1", staff_number="1111")
        ben = make_care_worker(session, ref="C2", staff_number="2222")
        visit = make_planned_visit(session, adult, [amy, ben], ref="DU", start=start)
        session.add(ActualVisit(care_worker_id=amy.id, adult_id=adult.id,
                                planned_visit_id=visit.id, state=ActualVisitState.CLOSED,
                                started_at=start, ended_at=datetime(2026, 1, 13, 8, 30,
                                                                    tzinfo=UTC),
                                in_verification=Verification.CALLER_ID,
                                out_verification=Verification.CALLER_ID, match_reason="planned",
                                created_at=start))
    [du] = api.get("/visits?date=2026-01-13").get_json()["visits"]
    assert (du["outcome"], du["carers_needed"], du["carers_logged_in"]) == (
        "short_of_carer", 2, 1)
    schema = api.get("/openapi.json", token=None).get_json()["components"]["schemas"]
    assert "short_of_carer" in schema["Outcome"]["enum"]  # documented from the one enum


def test_day_is_the_london_day_not_the_utc_day(api: Api, database: Database) -> None:
    with database.unit_of_work() as session:
        adult = make_adult(session, ref="A1")
        amy = make_care_worker(session, ref="C1", staff_number="1111")
        # 23:30 UTC on 1 June is 00:30 on 2 June in London (summer time).
        make_planned_visit(session, adult, [amy], ref="V-late",
                           start=datetime(2026, 6, 1, 23, 30, tzinfo=UTC))
    assert api.get("/visits?date=2026-06-01").get_json()["visits"] == []
    assert [v["ref"] for v in api.get("/visits?date=2026-06-02").get_json()["visits"]] == [
        "V-late"]


def test_day_must_be_given_as_an_iso_date(api: Api) -> None:
    for query in ("", "?date=13/01/2026", "?date=2026-02-30", "?date=20260113"):
        response = api.get(f"/visits{query}")
        assert response.status_code == 422
        assert response.get_json()["error"]["fields"][0]["field"] == "date"
