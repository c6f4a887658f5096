"""Evidence that found no visit, or the wrong one: the move page and the /office/unmatched queue.

The queue lists what the office must place: unplanned visits (a carer logged a visit with no
rota entry), texts from mobiles that are no carer's, calls whose presence was not proven, and
calls that found no client and logged nothing. Each is linked to a planned visit (a visit's or
call's evidence moves there, visits/moves.py; a text or a call that logged nothing becomes the
office's log-in or log-out there, as a correction) or dismissed with a reason. Both are audited
(entity "unmatched_<kind>"), and the audit log is the record of what was dealt with: no table
is added, and an item with a link or dismissal in the audit log has left the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from ivr_gateway.ivr.models import Call
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
from ivr_gateway.office.board import VERIFICATION_WORDS
from ivr_gateway.sms.models import InboundText, TextStatus
from ivr_gateway.telephony.models import SpoolReplay
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

KINDS = ("unplanned", "text", "call", "unknown_call", "spooled")
DISMISS_ACTION = "dismiss_unmatched"
LINK_ACTION = "link_unmatched"
MIN_REASON_LENGTH = 5
TEXT_REACH = timedelta(hours=12)  # a text or call is linked to a visit that day
UNKNOWN_CALLS_SINCE = timedelta(days=7)  # calls that logged nothing: the last week's


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


# How a log event came in, as the move page says it ("log-in by phone call").
CHANNEL_WORDS = {"ivr": "phone call", "sms": "text", "office": "office correction"}


def load_event_to_move(session: Session, log_event_id: int) -> EventToMove:
    """A log event as the move page shows it; LookupError if there is none."""
    event = session.get(LogEvent, log_event_id)
    if event is None:
        raise LookupError("There is no such log event.")
    planned_ref = session.get_one(PlannedVisit, event.planned_visit_id).ref \
        if event.planned_visit_id is not None else None
    return EventToMove(
        event.id, f"log-{event.kind.value}", event.event_time,
        f"{event.care_worker.given_name} {event.care_worker.family_name}",
        CHANNEL_WORDS.get(event.channel.value, event.channel.value),
        VERIFICATION_WORDS.get(event.verification.value, event.verification.value),
        visit_label(session, event.actual_visit_id, event.planned_visit_id), planned_ref,
        event.actual_visit_id, move_targets(session, event.id) if not event.superseded_by_id
        else [])


def move_one_log_event(session: Session, log_event_id: int, planned_ref: str, reason: str, *,
                       now: datetime, actor: str) -> Moved:
    """The visit page's move: one log event to another planned visit."""
    return move_log_events(session, [log_event_id], planned_ref, reason, now=now, actor=actor)


def _dismissed_refs(session: Session, kind: str) -> set[str]:
    """The items of a kind already dismissed or linked (the audit log is the record)."""
    return set(session.scalars(select(AuditEntry.entity_ref).where(
        AuditEntry.action.in_((DISMISS_ACTION, LINK_ACTION)),
        AuditEntry.entity == f"unmatched_{kind}")))


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


def unmatched_queue(session: Session, now: datetime) -> list[UnmatchedItem]:
    """Everything still to place, oldest first: unplanned visits, unknown texts, unproven calls.

    Calls that matched no client and logged nothing (a hang-up from an unknown number) are
    listed for the last week only: after that they are noise nobody can place any more.
    """
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
    dismissed = _dismissed_refs(session, "unknown_call")
    calls = list(session.scalars(select(Call).where(
        Call.started_at >= now - UNKNOWN_CALLS_SINCE).order_by(Call.started_at)))
    logged = set(session.scalars(select(LogEvent.source_sid).where(
        LogEvent.source_sid.in_([c.call_sid for c in calls]))))
    for call in calls:
        if call.call_sid in logged or "adult_id" in call.data or str(call.id) in dismissed \
                or "outage" in call.data:  # a spooled call: listed below, with its reason
            continue
        carer = session.get(CareWorker, call.data["care_worker_id"]) \
            if isinstance(call.data.get("care_worker_id"), int) else None
        items.append(UnmatchedItem(
            "unknown_call", call.id, call.started_at,
            f"{carer.given_name} {carer.family_name}" if carer else "unknown caller",
            f"Call from {_caller(call.from_number)}: no client found, nothing logged",
            _text_targets(session, call.started_at)))
    dismissed = _dismissed_refs(session, "spooled")
    # Calls and texts kept on disk during a database outage that failed a check when replayed
    # (a wrong PIN, an unknown line, a used code; ivr_gateway/outage/): nothing was logged.
    for replay in session.scalars(select(SpoolReplay).where(
            SpoolReplay.outcome.in_(("refused", "failed"))).order_by(SpoolReplay.at)):
        if str(replay.id) in dismissed:
            continue
        what = "Call" if replay.kind == "call" else "Text"
        items.append(UnmatchedItem(
            "spooled", replay.id, replay.at, _caller(replay.from_number),
            f"{what} during a database outage, not logged: {replay.detail}",
            _text_targets(session, replay.at)))
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
        raise ActionRefused("That has been dismissed or linked already.")
    if kind == "text":
        text = session.get(InboundText, item_id)
        if text is None:
            raise ActionRefused("There is no such text.")
        text.reviewed_at = now
    elif kind == "spooled":
        if session.get(SpoolReplay, item_id) is None:
            raise ActionRefused("There is no such call or text.")
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
    if kind in KINDS and str(item_id) in _dismissed_refs(session, kind):
        raise ActionRefused("That has been dismissed or linked already.")
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
        out = text.command.upper() == "OUT" or text.body.strip().upper().startswith("OUT")
        detail = _log_for_the_office(
            session, planned_ref, care_worker_ref, text.received_at,
            LogKind.OUT if out else LogKind.IN,
            f"text from {text.from_number} (not a registered mobile): {reason}", reason,
            now=now, actor=actor)
        text.reviewed_at = now
    elif kind == "spooled":
        replay = session.get(SpoolReplay, item_id)
        if replay is None:
            raise ActionRefused("There is no such call or text.")
        detail = _log_for_the_office(
            session, planned_ref, care_worker_ref, replay.at, None,
            f"{replay.kind} from {_caller(replay.from_number)} during a database outage "
            f"({replay.detail}): {reason}", reason, now=now, actor=actor)
    elif kind == "unknown_call":
        call = session.get(Call, item_id)
        if call is None:
            raise ActionRefused("There is no such call.")
        known = session.get(CareWorker, call.data["care_worker_id"]) \
            if isinstance(call.data.get("care_worker_id"), int) else None
        detail = _log_for_the_office(
            session, planned_ref, care_worker_ref or (known.ref if known else ""),
            call.started_at, None, f"call from {_caller(call.from_number)} "
            f"({call.call_sid}) that found no client: {reason}", reason, now=now, actor=actor)
    else:
        raise ActionRefused("There is no such kind of unmatched evidence.")
    _audit(session, kind, item_id, LINK_ACTION, now, actor, detail)
    return planned_ref


def _log_for_the_office(session: Session, planned_ref: str, care_worker_ref: str, at: datetime,
                        kind: LogKind | None, memo: str, reason: str, *, now: datetime,
                        actor: str) -> dict[str, object]:
    """A text or call that proves nothing, placed by the office: its log-in or log-out there.

    The office vouches for it as a correction (visits/corrections.py: channel and verification
    office, audited, the council told). With no direction known, it is the log-out when the
    carer is logged in on that visit, else the log-in.
    """
    planned = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == planned_ref))
    if planned is None:
        raise ActionRefused(f"There is no planned visit {planned_ref!r}.")
    if abs(planned.planned_start - at) > TEXT_REACH:
        raise ActionRefused("Choose a visit that day.")
    carer = session.scalar(select(CareWorker).where(CareWorker.ref == care_worker_ref)) \
        if care_worker_ref else (planned.care_workers[0] if planned.care_workers else None)
    if carer is None:
        raise ActionRefused("Say which carer it was.")
    if kind is None:
        open_here = session.scalar(select(ActualVisit.id).where(
            ActualVisit.planned_visit_id == planned.id, ActualVisit.care_worker_id == carer.id,
            ActualVisit.started_at.is_not(None), ActualVisit.ended_at.is_(None)))
        kind = LogKind.OUT if open_here is not None else LogKind.IN
    event_ids = correct_visit_times(
        session, care_worker_ref=carer.ref, planned_ref=planned.ref,
        log_in=at if kind == LogKind.IN else None, log_out=at if kind == LogKind.OUT else None,
        reason=memo, now=now, actor=actor)
    return {"to": planned.ref, "carer": carer.ref, "as": f"log-{kind.value}", "reason": reason,
            "new_log_event_ids": event_ids}
