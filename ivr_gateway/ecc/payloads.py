"""Council record bodies built from the gateway's rows (pure mapping, no database writes)."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.ecc.schemas import (
    ActualVisitData,
    AdultData,
    CallData,
    CareWorkerData,
    PlannedVisitData,
)
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    CareWorker,
    LogEvent,
    LogKind,
    PlannedVisit,
    PlannedVisitCareWorker,
    VisitException,
)


def visit_id_of(actual_visit_id: int) -> str:
    """The council's id for one of our actual visits."""
    return f"AV-{actual_visit_id}"


def call_id_of(log_event_id: int) -> str:
    """The council's id for one of our log events."""
    return f"LE-{log_event_id}"


def adult_data(adult: Adult) -> AdultData:
    """An adult in the council's terms."""
    return AdultData(person_ref=adult.ref, client_number=adult.client_number,
                     given_name=adult.given_name, family_name=adult.family_name,
                     address=adult.address, postcode=adult.postcode,
                     landlines=sorted(line.number for line in adult.landlines),
                     rag=adult.rag.value, active=adult.active)


def care_worker_data(care_worker: CareWorker) -> CareWorkerData:
    """A care worker in the council's terms (never the PIN or mobiles)."""
    return CareWorkerData(worker_ref=care_worker.ref, staff_number=care_worker.staff_number,
                          given_name=care_worker.given_name,
                          family_name=care_worker.family_name, branch=care_worker.branch,
                          active=care_worker.active)


def planned_visit_data(visit: PlannedVisit) -> PlannedVisitData:
    """A planned visit in the council's terms."""
    return PlannedVisitData(
        visit_ref=visit.ref, person_ref=visit.adult.ref,
        worker_refs=sorted(c.ref for c in visit.care_workers),
        planned_start=visit.planned_start, planned_end=visit.planned_end,
        commissioned_minutes=int((visit.planned_end - visit.planned_start).total_seconds() // 60),
        time_critical=visit.time_critical, status=visit.status.value,
        cancel_reason_code=visit.cancel_reason, cancel_note=visit.cancel_note)


def _call(event: LogEvent) -> CallData:
    return CallData(
        call_id=call_id_of(event.id),
        call_assignment="time_in" if event.kind == LogKind.IN else "time_out",
        channel=event.channel.value, verification=event.verification.value,
        call_time=event.event_time, received_time=event.received_at,
        delay_seconds=max(0, int((event.received_at - event.event_time).total_seconds())),
        originating_phone_number=event.from_number,
        superseded_by_call_id=call_id_of(event.superseded_by_id) if event.superseded_by_id
        else None,
        superseded_reason=event.superseded_reason)


_STATUS: dict[ActualVisitState, Literal["in_progress", "completed", "missing_log_out"]] = {
    ActualVisitState.OPEN: "in_progress", ActualVisitState.CLOSED: "completed",
           ActualVisitState.MISSING_LOG_OUT: "missing_log_out"}


def actual_visit_data(session: Session, visit: ActualVisit) -> ActualVisitData:
    """One carer's actual visit with every call it holds and its exception codes."""
    events = session.scalars(select(LogEvent).where(LogEvent.actual_visit_id == visit.id)
                             .order_by(LogEvent.id)).all()
    codes = session.scalars(select(VisitException.code).where(
        VisitException.actual_visit_id == visit.id).order_by(VisitException.id)).all()
    planned_ref = None
    match: Literal["planned", "substitution", "unplanned"] = "unplanned"
    if visit.planned_visit_id is not None:
        planned_ref = session.get_one(PlannedVisit, visit.planned_visit_id).ref
        assigned = session.scalar(select(PlannedVisitCareWorker.care_worker_id).where(
            PlannedVisitCareWorker.planned_visit_id == visit.planned_visit_id,
            PlannedVisitCareWorker.care_worker_id == visit.care_worker_id))
        match = "planned" if assigned is not None else "substitution"
    duration = None
    if visit.started_at is not None and visit.ended_at is not None:
        duration = int((visit.ended_at - visit.started_at).total_seconds() // 60)
    return ActualVisitData(
        visit_id=visit_id_of(visit.id), planned_visit_ref=planned_ref,
        person_ref=visit.adult.ref if visit.adult is not None else None,
        worker_ref=visit.care_worker.ref, status=_STATUS[visit.state], match=match,
        actual_start=visit.started_at, actual_end=visit.ended_at, duration_minutes=duration,
        calls=[_call(e) for e in events], exceptions=list(dict.fromkeys(c.value for c in codes)))


def withdrawn_visit_data(actual_visit_id: int, worker_ref: str) -> ActualVisitData:
    """The last version of an actual visit that no longer exists."""
    return ActualVisitData(
        visit_id=visit_id_of(actual_visit_id), planned_visit_ref=None, person_ref=None,
        worker_ref=worker_ref, status="withdrawn", match="unplanned", actual_start=None,
        actual_end=None, duration_minutes=None, calls=[], exceptions=[])
