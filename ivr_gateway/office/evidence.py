"""The evidence behind one visit: every call step, text and office entry, in time order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.ivr.models import CallStep
from ivr_gateway.models import (
    ActualVisit,
    Adult,
    AuditEntry,
    CareWorker,
    ConcernRecording,
    LogEvent,
    PlannedVisit,
    VisitException,
    landlines_at,
)
from ivr_gateway.office.board import EXCEPTION_WORDS, STATUS, VERIFICATION_WORDS, person_name
from ivr_gateway.office.reason_codes import ReasonDue, reason_due
from ivr_gateway.office.wording import (
    AuditLine,
    CallParty,
    audit_lines,
    call_step_sentence,
    office_names,
)
from ivr_gateway.phones import national_format
from ivr_gateway.visits.models import VisitReasonCode
from ivr_gateway.visits.reason_codes import visit_summary
from ivr_gateway.visits.summary import VisitSummary

DELAY_WORTH_SHOWING = timedelta(seconds=60)


@dataclass(frozen=True)
class TimelineEntry:
    """One piece of evidence or one office action, as a line of the timeline."""

    at: datetime
    kind: str  # call | log-in | log-out | text | office | exception | concern | audit
    title: str
    details: list[str] = field(default_factory=list)
    superseded: str | None = None
    log_event_id: int | None = None  # a log event's: the visit page offers to move it


@dataclass(frozen=True)
class VisitRecord:
    """Everything the visit page shows."""

    planned: PlannedVisit | None
    summary: VisitSummary | None
    adult: Adult | None
    actuals: list[ActualVisit]
    carer_names: dict[int, str]
    exceptions: list[VisitException]
    concerns: list[ConcernRecording]
    timeline: list[TimelineEntry]
    audit: list[AuditEntry]
    reason: ReasonDue | None
    reason_recorded: VisitReasonCode | None
    status_word: str
    status_style: str
    audit_lines: list[AuditLine] = field(default_factory=list)  # the audit trail in sentences


def _local(at: datetime, settings: Settings) -> str:
    return at.astimezone(settings.tz).strftime("%H:%M:%S")


def _event_entry(event: LogEvent, carer: str, settings: Settings, names: dict[str, str]
                 ) -> TimelineEntry:
    kind = "log-in" if event.kind.value == "in" else "log-out"
    channel = {"ivr": "phone call", "sms": "text", "office": "office correction"}[
        event.channel.value]
    details = [f"carer: {carer}",
               f"presence: {VERIFICATION_WORDS.get(event.verification.value, 'unknown')}"]
    if event.from_number:
        details.append(f"from: {national_format(event.from_number)}")
    if event.source_sid:
        details.append(f"Twilio SID: {event.source_sid}")
    delay = event.received_at - event.event_time
    if event.channel.value == "office":
        details.append(f"recorded at {_local(event.received_at, settings)}")
    elif delay > DELAY_WORTH_SHOWING:
        details.append(f"reached us {int(delay.total_seconds() // 60)} min after the event "
                       f"(at {_local(event.received_at, settings)})")
    if event.raw.get("unverified_reason"):
        details.append(f"not proven: {event.raw['unverified_reason']}")
    if event.channel.value == "office":
        details.append(f"by {person_name(event.raw.get('by'), names)}: "
                       f"{event.raw.get('reason', '')}")
    return TimelineEntry(event.event_time, "office" if event.channel.value == "office" else kind,
                         f"{kind.capitalize()} by {channel}", details,
                         event.superseded_reason if event.superseded_by_id else None, event.id)


def _step_entry(step: CallStep, party: CallParty) -> TimelineEntry:
    # One sentence per step ("Call answered: caller ID ... matched Joan Smith's landline").
    return TimelineEntry(step.received_at, "call", call_step_sentence(step, party))


def _collect_events(session: Session, actual_ids: list[int], planned_id: int | None
                    ) -> list[LogEvent]:
    conditions: list[ColumnElement[bool]] = [LogEvent.actual_visit_id.in_(actual_ids)]
    if planned_id is not None:
        conditions.append(LogEvent.planned_visit_id == planned_id)
    events = {e.id: e for e in session.scalars(select(LogEvent).where(or_(*conditions)))}
    # Events a carer's press 9 superseded lose their visit link: follow the chain back.
    frontier = set(events)
    while frontier:
        older = session.scalars(select(LogEvent).where(
            LogEvent.superseded_by_id.in_(frontier))).all()
        frontier = {e.id for e in older if e.id not in events}
        events.update({e.id: e for e in older})
    return sorted(events.values(), key=lambda e: (e.event_time, e.id))


def load_visit_record(session: Session, settings: Settings, now: datetime, *,
                      planned_ref: str | None = None, actual_visit_id: int | None = None
                      ) -> VisitRecord:
    """The visit page's record for a planned visit (by ref) or an unplanned one (by id)."""
    planned: PlannedVisit | None = None
    summary: VisitSummary | None = None
    if planned_ref is not None:
        planned, summary = visit_summary(session, planned_ref, settings, now)
        actuals = list(session.scalars(select(ActualVisit).where(
            ActualVisit.planned_visit_id == planned.id).order_by(ActualVisit.id)))
        adult: Adult | None = planned.adult
        entity, ref = "planned_visit", planned.ref
    else:
        actual = session.get(ActualVisit, actual_visit_id) if actual_visit_id else None
        if actual is None:
            raise LookupError("There is no such visit.")
        if actual.planned_visit_id is not None:
            return load_visit_record(session, settings, now, planned_ref=session.get_one(
                PlannedVisit, actual.planned_visit_id).ref)
        actuals = [actual]
        adult = actual.adult
        entity, ref = "actual_visit", str(actual.id)
    actual_ids = [a.id for a in actuals]
    carer_ids = {a.care_worker_id for a in actuals} | \
        ({c.id for c in planned.care_workers} if planned else set())
    carer_names = {c.id: f"{c.given_name} {c.family_name}" for c in session.scalars(
        select(CareWorker).where(CareWorker.id.in_(carer_ids)))}

    events = _collect_events(session, actual_ids, planned.id if planned else None)
    carer_names.update({e.care_worker_id: f"{e.care_worker.given_name} "
                        f"{e.care_worker.family_name}" for e in events})
    people = office_names(session, [str(e.raw.get("by", "")) for e in events])
    timeline = [_event_entry(e, carer_names.get(e.care_worker_id, "?"), settings, people)
                for e in events]
    sids = {e.source_sid for e in events if e.source_sid and e.channel.value == "ivr"}
    if sids:
        callers = {e.source_sid: carer_names.get(e.care_worker_id, "the carer") for e in events
                   if e.source_sid in sids}
        client = f"{adult.given_name} {adult.family_name}" if adult else "the client"
        # Each step is judged against the client's landlines of that moment (a number changed
        # since does not unverify last week's calls).
        timeline += [_step_entry(s, CallParty(
            callers.get(s.call_sid, "the carer"), client,
            landlines_at(session, adult, s.received_at) if adult else frozenset()))
            for s in session.scalars(select(CallStep).where(CallStep.call_sid.in_(sids)))]
    exceptions = list(session.scalars(select(VisitException).where(
        VisitException.actual_visit_id.in_(actual_ids)).order_by(VisitException.id)))
    for e in exceptions:
        timeline.append(TimelineEntry(e.created_at, "exception",
                                      f"Flagged: {EXCEPTION_WORDS.get(e.code.value, e.code)}",
                                      [e.detail] if e.detail else []))
    concerns = list(session.scalars(select(ConcernRecording).where(
        ConcernRecording.actual_visit_id.in_(actual_ids))))
    for c in concerns:
        timeline.append(TimelineEntry(c.created_at, "concern", "Concern recorded by the carer",
                                      [f"{c.duration_seconds or '?'} seconds"]))
    audit = list(session.scalars(select(AuditEntry).where(
        AuditEntry.entity == entity, AuditEntry.entity_ref == ref).order_by(AuditEntry.at,
                                                                            AuditEntry.id)))
    # At one instant the call's steps come before the log event they produced.
    timeline.sort(key=lambda t: (t.at, t.kind != "call"))

    recorded = None
    reason = None
    if planned is not None and summary is not None:
        recorded = session.scalar(select(VisitReasonCode).where(
            VisitReasonCode.planned_visit_id == planned.id))
        if recorded is not None:
            _ = recorded.reason  # loaded now: the page renders after the session closes
        reason = reason_due(summary)
        word, style = STATUS.get(summary.outcome, (summary.outcome, "due"))
    else:
        a = actuals[0]
        word, style = ("Unplanned, in progress", "progress") if a.state.value == "open" else \
            ("Unplanned, completed", "done") if a.state.value == "closed" and a.started_at \
            else ("Unplanned, incomplete", "warn")
    return VisitRecord(planned, summary, adult, actuals, carer_names, exceptions, concerns,
                       timeline, audit, reason, recorded, word, style,
                       audit_lines(session, audit, settings.tz))
