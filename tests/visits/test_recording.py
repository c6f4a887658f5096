"""Recording log events: the carer's visits read once, and what the read-back is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ivr_gateway.config import KpiWindows
from ivr_gateway.db import Database
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    CareWorker,
    Channel,
    ExceptionCode,
    LogEvent,
    LogKind,
    Verification,
    VisitException,
)
from ivr_gateway.visits.matching import MatchKind
from ivr_gateway.visits.recording import LogRequest, LogResult, record_log_event
from tests.factories import make_adult, make_care_worker, make_planned_visit

KPI = KpiWindows()
NINE = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _log(session: Session, care_worker_id: int, adult_id: int, at: datetime,
         kind: LogKind | None = None) -> LogResult:
    return record_log_event(session, LogRequest(
        channel=Channel.SMS, care_worker_id=care_worker_id, adult_id=adult_id, event_time=at,
        received_at=at, verification=Verification.TOKEN_CODE, kind=kind), KPI)


def _visited_first_home_nine_to_half_past(session: Session) -> tuple[CareWorker, Adult, Adult]:
    """A carer with two clients today; the first visited 09:00-09:30, the second due at 09:30."""
    carer = make_care_worker(session)
    first, second = make_adult(session), make_adult(session, landlines=("+441134960002",))
    make_planned_visit(session, first, [carer], start=NINE)
    make_planned_visit(session, second, [carer], start=NINE + timedelta(minutes=30))
    _log(session, carer.id, first.id, NINE)
    _log(session, carer.id, first.id, NINE + timedelta(minutes=30))
    return carer, first, second


def test_a_log_in_during_a_visit_the_carer_already_closed_is_flagged_overlapping(
        session: Session) -> None:
    carer, first, second = _visited_first_home_nine_to_half_past(session)
    # A late code: shown at 09:15 in the second home, while the first visit (09:00-09:30) ran.
    overlapping = _log(session, carer.id, second.id, NINE + timedelta(minutes=15), LogKind.IN)
    assert ExceptionCode.OVERLAPPING_VISIT in overlapping.exceptions
    detail = session.scalar(select(VisitException.detail).where(
        VisitException.actual_visit_id == overlapping.actual_visit_id,
        VisitException.code == ExceptionCode.OVERLAPPING_VISIT))
    first_visit = session.scalar(select(ActualVisit.id).where(ActualVisit.adult_id == first.id))
    assert detail == f"overlaps actual visit {first_visit} of the same carer"


def test_a_log_in_after_the_closed_visit_ended_is_not_overlapping(session: Session) -> None:
    carer, _first, second = _visited_first_home_nine_to_half_past(session)
    result = _log(session, carer.id, second.id, NINE + timedelta(minutes=30))
    assert result.exceptions == []
    assert result.match_kind == MatchKind.PLANNED


def test_read_backs_name_the_planned_visit_with_one_query_for_the_carers_visits(
        session: Session, database: Database) -> None:
    carer = make_care_worker(session)
    adult = make_adult(session)
    planned = make_planned_visit(session, adult, [carer], start=NINE, ref="V-NINE")
    session.commit()
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        logged_in = _log(session, carer.id, adult.id, NINE + timedelta(minutes=2))
        again = _log(session, carer.id, adult.id, NINE + timedelta(minutes=4), LogKind.IN)
        session.expunge_all()  # nothing from the log-in's queries is reused by the log-out
        logged_out = _log(session, carer.id, adult.id, NINE + timedelta(minutes=32))
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    assert logged_in.planned_visit_ref == again.planned_visit_ref == "V-NINE"
    assert again.actual_visit_id == logged_in.actual_visit_id
    assert again.event_time == NINE + timedelta(minutes=2)  # the visit keeps its first log-in
    assert logged_out.planned_visit_ref == "V-NINE" and logged_out.duration_minutes == 30
    visit = session.get_one(ActualVisit, logged_out.actual_visit_id)
    assert visit.state == ActualVisitState.CLOSED and visit.planned_visit_id == planned.id
    # The planned visit's ref came with the carer's visits: no separate planned_visits read
    # for the repeat log-in or the log-out (the log-in's candidates query is the only one).
    planned_reads = [s for s in statements
                     if s.lstrip().upper().startswith("SELECT") and "FROM planned_visits" in s]
    assert len(planned_reads) == 1, planned_reads


def test_a_log_in_that_arrives_after_its_log_out_joins_it_at_its_own_time(
        session: Session) -> None:
    carer, adult = make_care_worker(session), make_adult(session)
    make_planned_visit(session, adult, [carer], start=NINE)
    out = _log(session, carer.id, adult.id, NINE + timedelta(minutes=30), LogKind.OUT)
    assert out.exceptions == [ExceptionCode.MISSING_LOG_IN]
    late = _log(session, carer.id, adult.id, NINE + timedelta(minutes=1), LogKind.IN)
    assert late.actual_visit_id == out.actual_visit_id
    assert late.match_kind == MatchKind.PLANNED and late.planned_visit_ref is not None
    visit = session.get_one(ActualVisit, out.actual_visit_id)
    assert (visit.started_at, visit.ended_at) == (NINE + timedelta(minutes=1),
                                                  NINE + timedelta(minutes=30))
    assert [e.reviewed_by for e in visit.exceptions] == [
        "gateway: the log-in arrived after the log-out"]


def test_a_late_log_in_does_not_join_a_log_out_made_after_another_visit_began(
        session: Session) -> None:
    carer, _first, second = _visited_first_home_nine_to_half_past(session)
    out = _log(session, carer.id, second.id, NINE + timedelta(hours=1), LogKind.OUT)
    # A log-in at the second home timed 09:10, while the carer was at the first one (09:00
    # to 09:30): it is not the start of the 10:00 log-out, which keeps its missing log-in.
    late = _log(session, carer.id, second.id, NINE + timedelta(minutes=10), LogKind.IN)
    assert late.actual_visit_id != out.actual_visit_id
    alone = session.get_one(ActualVisit, out.actual_visit_id)
    assert alone.started_at is None
    assert [e.reviewed_at for e in alone.exceptions] == [None]


def test_a_log_in_after_the_log_out_in_time_order_is_a_new_visit(session: Session) -> None:
    carer, adult = make_care_worker(session), make_adult(session)
    make_planned_visit(session, adult, [carer], start=NINE)
    out = _log(session, carer.id, adult.id, NINE + timedelta(minutes=30), LogKind.OUT)
    later = _log(session, carer.id, adult.id, NINE + timedelta(minutes=40), LogKind.IN)
    assert later.actual_visit_id != out.actual_visit_id
    assert session.get_one(ActualVisit, later.actual_visit_id).state == ActualVisitState.OPEN


def test_pressing_9_after_a_late_log_in_leaves_the_log_out_alone_again(
        session: Session) -> None:
    from ivr_gateway.visits.recording import correct_direction

    carer, adult = make_care_worker(session), make_adult(session)
    make_planned_visit(session, adult, [carer], start=NINE)
    out = _log(session, carer.id, adult.id, NINE + timedelta(minutes=30), LogKind.OUT)
    late = _log(session, carer.id, adult.id, NINE + timedelta(minutes=1), LogKind.IN)
    corrected = correct_direction(session, late.log_event_id, NINE + timedelta(minutes=31),
                                  KPI, seq=2)
    assert corrected.kind == LogKind.OUT
    alone = session.get_one(ActualVisit, out.actual_visit_id)
    assert alone.started_at is None and alone.in_verification is None
    assert [(e.code, e.reviewed_at) for e in alone.exceptions] == [
        (ExceptionCode.MISSING_LOG_IN, None)]  # open again for the office


def test_a_late_log_in_brings_a_lone_log_out_it_completes_onto_the_planned_visit(
        session: Session) -> None:
    carer, adult = make_care_worker(session), make_adult(session)
    planned = make_planned_visit(session, adult, [carer], start=NINE)
    # A log-out 8 hours after the visit's start: too far to be matched to it on its own.
    out = _log(session, carer.id, adult.id, NINE + timedelta(hours=8), LogKind.OUT)
    assert out.planned_visit_ref is None
    late = _log(session, carer.id, adult.id, NINE + timedelta(minutes=2), LogKind.IN)
    assert late.actual_visit_id == out.actual_visit_id
    assert late.planned_visit_ref == planned.ref
    session.expire_all()
    visit = session.get_one(ActualVisit, out.actual_visit_id)
    assert visit.planned_visit_id == planned.id
    assert {e.planned_visit_id for e in visit.exceptions} == {planned.id}
    assert set(session.scalars(select(LogEvent.planned_visit_id).where(
        LogEvent.actual_visit_id == visit.id))) == {planned.id}
