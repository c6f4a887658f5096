"""Reads of visits for a day, with outcomes and exceptions (the API, dashboard and reports)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
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
    Rag,
    VisitException,
    VisitStatus,
)
from ivr_gateway.visits.council import LONGEST_SPAN, ClientVisitSpan, merged_into
from ivr_gateway.visits.outcomes import CarerTimes, Outcome
from ivr_gateway.visits.reasons import recorded_reasons
from ivr_gateway.visits.summary import CarerActual, ExceptionSummary, VisitSummary
from ivr_gateway.visits.verdicts import VisitFacts, judge_visit


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
    planned = list(session.scalars(
        select(PlannedVisit)
        .where(PlannedVisit.planned_start >= start, PlannedVisit.planned_start < end)
        .options(selectinload(PlannedVisit.care_workers), selectinload(PlannedVisit.adult))
        .order_by(PlannedVisit.planned_start, PlannedVisit.ref)
    ))
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
    summaries = _planned_summaries(session, planned, list(actuals), now, settings)
    refs = _carer_refs(session, actuals)
    for actual in actuals:
        if actual.planned_visit_id is None:
            summaries.append(_unplanned_summary(actual, refs))
    return summaries


def unplanned_for_day(session: Session, day: date, settings: Settings) -> list[VisitSummary]:
    """The unplanned visits (no rota entry) begun on the local day, as visits_for_day has them."""
    start, end = local_day_bounds(day, settings)
    actuals = session.scalars(
        select(ActualVisit)
        .where(ActualVisit.planned_visit_id.is_(None),
               or_((ActualVisit.started_at >= start) & (ActualVisit.started_at < end),
                   ActualVisit.started_at.is_(None)
                   & (ActualVisit.ended_at >= start) & (ActualVisit.ended_at < end)))
        .options(selectinload(ActualVisit.exceptions), selectinload(ActualVisit.adult))
        .order_by(ActualVisit.started_at)).all()
    refs = _carer_refs(session, actuals)
    return [_unplanned_summary(actual, refs) for actual in actuals]


def unplanned_of(session: Session, actual_visit_ids: Sequence[int]) -> list[VisitSummary]:
    """These unplanned visits (actual visits with no rota entry), as visits_for_day has them."""
    actuals = session.scalars(
        select(ActualVisit)
        .where(ActualVisit.id.in_(set(actual_visit_ids)),
               ActualVisit.planned_visit_id.is_(None))
        .options(selectinload(ActualVisit.exceptions), selectinload(ActualVisit.adult))
        .order_by(ActualVisit.started_at, ActualVisit.id)).all()
    refs = _carer_refs(session, actuals)
    return [_unplanned_summary(actual, refs) for actual in actuals]


def summaries_of(session: Session, planned: list[PlannedVisit], settings: Settings,
                 now: datetime) -> list[VisitSummary]:
    """The summaries (status, the council's verdict, the reason code) of these planned visits."""
    ids = [p.id for p in planned]
    actuals = list(session.scalars(
        select(ActualVisit).where(ActualVisit.planned_visit_id.in_(ids))
        .options(selectinload(ActualVisit.exceptions)).order_by(ActualVisit.started_at)))
    return _planned_summaries(session, planned, actuals, now, settings)


def _carer_refs(session: Session, actuals: Sequence[ActualVisit]) -> dict[int, str]:
    carer_ids = {a.care_worker_id for a in actuals}
    return {care_worker_id: ref for care_worker_id, ref in session.execute(
        select(CareWorker.id, CareWorker.ref).where(CareWorker.id.in_(carer_ids)))}


def _next_planned_starts(session: Session, planned: list[PlannedVisit]
                         ) -> dict[int, datetime | None]:
    """Each visit's next planned visit of the same client (KPI 3: start before it)."""
    if not planned:
        return {}
    lo = min(p.planned_start for p in planned)
    hi = max(p.planned_start for p in planned) + timedelta(days=1)
    adult_ids = list({p.adult_id for p in planned})
    by_adult: dict[int, list[datetime]] = defaultdict(list)
    for adult_id, planned_start in session.execute(
            select(PlannedVisit.adult_id, PlannedVisit.planned_start)
            .where(PlannedVisit.adult_id.in_(adult_ids),
                   PlannedVisit.status == VisitStatus.PLANNED,
                   PlannedVisit.planned_start > lo, PlannedVisit.planned_start < hi)
            .order_by(PlannedVisit.planned_start)):
        by_adult[adult_id].append(planned_start)
    found: dict[int, datetime | None] = {}
    for visit in planned:
        starts = by_adult.get(visit.adult_id, [])
        i = bisect.bisect_right(starts, visit.planned_start)
        found[visit.id] = starts[i] if i < len(starts) else None
    return found


def _merged(session: Session, undelivered: list[PlannedVisit]) -> dict[int, str]:
    """Visits nobody logged in to whose planned time a carer's other visit at the same client
    covered (council.merged_into, as the KPI report asks it): who covered each, by ref."""
    if not undelivered:
        return {}
    lo = min(v.planned_start for v in undelivered) - LONGEST_SPAN
    hi = max(v.planned_end for v in undelivered)
    adult_ids = list({v.adult_id for v in undelivered})
    spans: dict[int, list[ClientVisitSpan]] = defaultdict(list)
    for pv_id, adult_id, started, ended, ref in session.execute(
            select(ActualVisit.planned_visit_id, ActualVisit.adult_id, ActualVisit.started_at,
                   ActualVisit.ended_at, CareWorker.ref)
            .join(CareWorker, CareWorker.id == ActualVisit.care_worker_id)
            .where(ActualVisit.adult_id.in_(adult_ids), ActualVisit.started_at.is_not(None),
                   ActualVisit.started_at >= lo, ActualVisit.started_at <= hi)):
        if adult_id is not None and started is not None:
            spans[adult_id].append(ClientVisitSpan(pv_id, ref, started, ended))
    merged: dict[int, str] = {}
    for visit in undelivered:
        found = merged_into(planned_visit_id=visit.id, planned_start=visit.planned_start,
                            planned_end=visit.planned_end,
                            spans=[s for s in spans.get(visit.adult_id, [])
                                   if s.started_at >= visit.planned_start - LONGEST_SPAN])
        if found is not None:
            merged[visit.id] = found
    return merged


def _planned_summaries(session: Session, planned: list[PlannedVisit],
                       actuals: list[ActualVisit], now: datetime, settings: Settings
                       ) -> list[VisitSummary]:
    refs = _carer_refs(session, actuals)
    by_planned: dict[int | None, list[ActualVisit]] = defaultdict(list)
    for actual in actuals:
        by_planned[actual.planned_visit_id].append(actual)
    following = _next_planned_starts(session, planned)
    merged = _merged(session, [p for p in planned if p.status == VisitStatus.PLANNED
                               and not any(a.started_at for a in by_planned.get(p.id, []))])
    recorded = recorded_reasons(session, planned)
    summaries: list[VisitSummary] = []
    for visit in planned:
        mine = by_planned.get(visit.id, [])
        verdict = judge_visit(
            VisitFacts(planned_start=visit.planned_start, planned_end=visit.planned_end,
                       cancelled=visit.status == VisitStatus.CANCELLED,
                       time_critical=visit.time_critical, red=visit.adult.rag == Rag.RED,
                       carers=[CarerTimes(a.started_at, a.ended_at,
                                          a.state == ActualVisitState.OPEN,
                                          a.state == ActualVisitState.MISSING_LOG_OUT,
                                          care_worker_id=a.care_worker_id) for a in mine],
                       carers_needed=len(visit.care_workers),
                       next_planned_start=following.get(visit.id),
                       merged_into=merged.get(visit.id), reason=recorded.get(visit.id)),
            now, settings)
        assessed = verdict.outcome
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
            red=visit.adult.rag == Rag.RED, council=verdict.council, reason=verdict.reason,
            log_out_overdue=assessed.log_out_overdue,
        ))
    return summaries


def _unplanned_summary(actual: ActualVisit, refs: dict[int, str]) -> VisitSummary:
    adult: Adult | None = actual.adult
    in_progress = actual.state == ActualVisitState.OPEN
    outcome = (Outcome.IN_PROGRESS if in_progress else
               Outcome.INCOMPLETE if actual.state == ActualVisitState.MISSING_LOG_OUT
               or actual.started_at is None else Outcome.COMPLETED)
    return VisitSummary(
        ref=None, adult_ref=adult.ref if adult else None,
        adult_initials=adult.initials if adult else None,
        care_worker_refs=[refs[actual.care_worker_id]], planned_start=None, planned_end=None,
        status="unplanned", cancel_reason=None, time_critical=False, outcome=outcome.value,
        minutes_late=None, short=False, actual_start=actual.started_at,
        actual_end=actual.ended_at, carers_needed=1,
        carers_logged_in=int(actual.started_at is not None),
        actuals=[_carer_actual(actual, refs)],
        exceptions=[_exception(e, refs[actual.care_worker_id]) for e in actual.exceptions],
        red=adult is not None and adult.rag == Rag.RED,
    )
