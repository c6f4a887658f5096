"""Office changes around a visit: mark an exception as checked; audited.

Sending another carer is office/reassignment.py (clash check, confirmation, texts).

Corrections of log-in and log-out times are the domain's (visits/corrections.py): they write
log events, under the same carer row lock as every other log-event writer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ivr_gateway.models import (
    AuditEntry,
    PlannedVisit,
    VisitException,
)
from ivr_gateway.office.board import person_name
from ivr_gateway.office.wording import office_names
from ivr_gateway.visits.errors import ActionRefused


def mark_exception_checked(session: Session, exception_id: int, note: str, *, now: datetime,
                           actor: str) -> VisitException:
    """Record that someone in the office checked an exception (e.g. an unverified log-in)."""
    exception = session.get(VisitException, exception_id)
    if exception is None:
        raise ActionRefused("There is no such exception.")
    if exception.reviewed_at is not None:
        who = person_name(exception.reviewed_by, office_names(session, [exception.reviewed_by]))
        raise ActionRefused(f"Already checked by {who}.")
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
