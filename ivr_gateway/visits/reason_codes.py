"""Recording a reason code for a missed or cancelled visit: the choices, the change, its audit.

Which visits need one and by when is decided in reasons.py (judge_visit): this service refuses
a code for a visit that needs none, and tells the council of every code as a visit change.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ivr_gateway.config import Settings
from ivr_gateway.models import AuditEntry, PlannedVisit, VisitStatus
from ivr_gateway.visits.changes import REASON_CODE_RECORDED, record_visit_corrected
from ivr_gateway.visits.errors import ActionRefused
from ivr_gateway.visits.models import ReasonCode, VisitReasonCode
from ivr_gateway.visits.queries import summaries_of
from ivr_gateway.visits.summary import VisitSummary

OUTCOME_WORDS = {"short_of_carer": "short of a carer", "late_start": "late",
                 "scheduled": "not yet due", "in_progress": "in progress"}


def reason_code_choices(session: Session, kind: str | None = None) -> list[ReasonCode]:
    """Active reason codes in their configured order, those fitting `kind` (missed or
    cancelled) if given."""
    codes = session.scalars(select(ReasonCode).where(ReasonCode.active.is_(True))
                            .order_by(ReasonCode.position, ReasonCode.code)).all()
    if kind in ("missed", "cancelled"):
        return [c for c in codes if c.applies_to in ("any", kind)]
    return list(codes)


def reason_kind(summary: VisitSummary) -> str:
    """'cancelled' or 'missed': which list of reasons fits the visit."""
    return "cancelled" if summary.status == VisitStatus.CANCELLED.value else "missed"


def visit_summary(session: Session, ref: str, settings: Settings, now: datetime
                  ) -> tuple[PlannedVisit, VisitSummary]:
    """A planned visit and its summary as every reader judges it; LookupError if unknown."""
    visit = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == ref).options(
        selectinload(PlannedVisit.care_workers), selectinload(PlannedVisit.adult)))
    if visit is None:
        raise LookupError(f"There is no planned visit {ref!r}.")
    return visit, summaries_of(session, [visit], settings, now)[0]


def record_reason_code(session: Session, ref: str, code: str, note: str, *, settings: Settings,
                       now: datetime, actor: str) -> VisitReasonCode:
    """Record (or change) the reason for a missed or cancelled visit; audited with old and new."""
    visit, summary = visit_summary(session, ref, settings, now)
    if not summary.reason.needed:
        words = OUTCOME_WORDS.get(summary.outcome, summary.outcome.replace("_", " "))
        raise ActionRefused(f"Visit {ref} is {words}: a reason code is recorded only for a "
                            "missed or cancelled visit.")
    kind = reason_kind(summary)
    choice = {c.code: c for c in reason_code_choices(session, kind)}.get(code)
    if choice is None:
        raise ActionRefused("Choose a reason from the list.")
    note = note.strip()
    if choice.code == "other" and not note:
        raise ActionRefused("Say what the reason was in the note when choosing 'Other'.")
    existing = session.scalar(select(VisitReasonCode)
                              .where(VisitReasonCode.planned_visit_id == visit.id))
    before = {"code": existing.code, "note": existing.note} if existing else None
    if existing is None:
        existing = VisitReasonCode(planned_visit_id=visit.id, code=code, note=note,
                                   recorded_at=now, recorded_by=actor[:100])
        session.add(existing)
    else:
        existing.code, existing.note = code, note
        existing.recorded_at, existing.recorded_by = now, actor[:100]
    due = summary.reason.due_at
    assert due is not None  # needed, so due
    session.add(AuditEntry(at=now, actor=actor[:100], action="reason_code",
                           entity="planned_visit", entity_ref=ref, detail={
                               "outcome": kind, "code": code, "note": note,
                               "previous": before, "due_at": due.isoformat(),
                               "late": now > due}))
    session.flush()
    # The council hears of the reason as a visit change (Sandata's VisitChanges: ReasonCode).
    record_visit_corrected(session, change_id=f"reason:{visit.ref}:{now.isoformat()}",
                       changed_by=actor, changed_at=now, reason_code=code, memo=note,
                       changes={"reason_code": [before["code"] if before else None, code]},
                       planned_visit_ref=visit.ref, feed_type=REASON_CODE_RECORDED)
    return existing
