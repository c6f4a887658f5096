"""Reads of visits for a day, with outcomes and exceptions (the API, dashboard and reports)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from ivr_gateway.config import Settings
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    CareWorker,
    PlannedVisit,
    VisitException,
    VisitStatus,
)
from ivr_gateway.visits.outcomes import CarerTimes, Outcome, assess_visit
from ivr_gateway.visits.summary import CarerActual, ExceptionSummary, VisitSummary


def local_day_bounds(day: date, settings: Settings) -> tuple[datetime, datetime]:
    """The UTC instants where a local day starts and ends (23 or 25 hours on clock-change days)."""
    tz = settings.tz
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def _carer_actual(visit: ActualVisit, refs: dict[int, str]) -> CarerActual:
    return CarerActual(
        care_worker_ref=refs[visit.care_worker_id], state=visit.state.value,
        started_at=visit.started_at, ended_at=visit.ended_at,
        in_verification=visit.in_verification.value if visit.in_verification else None,
        out_verification=visit.out_verification.value if visit.out_verification else None,
        match_reason=visit.match_reason)


def _exception(e: VisitException, carer_ref: str | None) -> ExceptionSummary:
    return ExceptionSummary(code=e.code.value, detail=e.detail, care_worker_ref=carer_ref,
                            created_at=e.created_at, reviewed=e.reviewed_at is not None)


def visits_for_day(session: Session, day: date, settings: Settings, now: datetime
                   ) -> list[VisitSummary]:
    """Every planned visit starting on the local day, and every unplanned visit begun on it."""
    start, end = local_day_bounds(day, settings)
    planned = session.scalars(
        select(PlannedVisit)
        .where(PlannedVisit.planned_start >= start, PlannedVisit.planned_start < end)
        .options(selectinload(PlannedVisit.care_workers), selectinload(PlannedVisit.adult))
        .order_by(PlannedVisit.planned_start, PlannedVisit.ref)
    ).all()
    planned_ids = [p.id for p in planned]
    actuals = session.scalars(
        select(ActualVisit)
        .where(or_(
            ActualVisit.planned_visit_id.in_(planned_ids),
            # Half-open [start, end): a visit begun at local midnight belongs to one day only.
            (ActualVisit.planned_visit_id.is_(None)
             & or_((ActualVisit.started_at >= start) & (ActualVisit.started_at < end),
                   ActualVisit.started_at.is_(None)
                   & (ActualVisit.ended_at >= start) & (ActualVisit.ended_at < end))),
        ))
        .options(selectinload(ActualVisit.exceptions), selectinload(ActualVisit.adult))
        .order_by(ActualVisit.started_at)
    ).all()
    carer_ids = {a.care_worker_id for a in actuals}
    refs: dict[int, str] = {care_worker_id: ref for care_worker_id, ref in session.execute(
        select(CareWorker.id, CareWorker.ref).where(CareWorker.id.in_(carer_ids)))}
    by_planned: dict[int | None, list[ActualVisit]] = defaultdict(list)
    for actual in actuals:
        by_planned[actual.planned_visit_id].append(actual)

    summaries: list[VisitSummary] = []
    for visit in planned:
        mine = by_planned.get(visit.id, [])
        assessed = assess_visit(
            visit.planned_start, visit.planned_end, visit.status == VisitStatus.CANCELLED,
            [CarerTimes(a.started_at, a.ended_at, a.state == ActualVisitState.OPEN,
                        a.state == ActualVisitState.MISSING_LOG_OUT,
                        care_worker_id=a.care_worker_id) for a in mine],
            now, settings.kpi, carers_needed=len(visit.care_workers))
        summaries.append(VisitSummary(
            ref=visit.ref, adult_ref=visit.adult.ref, adult_initials=visit.adult.initials,
            care_worker_refs=[c.ref for c in visit.care_workers],
            planned_start=visit.planned_start, planned_end=visit.planned_end,
            status=visit.status.value, cancel_reason=visit.cancel_reason,
            time_critical=visit.time_critical, outcome=assessed.outcome.value,
            minutes_late=assessed.minutes_late, short=assessed.short,
            actual_start=assessed.actual_start, actual_end=assessed.actual_end,
            carers_needed=assessed.carers_needed, carers_logged_in=assessed.carers_logged_in,
            actuals=[_carer_actual(a, refs) for a in mine],
            exceptions=[_exception(e, refs[a.care_worker_id]) for a in mine for e in a.exceptions],
        ))
    for actual in by_planned.get(None, []):
        adult: Adult | None = actual.adult
        in_progress = actual.state == ActualVisitState.OPEN
        outcome = (Outcome.IN_PROGRESS if in_progress else
                   Outcome.INCOMPLETE if actual.state == ActualVisitState.MISSING_LOG_OUT
                   or actual.started_at is None else Outcome.COMPLETED)
        summaries.append(VisitSummary(
            ref=None, adult_ref=adult.ref if adult else None,
            adult_initials=adult.initials if adult else None,
            care_worker_refs=[refs[actual.care_worker_id]], planned_start=None, planned_end=None,
            status="unplanned", cancel_reason=None, time_critical=False, outcome=outcome.value,
            minutes_late=None, short=False, actual_start=actual.started_at,
            actual_end=actual.ended_at, carers_needed=1,
            carers_logged_in=int(actual.started_at is not None),
            actuals=[_carer_actual(actual, refs)],
            exceptions=[_exception(e, refs[actual.care_worker_id]) for e in actual.exceptions],
        ))
    return summaries
