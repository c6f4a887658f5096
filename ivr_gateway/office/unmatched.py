"""Evidence that found no visit, or the wrong one: the move page and the /office/unmatched queue.

The queue lists what the office must place: unplanned visits (a carer logged a visit with no
rota entry), texts from mobiles that are no carer's, and calls whose presence was not proven.
Each is linked to a planned visit (its evidence moves there, visits/moves.py) or dismissed with
a reason; both are audited, and a dismissal is audit-only (entity "unmatched_<kind>"), so no
table is added: an item with a dismissal in the audit log has left the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from ivr_gateway.models import (
    ActualVisit,
    AuditEntry,
    CareWorker,
    Channel,
    ExceptionCode,
    LogEvent,
    LogKind,
    PlannedVisit,
    Verification,
    VisitException,
    VisitStatus,
)
from ivr_gateway.sms.models import InboundText, TextStatus
from ivr_gateway.visits.corrections import correct_visit_times
from ivr_gateway.visits.errors import ActionRefused
from ivr_gateway.visits.moves import (
    Moved,
    MoveTarget,
    move_actual_visit,
    move_log_events,
    move_targets,
    visit_label,
)

KINDS = ("unplanned", "text", "call")
DISMISS_ACTION = "dismiss_unmatched"
MIN_REASON_LENGTH = 5
TEXT_REACH = timedelta(hours=12)  # a text is linked to a visit that day


@dataclass(frozen=True)
class EventToMove:
    """The move page: one log event, where it stands, and where it may go."""

    log_event_id: int
    kind: str
    at: datetime
    carer: str
    channel: str
    verification: str
    visit_label: str
    visit_url_ref: str | None  # the planned ref, or None for an unplanned visit
    actual_visit_id: int | None
    targets: list[MoveTarget]


@dataclass(frozen=True)
class UnmatchedItem:
    """One line of the queue."""

    kind: str  # unplanned | text | call
    item_id: int
    at: datetime
    who: str
    what: str
    targets: list[MoveTarget]
    link_to: str | None = None  # the visit page of an unplanned visit or a call's visit


def load_event_to_move(session: Session, log_event_id: int) -> EventToMove:
    """A log event as the move page shows it; LookupError if there is none."""
    event = session.get(LogEvent, log_event_id)
    if event is None:
        raise LookupError("There is no such log event.")
    planned_ref = session.get_one(PlannedVisit, event.planned_visit_id).ref \
        if event.planned_visit_id is not None else None
    return EventToMove(
        event.id, f"log-{event.kind.value}", event.event_time,
        f"{event.care_worker.given_name} {event.care_worker.family_name}", event.channel.value,
        event.verification.value.replace("_", " "),
        visit_label(session, event.actual_visit_id, event.planned_visit_id), planned_ref,
        event.actual_visit_id, move_targets(session, event.id) if not event.superseded_by_id
        else [])


def move_one_log_event(session: Session, log_event_id: int, planned_ref: str, reason: str, *,
                       now: datetime, actor: str) -> Moved:
    """The visit page's move: one log event to another planned visit."""
    return move_log_events(session, [log_event_id], planned_ref, reason, now=now, actor=actor)


def _dismissed_refs(session: Session, kind: str) -> set[str]:
    return set(session.scalars(select(AuditEntry.entity_ref).where(
        AuditEntry.action == DISMISS_ACTION, AuditEntry.entity == f"unmatched_{kind}")))


def _text_targets(session: Session, at: datetime) -> list[MoveTarget]:
    visits = session.scalars(select(PlannedVisit).where(
        PlannedVisit.planned_start >= at - TEXT_REACH, PlannedVisit.planned_start <= at
        + TEXT_REACH, PlannedVisit.status == VisitStatus.PLANNED)
        .order_by(PlannedVisit.planned_start, PlannedVisit.ref))
    return [MoveTarget(v.ref, f"{v.adult.given_name} {v.adult.family_name}",
                       ", ".join(f"{c.given_name} {c.family_name}" for c in v.care_workers),
                       v.planned_start, v.planned_end, "that day") for v in visits]


def _caller(number: str | None) -> str:
    # Twilio gives a withheld caller ID as "anonymous" (or "restricted", "unknown").
    return number if number and number.startswith("+") else "a withheld number"


def unmatched_queue(session: Session) -> list[UnmatchedItem]:
    """Everything still to place, oldest first: unplanned visits, unknown texts, unproven calls."""
    items: list[UnmatchedItem] = []
    dismissed = _dismissed_refs(session, "unplanned")
    for visit in session.scalars(select(ActualVisit).where(
            ActualVisit.planned_visit_id.is_(None)).order_by(ActualVisit.id)):
        if str(visit.id) in dismissed:
            continue
        first = session.scalars(select(LogEvent).where(
            LogEvent.actual_visit_id == visit.id, LogEvent.superseded_by_id.is_(None))
            .order_by(LogEvent.event_time)).first()
        if first is None:
            continue
        client = f"{visit.adult.given_name} {visit.adult.family_name}" if visit.adult \
            else "unknown client"
        items.append(UnmatchedItem(
            "unplanned", visit.id, first.event_time,
            f"{visit.care_worker.given_name} {visit.care_worker.family_name}",
            f"Unplanned visit at {client}", move_targets(session, first.id),
            link_to=str(visit.id)))
    dismissed = _dismissed_refs(session, "text")
    for text in session.scalars(select(InboundText).where(
            InboundText.status == TextStatus.UNREGISTERED, InboundText.reviewed_at.is_(None))
            .order_by(InboundText.received_at)):
        if str(text.id) in dismissed:
            continue
        items.append(UnmatchedItem("text", text.id, text.received_at, text.from_number,
                                   f"Text: “{text.body[:160]}”",
                                   _text_targets(session, text.received_at)))
    dismissed = _dismissed_refs(session, "call")
    unchecked = exists().where(and_(VisitException.log_event_id == LogEvent.id,
                                    VisitException.reviewed_at.is_(None)))
    for event in session.scalars(select(LogEvent).where(
            LogEvent.channel == Channel.IVR, LogEvent.verification == Verification.UNVERIFIED,
            LogEvent.superseded_by_id.is_(None), unchecked).order_by(LogEvent.event_time)):
        if str(event.id) in dismissed:
            continue
        where = visit_label(session, event.actual_visit_id, event.planned_visit_id)
        items.append(UnmatchedItem(
            "call", event.id, event.event_time,
            f"{event.care_worker.given_name} {event.care_worker.family_name}",
            f"Call from {_caller(event.from_number)}: log-{event.kind.value} "
            f"put on {where}, presence not proven", move_targets(session, event.id),
            link_to=where))
    return sorted(items, key=lambda i: i.at)


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_LENGTH:
        raise ActionRefused("Give the reason: what you checked and what you found (it is kept "
                            "in the audit log).")
    return reason[:1000]


def _audit(session: Session, kind: str, item_id: int, action: str, now: datetime, actor: str,
           detail: dict[str, object]) -> None:
    session.add(AuditEntry(at=now, actor=actor[:100], action=action,
                           entity=f"unmatched_{kind}", entity_ref=str(item_id), detail=detail))
    session.flush()


def dismiss_unmatched(session: Session, kind: str, item_id: int, reason: str, *, now: datetime,
                      actor: str) -> None:
    """Take an item off the queue with a reason (audited); its evidence is untouched."""
    if kind not in KINDS:
        raise ActionRefused("There is no such kind of unmatched evidence.")
    reason = _reason(reason)
    if str(item_id) in _dismissed_refs(session, kind):
        raise ActionRefused("That was dismissed already.")
    if kind == "text":
        text = session.get(InboundText, item_id)
        if text is None:
            raise ActionRefused("There is no such text.")
        text.reviewed_at = now
    elif kind == "call":
        event = session.get(LogEvent, item_id)
        if event is None:
            raise ActionRefused("There is no such call.")
        for exception in session.scalars(select(VisitException).where(
                VisitException.log_event_id == event.id, VisitException.reviewed_at.is_(None))):
            exception.reviewed_at = now
            exception.reviewed_by = actor[:100]
    else:
        visit = session.get(ActualVisit, item_id)
        if visit is None or visit.planned_visit_id is not None:
            raise ActionRefused("There is no such unplanned visit.")
        for exception in visit.exceptions:  # the board's "unchecked" flag goes with it
            if exception.code == ExceptionCode.UNPLANNED_VISIT and exception.reviewed_at is None:
                exception.reviewed_at = now
                exception.reviewed_by = actor[:100]
    _audit(session, kind, item_id, DISMISS_ACTION, now, actor, {"reason": reason})


def link_unmatched(session: Session, kind: str, item_id: int, planned_ref: str, reason: str,
                   *, care_worker_ref: str = "", now: datetime, actor: str) -> str:
    """Place an item on a planned visit (audited); returns the visit's ref."""
    reason = _reason(reason)
    if kind == "unplanned":
        moved = move_actual_visit(session, item_id, planned_ref, reason, now=now, actor=actor)
        detail: dict[str, object] = {"to": moved.to_planned_ref, "reason": reason,
                                     "new_log_event_ids": moved.new_log_event_ids}
    elif kind == "call":
        event = session.get(LogEvent, item_id)
        if event is None:
            raise ActionRefused("There is no such call.")
        if event.planned_visit_id is not None and \
                session.get_one(PlannedVisit, event.planned_visit_id).ref == planned_ref:
            for exception in session.scalars(select(VisitException).where(
                    VisitException.log_event_id == event.id,
                    VisitException.reviewed_at.is_(None))):
                exception.reviewed_at = now  # on the right visit already: checked, not moved
                exception.reviewed_by = actor[:100]
            detail = {"to": planned_ref, "reason": reason, "moved": "no: on that visit already"}
        else:
            moved = move_one_log_event(session, item_id, planned_ref, reason, now=now,
                                       actor=actor)
            detail = {"to": planned_ref, "reason": reason,
                      "new_log_event_ids": moved.new_log_event_ids}
    elif kind == "text":
        text = session.get(InboundText, item_id)
        if text is None:
            raise ActionRefused("There is no such text.")
        planned = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == planned_ref))
        if planned is None:
            raise ActionRefused(f"There is no planned visit {planned_ref!r}.")
        carer = session.scalar(select(CareWorker).where(CareWorker.ref == care_worker_ref)) \
            if care_worker_ref else (planned.care_workers[0] if planned.care_workers else None)
        if carer is None:
            raise ActionRefused("Say which carer sent the text.")
        kind_of = LogKind.OUT if text.command.upper() == "OUT" or \
            text.body.strip().upper().startswith("OUT") else LogKind.IN
        at = text.received_at
        # The office vouches for it as a correction: the carer's text itself proves no presence.
        event_ids = correct_visit_times(
            session, care_worker_ref=carer.ref, planned_ref=planned.ref,
            log_in=at if kind_of == LogKind.IN else None,
            log_out=at if kind_of == LogKind.OUT else None,
            reason=f"text from {text.from_number} (not a registered mobile): {reason}",
            now=now, actor=actor)
        text.reviewed_at = now
        detail = {"to": planned.ref, "carer": carer.ref, "reason": reason,
                  "new_log_event_ids": event_ids}
    else:
        raise ActionRefused("There is no such kind of unmatched evidence.")
    _audit(session, kind, item_id, "link_unmatched", now, actor, detail)
    return planned_ref
