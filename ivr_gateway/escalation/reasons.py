"""Reason codes for missed visits: recording one settles the reason-code alerts of the visit.

The office dashboard records them (issue 7); until then the CLI does, through this function.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.escalation.contacts import ContactError
from ivr_gateway.escalation.models import VisitReasonCode
from ivr_gateway.models import AuditEntry, PlannedVisit

_CODE = re.compile(r"^[a-z0-9_]{1,64}$")


def record_reason_code(session: Session, visit_ref: str, code: str, note: str, now: datetime,
                       actor: str) -> VisitReasonCode:
    """Record (or replace) why a planned visit was missed; audited."""
    visit = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == visit_ref))
    if visit is None:
        raise ContactError("not_found", f"No planned visit {visit_ref!r}.", 404)
    code = code.strip().lower()
    if not _CODE.match(code):
        raise ContactError("invalid_code", "A reason code is lower-case letters, digits and _, "
                           "e.g. client_in_hospital.")
    row = session.scalar(select(VisitReasonCode)
                         .where(VisitReasonCode.planned_visit_id == visit.id))
    if row is None:
        row = VisitReasonCode(planned_visit_id=visit.id, code=code, note=note,
                              recorded_by=actor, recorded_at=now)
        session.add(row)
    else:
        row.code, row.note, row.recorded_by, row.recorded_at = code, note, actor, now
    session.add(AuditEntry(at=now, actor=actor, action="reason_code", entity="planned_visit",
                           entity_ref=visit.ref, detail={"code": code, "note": note}))
    session.flush()
    return row
