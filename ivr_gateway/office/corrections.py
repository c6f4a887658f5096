"""Office changes around a visit: send another carer, mark an exception as checked; audited.

Corrections of log-in and log-out times are the domain's (visits/corrections.py): they write
log events, under the same carer row lock as every other log-event writer.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.models import (
    ActualVisit,
    AuditEntry,
    CareWorker,
    PlannedVisit,
    VisitException,
)
from ivr_gateway.rota.schemas import PlannedVisitIn, validation_context
from ivr_gateway.rota.service import problems_from, upsert_planned_visit
from ivr_gateway.visits.errors import ActionRefused

MIN_REASON_LENGTH = 5


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_LENGTH:
        raise ActionRefused("Give the reason for the change: what happened and how you know "
                            "(it is kept with the visit for the council).")
    return reason[:1000]


def reassign_care_worker(session: Session, planned_ref: str, from_ref: str, to_ref: str,
                         reason: str, *, settings: Settings, now: datetime, actor: str) -> None:
    """Send another carer in one carer's place on a planned visit (the rota changes, audited)."""
    reason = _reason(reason)
    planned = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == planned_ref))
    if planned is None:
        raise ActionRefused(f"There is no planned visit {planned_ref!r}.")
    current = [c.ref for c in planned.care_workers]
    if from_ref not in current:
        raise ActionRefused("Choose a carer who is on this visit.")
    if to_ref == from_ref or to_ref in current:
        raise ActionRefused("Choose a carer who is not already on this visit.")
    newcomer = session.scalar(select(CareWorker).where(CareWorker.ref == to_ref))
    if newcomer is None or not newcomer.active:
        raise ActionRefused("Choose an active carer to send.")
    leaving = next(c for c in planned.care_workers if c.ref == from_ref)
    logged_in = session.scalar(select(ActualVisit.id).where(
        ActualVisit.planned_visit_id == planned.id, ActualVisit.care_worker_id == leaving.id))
    if logged_in is not None:
        raise ActionRefused(f"{leaving.given_name} {leaving.family_name} has already logged on "
                            "this visit; correct the visit's times instead.")
    try:
        data = PlannedVisitIn.model_validate({
            "adult_ref": planned.adult.ref,
            "care_worker_refs": [to_ref if r == from_ref else r for r in current],
            "planned_start": planned.planned_start, "planned_end": planned.planned_end,
            "status": planned.status.value, "cancel_reason": planned.cancel_reason,
            "cancel_note": planned.cancel_note, "time_critical": planned.time_critical,
        }, context=validation_context(settings))
    except ValidationError as error:
        raise ActionRefused("; ".join(p.message for p in problems_from(error))) from None
    upsert_planned_visit(session, planned_ref, data, settings=settings, now=now, actor=actor)
    session.add(AuditEntry(at=now, actor=actor[:100], action="reassign", entity="planned_visit",
                           entity_ref=planned_ref, detail={"from": from_ref, "to": to_ref,
                                                          "reason": reason}))
    session.flush()


def mark_exception_checked(session: Session, exception_id: int, note: str, *, now: datetime,
                           actor: str) -> VisitException:
    """Record that someone in the office checked an exception (e.g. an unverified log-in)."""
    exception = session.get(VisitException, exception_id)
    if exception is None:
        raise ActionRefused("There is no such exception.")
    if exception.reviewed_at is not None:
        raise ActionRefused(f"Already checked by {exception.reviewed_by}.")
    exception.reviewed_at = now
    exception.reviewed_by = actor[:100]
    planned = session.get(PlannedVisit, exception.planned_visit_id) \
        if exception.planned_visit_id else None
    entity, ref = ("planned_visit", planned.ref) if planned else \
        ("actual_visit", str(exception.actual_visit_id))
    session.add(AuditEntry(at=now, actor=actor[:100], action="check_exception", entity=entity,
                           entity_ref=ref, detail={"exception_id": exception.id,
                                                   "code": exception.code.value,
                                                   "note": " ".join(note.split())[:1000]}))
    session.flush()
    return exception
