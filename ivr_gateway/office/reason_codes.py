"""Reason codes for missed and cancelled visits: the configurable list, recording one, what is due.

A reason is due 48 hours after the visit's planned start, weekends included (DESIGN.md). A visit
cancelled on the rota with a cancel reason from the rostering system already has its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.ecc.kpi import ReasonRecord
from ivr_gateway.models import AuditEntry, PlannedVisit
from ivr_gateway.office.models import ReasonCode, VisitReasonCode
from ivr_gateway.visits.changes import record_visit_corrected
from ivr_gateway.visits.queries import visits_for_day
from ivr_gateway.visits.summary import VisitSummary

REASON_DUE_AFTER = timedelta(hours=48)
# Only missed and cancelled visits take a reason code (council FAQ): not a short visit, nor a
# double-up short of a carer, which a carer attended; the KPI report's definitions agree.
NEEDS_REASON = {"missed", "cancelled"}
OUTCOME_WORDS = {"short_of_carer": "short of a carer"}  # else the outcome with spaces


class ActionRefused(Exception):
    """An office action that cannot be done; the message says what to do instead."""


def reason_due_at(planned_start: datetime) -> datetime:
    """When a missed or cancelled visit's reason code is due: 48 hours after planned start."""
    return planned_start + REASON_DUE_AFTER


def reason_code_choices(session: Session, outcome: str | None = None) -> list[ReasonCode]:
    """Active reason codes in their configured order, those fitting the outcome if given."""
    codes = session.scalars(select(ReasonCode).where(ReasonCode.active.is_(True))
                            .order_by(ReasonCode.position, ReasonCode.code)).all()
    if outcome in NEEDS_REASON:
        return [c for c in codes if c.applies_to in ("any", outcome)]
    return list(codes)


def visit_summary(session: Session, ref: str, settings: Settings, now: datetime
                  ) -> tuple[PlannedVisit, VisitSummary]:
    """A planned visit and its summary as the board shows it; LookupError if unknown."""
    visit = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == ref))
    if visit is None:
        raise LookupError(f"There is no planned visit {ref!r}.")
    day = visit.planned_start.astimezone(settings.tz).date()
    for summary in visits_for_day(session, day, settings, now):
        if summary.ref == ref:
            return visit, summary
    raise LookupError(f"There is no planned visit {ref!r}.")  # pragma: no cover - same query


def record_reason_code(session: Session, ref: str, code: str, note: str, *, settings: Settings,
                       now: datetime, actor: str) -> VisitReasonCode:
    """Record (or change) the reason for a missed or cancelled visit; audited with old and new."""
    visit, summary = visit_summary(session, ref, settings, now)
    if summary.outcome not in NEEDS_REASON:
        words = OUTCOME_WORDS.get(summary.outcome, summary.outcome.replace("_", " "))
        raise ActionRefused(f"Visit {ref} is {words}: a reason code is recorded only for a "
                            "missed or cancelled visit.")
    choice = {c.code: c for c in reason_code_choices(session, summary.outcome)}.get(code)
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
    due = reason_due_at(visit.planned_start)
    session.add(AuditEntry(at=now, actor=actor[:100], action="reason_code",
                           entity="planned_visit", entity_ref=ref, detail={
                               "outcome": summary.outcome, "code": code, "note": note,
                               "previous": before, "due_at": due.isoformat(),
                               "late": now > due}))
    session.flush()
    # The council hears of the reason as a visit change (Sandata's VisitChanges: ReasonCode).
    record_visit_corrected(session, change_id=f"reason:{visit.ref}:{now.isoformat()}",
                           changed_by=actor, changed_at=now, reason_code=code, memo=note,
                           changes={"reason_code": [before["code"] if before else None, code]},
                           planned_visit_ref=visit.ref)
    return existing


@dataclass(frozen=True)
class ReasonDue:
    """A missed or cancelled visit and where its reason code stands."""

    ref: str
    adult_initials: str | None
    outcome: str
    planned_start: datetime
    due_at: datetime
    recorded: str | None  # the code (or the rota's cancel reason) when given

    def overdue(self, now: datetime) -> bool:
        """True when no reason was given and the 48 hours are over."""
        return self.recorded is None and now > self.due_at

    def hours_left(self, now: datetime) -> float:
        """Hours until due (negative when overdue)."""
        return (self.due_at - now).total_seconds() / 3600


def recorded_reasons(session: Session, refs: list[str]) -> dict[str, str]:
    """The reason code recorded per planned visit reference."""
    if not refs:
        return {}
    rows = session.execute(
        select(PlannedVisit.ref, VisitReasonCode.code)
        .join(VisitReasonCode, VisitReasonCode.planned_visit_id == PlannedVisit.id)
        .where(PlannedVisit.ref.in_(refs)))
    return {ref: code for ref, code in rows}


def reason_status(summary: VisitSummary, recorded: dict[str, str]) -> ReasonDue | None:
    """Where a visit's reason code stands, or None when the visit needs none."""
    if summary.ref is None or summary.planned_start is None \
            or summary.outcome not in NEEDS_REASON:
        return None
    given = recorded.get(summary.ref)
    if given is None and summary.outcome == "cancelled" and summary.cancel_reason:
        given = f"rota: {summary.cancel_reason}"
    return ReasonDue(summary.ref, summary.adult_initials, summary.outcome, summary.planned_start,
                     reason_due_at(summary.planned_start), given)


def reasons_outstanding(session: Session, settings: Settings, now: datetime, days: int = 14
                        ) -> list[ReasonDue]:
    """Missed or cancelled visits of the last `days` local days still without a reason, by due."""
    today = now.astimezone(settings.tz).date()
    waiting: list[ReasonDue] = []
    for offset in range(days, -1, -1):
        day: date = today - timedelta(days=offset)
        summaries = visits_for_day(session, day, settings, now)
        recorded = recorded_reasons(session, [s.ref for s in summaries
                                              if s.ref and s.outcome in NEEDS_REASON])
        for summary in summaries:
            status = reason_status(summary, recorded)
            if status is not None and status.recorded is None:
                waiting.append(status)
    return sorted(waiting, key=lambda r: r.due_at)


class OfficeMissedReasons:
    """The reason codes the office records, as the KPI report's source for missed visits."""

    def reasons(self, session: Session, planned_visit_ids: list[int]
                ) -> dict[int, ReasonRecord]:
        """Reason codes recorded for these planned visits, with when they were recorded."""
        if not planned_visit_ids:
            return {}
        rows = session.scalars(select(VisitReasonCode).where(
            VisitReasonCode.planned_visit_id.in_(planned_visit_ids)))
        return {r.planned_visit_id: ReasonRecord(r.code, r.recorded_at) for r in rows}
