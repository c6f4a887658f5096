"""Moving evidence to the right visit: a call or text matched to the wrong visit, put right.

A log event is evidence and is never edited: the office's move keeps it, marked superseded,
and records a new office event with the same time and kind on the right visit, with the reason.
Both actual visits are then derived again from the events still standing (the wrong one loses
the event, and is removed when nothing is left of it; the right one gains it), the move is
audited on both visits, and the council hears of both. Like every log-event writer, a move
takes the carer's row lock first, so a call or text of the same carer waits for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    AuditEntry,
    Channel,
    LogEvent,
    LogKind,
    PlannedVisit,
    PlannedVisitCareWorker,
    Verification,
    VisitException,
    VisitStatus,
)
from ivr_gateway.visits.changes import record_visit_changed, record_visit_corrected
from ivr_gateway.visits.deadlines import expected_end
from ivr_gateway.visits.errors import ActionRefused
from ivr_gateway.visits.recording import lock_care_worker

MIN_REASON_LENGTH = 5
MOVE_REACH = timedelta(hours=12)  # a visit that day: as far as an office correction reaches


@dataclass(frozen=True)
class MoveTarget:
    """A planned visit the event may be moved to, and why it is offered."""

    planned_ref: str
    adult_name: str
    carers: str
    start: datetime
    end: datetime
    because: str  # "same client" or "same carer"


@dataclass(frozen=True)
class Moved:
    """What a move did: the new events, where from and where to."""

    new_log_event_ids: list[int]
    from_label: str
    to_planned_ref: str


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_LENGTH:
        raise ActionRefused("Give the reason for the move: what happened and how you know "
                            "(it is kept with both visits for the council).")
    return reason[:1000]


def visit_label(session: Session, actual_visit_id: int | None, planned_visit_id: int | None
                ) -> str:
    """How the audit and the page name a visit: its rota ref, or 'unplanned visit N'."""
    if planned_visit_id is not None:
        return session.get_one(PlannedVisit, planned_visit_id).ref
    return f"unplanned visit {actual_visit_id}" if actual_visit_id else "no visit"


def move_targets(session: Session, log_event_id: int) -> list[MoveTarget]:
    """The planned visits that day of the event's client or of its carer, besides its own."""
    event = session.get(LogEvent, log_event_id)
    if event is None:
        raise LookupError("There is no such log event.")
    of_carer = select(PlannedVisitCareWorker.planned_visit_id).where(
        PlannedVisitCareWorker.care_worker_id == event.care_worker_id)
    near = [PlannedVisit.planned_start >= event.event_time - MOVE_REACH,
            PlannedVisit.planned_start <= event.event_time + MOVE_REACH,
            PlannedVisit.status == VisitStatus.PLANNED]
    same: list[ColumnElement[bool]] = [PlannedVisit.id.in_(of_carer)]
    if event.adult_id is not None:
        same.append(PlannedVisit.adult_id == event.adult_id)
    visits = session.scalars(select(PlannedVisit).where(*near, or_(*same))
                             .order_by(PlannedVisit.planned_start, PlannedVisit.ref))
    return [MoveTarget(
        v.ref, f"{v.adult.given_name} {v.adult.family_name}",
        ", ".join(f"{c.given_name} {c.family_name}" for c in v.care_workers),
        v.planned_start, v.planned_end,
        "same client" if v.adult_id == event.adult_id else "same carer")
        for v in visits if v.id != event.planned_visit_id]


def _live_events(session: Session, actual_visit_id: int) -> list[LogEvent]:
    return list(session.scalars(select(LogEvent).where(
        LogEvent.actual_visit_id == actual_visit_id, LogEvent.superseded_by_id.is_(None))
        .order_by(LogEvent.event_time, LogEvent.id)))


def rederive_actual_visit(session: Session, visit: ActualVisit) -> bool:
    """Set a visit's times and state from its standing events; False if none stand (removed)."""
    events = _live_events(session, visit.id)
    if not events:
        for exception in list(visit.exceptions):
            session.delete(exception)
        for kept in session.scalars(select(LogEvent).where(LogEvent.actual_visit_id == visit.id)):
            kept.actual_visit_id = None  # superseded evidence stays; its visit is gone
        session.flush()
        session.delete(visit)
        session.flush()
        return False
    ins = [e for e in events if e.kind == LogKind.IN]
    outs = [e for e in events if e.kind == LogKind.OUT]
    visit.started_at = ins[0].event_time if ins else None
    visit.in_verification = ins[0].verification if ins else None
    visit.ended_at = outs[-1].event_time if outs else None
    visit.out_verification = outs[-1].verification if outs else None
    if visit.ended_at is not None:
        visit.state = ActualVisitState.CLOSED
    elif visit.state != ActualVisitState.MISSING_LOG_OUT:
        visit.state = ActualVisitState.OPEN
    planned = session.get(PlannedVisit, visit.planned_visit_id) \
        if visit.planned_visit_id is not None else None
    visit.expected_end_at = expected_end(planned.planned_start, planned.planned_end,
                                         visit.started_at) \
        if planned is not None and visit.started_at is not None else None
    session.flush()
    return True


def _target_visit(session: Session, care_worker_id: int, planned: PlannedVisit, *,
                  now: datetime, actor: str, reason: str) -> ActualVisit:
    found = session.scalars(select(ActualVisit).where(
        ActualVisit.planned_visit_id == planned.id, ActualVisit.care_worker_id == care_worker_id)
        .order_by(ActualVisit.id.desc())).first()
    if found is not None:
        return found
    visit = ActualVisit(care_worker_id=care_worker_id, adult_id=planned.adult_id,
                        planned_visit_id=planned.id, state=ActualVisitState.OPEN,
                        match_reason=f"evidence moved here by the office ({actor}): {reason}",
                        created_at=now)
    session.add(visit)
    session.flush()
    return visit


def _move_one(session: Session, event: LogEvent, target: PlannedVisit, target_visit: ActualVisit,
              *, reason: str, now: datetime, actor: str) -> LogEvent:
    # Presence proven at the client's home still stands when the visit is at the same home;
    # at another client's home only the office vouches for it.
    verification = event.verification if event.adult_id == target.adult_id \
        else Verification.OFFICE
    moved = LogEvent(channel=Channel.OFFICE, kind=event.kind, care_worker_id=event.care_worker_id,
                     adult_id=target.adult_id, planned_visit_id=target.id,
                     actual_visit_id=target_visit.id, event_time=event.event_time,
                     received_at=now, verification=verification, source_sid=None, seq=1,
                     from_number=None,
                     raw={"reason": reason, "by": actor, "moves": event.id,
                          "from_visit": visit_label(session, event.actual_visit_id,
                                                    event.planned_visit_id)})
    session.add(moved)
    session.flush()
    event.superseded_by_id = moved.id
    event.superseded_reason = f"moved by the office ({actor}) to visit {target.ref}: {reason}"
    # What the office flagged about this event on the wrong visit has now been looked at.
    for exception in session.scalars(select(VisitException).where(
            VisitException.log_event_id == event.id,
            VisitException.actual_visit_id == event.actual_visit_id,
            VisitException.reviewed_at.is_(None))):
        exception.reviewed_at = now
        exception.reviewed_by = actor[:100]
    return moved


def move_log_events(session: Session, log_event_ids: list[int], planned_ref: str, reason: str,
                    *, now: datetime, actor: str) -> Moved:
    """Move log events (one carer's, standing, on one visit) to another planned visit."""
    reason = _reason(reason)
    events = [session.get(LogEvent, i) for i in log_event_ids]
    if not events or any(e is None for e in events):
        raise ActionRefused("There is no such log event.")
    standing = [e for e in events if e is not None]
    first = standing[0]
    if len({(e.care_worker_id, e.actual_visit_id) for e in standing}) != 1:
        raise ActionRefused("Move the events of one carer's visit at a time.")
    # Before reading the carer's visits: a call or text of theirs waits until this commits.
    lock_care_worker(session, first.care_worker_id)
    for event in standing:
        session.refresh(event)  # as it stands now that the lock is ours
        if event.superseded_by_id is not None:
            raise ActionRefused("That log event has been corrected or moved already; reload "
                                "the page.")
    target = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == planned_ref))
    if target is None:
        raise ActionRefused(f"There is no planned visit {planned_ref!r}.")
    if target.id == first.planned_visit_id:
        raise ActionRefused("The event is on that visit already: choose another visit.")
    if planned_ref not in {t.planned_ref for t in move_targets(session, first.id)}:
        raise ActionRefused("Choose a visit that day of the same client or of the same carer.")

    source = session.get(ActualVisit, first.actual_visit_id) \
        if first.actual_visit_id is not None else None
    from_label = visit_label(session, first.actual_visit_id, first.planned_visit_id)
    target_visit = _target_visit(session, first.care_worker_id, target, now=now, actor=actor,
                                 reason=reason)
    moved = [_move_one(session, e, target, target_visit, reason=reason, now=now, actor=actor)
             for e in standing]
    session.flush()
    touched = {target_visit.id}
    source_entity = ("planned_visit", from_label) if first.planned_visit_id is not None \
        else ("actual_visit", str(first.actual_visit_id))
    if source is not None:
        touched.add(source.id)
        rederive_actual_visit(session, source)
    rederive_actual_visit(session, target_visit)
    detail: dict[str, object] = {"log_event_ids": [e.id for e in standing],
              "new_log_event_ids": [m.id for m in moved],
              "moved": [from_label, target.ref], "reason": reason}
    # "log-in": its time, so the audit trail shows it in local time (ids above name each one).
    detail.update({f"log-{e.kind.value}": e.event_time.isoformat() for e in standing})
    for entity, ref in {source_entity, ("planned_visit", target.ref)}:
        session.add(AuditEntry(at=now, actor=actor[:100], action="move_log_event", entity=entity,
                               entity_ref=ref, detail=detail))
    session.flush()
    _tell_council(session, first.care_worker_id, touched, target_visit.id, moved[0].id,
                  from_label=from_label, to_ref=target.ref, reason=reason, now=now, actor=actor)
    return Moved([m.id for m in moved], from_label, target.ref)


def move_actual_visit(session: Session, actual_visit_id: int, planned_ref: str, reason: str, *,
                      now: datetime, actor: str) -> Moved:
    """Link an unplanned visit to its planned visit: all its standing events move there."""
    ids = [e.id for e in _live_events(session, actual_visit_id)]
    if not ids:
        raise ActionRefused("There is no such visit, or no evidence left on it.")
    return move_log_events(session, ids, planned_ref, reason, now=now, actor=actor)


def _tell_council(session: Session, care_worker_id: int, touched: set[int], target_visit_id: int,
                  change_id: int, *, from_label: str, to_ref: str, reason: str, now: datetime,
                  actor: str) -> None:
    """The one place a move tells the council: a change on the right visit, and both visits."""
    # Both visits first (their new versions), then the change on the right one behind them.
    record_visit_changed(session, care_worker_id, touched, now, source=f"office-move:{change_id}")
    record_visit_corrected(session, change_id=f"office-move:{change_id}", changed_by=actor,
                           changed_at=now, reason_code="office_correction", memo=reason,
                           changes={"visit": [from_label, to_ref]},
                           actual_visit_id=target_visit_id)
