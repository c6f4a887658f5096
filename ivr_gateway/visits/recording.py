"""Recording log-ins and log-outs: evidence first, then the actual visit derived from it.

Used by every channel (IVR calls, SMS codes, office corrections): each gives a LogRequest and
gets a LogResult to read back. Direction (in or out) is worked out, not asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ivr_gateway.config import KpiWindows
from ivr_gateway.db import table_of
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    AuditEntry,
    CareWorker,
    Channel,
    ExceptionCode,
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
from ivr_gateway.visits.matching import (
    Candidate,
    Match,
    MatchKind,
    match_log_in,
    match_log_out_without_log_in,
)

# An open visit older than this is treated as a forgotten log-out, so the next call from the
# same client's home is a new log-in (visits are at most 12 hours: live-in care is out of scope).
STALE_OPEN_VISIT = timedelta(hours=12)
LOCKED_CARE_WORKERS = "locked_care_workers"  # key in Session.info
# Who "reviewed" a missing-log-in flag that a log-in arriving after its log-out answered.
LATE_LOG_IN = "gateway: the log-in arrived after the log-out"


@dataclass(frozen=True)
class LogRequest:
    """A log-in or log-out as a channel captured it."""

    channel: Channel
    care_worker_id: int
    adult_id: int
    event_time: datetime
    received_at: datetime
    verification: Verification
    source_sid: str | None = None
    seq: int = 1
    from_number: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    unverified_reason: str = ""
    kind: LogKind | None = None  # None: work it out
    adult_initials: str | None = None  # the client's, when the channel has read them already


@dataclass(frozen=True)
class LogResult:
    """What was recorded, in the terms a read-back needs."""

    log_event_id: int
    kind: LogKind
    actual_visit_id: int
    event_time: datetime
    adult_initials: str
    planned_visit_ref: str | None
    match_kind: MatchKind
    minutes_late: int | None  # at log-in: minutes past planned start, when past the late window
    duration_minutes: int | None  # at log-out, when the log-in is known
    exceptions: list[ExceptionCode]


def lock_care_worker(session: Session, care_worker_id: int) -> None:
    """Take the carer's row lock for this transaction: every log-event writer does, first."""
    # Serialises one carer's log events across web workers (row lock on PostgreSQL; SQLite's
    # BEGIN IMMEDIATE already serialises writers). A row this transaction already locked (the
    # PIN check does) is not locked again: the lock lasts until commit.
    locked: set[int] = session.info.setdefault(LOCKED_CARE_WORKERS, set())
    if care_worker_id in locked:
        return
    session.execute(
        select(CareWorker.id).where(CareWorker.id == care_worker_id).with_for_update()
    ).scalar_one()
    locked.add(care_worker_id)


def note_care_worker_locked(session: Session, care_worker_id: int) -> None:
    """Record that this transaction holds the carer's row lock (taken with FOR UPDATE)."""
    session.info.setdefault(LOCKED_CARE_WORKERS, set()).add(care_worker_id)


@dataclass(frozen=True)
class CarerVisits:
    """What a log event needs of the carer's own visits, read in one query."""

    open: list[ActualVisit]  # still open, oldest first
    overlapping: ActualVisit | None  # a closed visit of theirs spanning the event's time
    planned_refs: dict[int, str]  # planned visit id -> ref, for the visits above
    planned_ends: dict[int, datetime]  # planned visit id -> planned end


# Built once with bound parameters: these run for every log event, where building them again
# would cost more than running them. The Core ones (no entities) run on the session's connection
# rather than through Session.execute: same transaction, without the ORM's per-statement work.
# The session is flushed before them (the entity query _CARER_VISITS autoflushes first).
_CARER_VISITS = (
    select(ActualVisit, PlannedVisit.ref, PlannedVisit.planned_end)
    .outerjoin(PlannedVisit, PlannedVisit.id == ActualVisit.planned_visit_id)
    .where(ActualVisit.care_worker_id == bindparam("care_worker_id"),
           or_(ActualVisit.state == ActualVisitState.OPEN,
               and_(ActualVisit.started_at <= bindparam("at"),
                    ActualVisit.ended_at > bindparam("at"))))
    .order_by(ActualVisit.started_at, ActualVisit.id))


def _carer_visits(session: Session, care_worker_id: int, at: datetime) -> CarerVisits:
    rows = session.execute(_CARER_VISITS, {"care_worker_id": care_worker_id, "at": at}).all()
    open_visits = [v for v, _ref, _end in rows if v.state == ActualVisitState.OPEN]
    overlapping = next((v for v, _ref, _end in rows if v.state != ActualVisitState.OPEN), None)
    # Every visit with a planned visit has its ref and end here (the join cannot miss: FK).
    planned = [(v.planned_visit_id, ref, end) for v, ref, end in rows
               if v.planned_visit_id is not None]
    return CarerVisits(open_visits, overlapping, {pv: ref for pv, ref, _end in planned},
                       {pv: end for pv, _ref, end in planned})


def decide_direction(session: Session, care_worker_id: int, adult_id: int, at: datetime,
                     windows: KpiWindows, visits: CarerVisits) -> LogKind:
    """Log-out if this carer has a recent open visit at this client, otherwise log-in.

    One exception: the open visit's planned time is long over and the carer's next planned visit
    at the same client is due now. Then the morning log-out was forgotten and this call is the
    lunch-time log-in (the carer can still press 9).
    """
    for visit in visits.open:
        if (visit.adult_id == adult_id and visit.started_at is not None
                and at - visit.started_at < STALE_OPEN_VISIT):
            if _next_visit_due(session, visit, care_worker_id, at, windows, visits.planned_ends):
                return LogKind.IN
            return LogKind.OUT
    return LogKind.IN


def _next_visit_due(session: Session, visit: ActualVisit, care_worker_id: int, at: datetime,
                    windows: KpiWindows, planned_ends: dict[int, datetime]) -> bool:
    if visit.planned_visit_id is None:
        return False
    planned_end = planned_ends[visit.planned_visit_id]
    early = timedelta(minutes=windows.late_after)
    if at < planned_end + timedelta(minutes=windows.log_out_chase_after):
        return False
    following = session.scalar(
        select(PlannedVisit.id)
        .join(PlannedVisitCareWorker)
        .where(PlannedVisit.adult_id == visit.adult_id,
               PlannedVisit.status == VisitStatus.PLANNED,
               PlannedVisitCareWorker.care_worker_id == care_worker_id,
               PlannedVisit.planned_start >= planned_end,
               PlannedVisit.planned_start <= at + early,
               PlannedVisit.planned_end > at)
        .limit(1))
    return following is not None


_CANDIDATES = (
    select(PlannedVisit.id, PlannedVisit.ref, PlannedVisit.planned_start,
           PlannedVisit.planned_end, PlannedVisitCareWorker.care_worker_id,
           ActualVisit.care_worker_id)
    .outerjoin(PlannedVisitCareWorker, PlannedVisitCareWorker.planned_visit_id == PlannedVisit.id)
    .outerjoin(ActualVisit, (ActualVisit.planned_visit_id == PlannedVisit.id)
               & ActualVisit.started_at.is_not(None))
    .where(PlannedVisit.adult_id == bindparam("adult_id"),
           PlannedVisit.status == VisitStatus.PLANNED,
           PlannedVisit.planned_start >= bindparam("earliest"),
           PlannedVisit.planned_start <= bindparam("latest"))
    .order_by(PlannedVisit.planned_start, PlannedVisit.id))


def _candidates(session: Session, adult_id: int, at: datetime, window: timedelta
                ) -> list[Candidate]:
    # One round trip: the client's planned visits near the time, each with its booked carers
    # and the carers who already logged in to it (a few rows per visit, grouped here).
    rows = session.connection().execute(_CANDIDATES, {
        "adult_id": adult_id, "earliest": at - window - timedelta(hours=12),
        "latest": at + window}).all()
    visits: dict[int, tuple[str, datetime, datetime]] = {}
    assigned: dict[int, set[int]] = {}
    logged: dict[int, set[int]] = {}
    for pv_id, ref, start, end, booked_id, logged_id in rows:
        visits.setdefault(pv_id, (ref, start, end))
        assigned.setdefault(pv_id, set())
        logged.setdefault(pv_id, set())
        if booked_id is not None:
            assigned[pv_id].add(booked_id)
        if logged_id is not None:
            logged[pv_id].add(logged_id)
    return [Candidate(pv_id, ref, start, end, frozenset(assigned[pv_id]),
                      frozenset(logged[pv_id]))
            for pv_id, (ref, start, end) in visits.items()]


def _add_exception(session: Session, visit: tuple[int, int | None], code: ExceptionCode,
                   detail: str, event_id: int | None, now: datetime) -> None:
    """Flag a visit, given as (its id, its planned visit's id)."""
    visit_id, planned_visit_id = visit
    session.add(VisitException(actual_visit_id=visit_id, planned_visit_id=planned_visit_id,
                               log_event_id=event_id, code=code, detail=detail, created_at=now))


# The evidence and the visit are written with Core statements, built once: a log event is the
# busiest write there is (every call and text), and the ORM's unit of work costs several times
# the SQL here. Objects already in the session are kept in step with set_committed_value.
_VISITS = table_of(ActualVisit)
_EVENTS = table_of(LogEvent)
_INSERT_VISIT = insert(_VISITS).returning(_VISITS.c.id)
_INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.id)
_CLOSE_VISIT = (update(_VISITS).where(_VISITS.c.id == bindparam("visit_id"))
                .values(state=bindparam("new_state", type_=_VISITS.c.state.type),
                        ended_at=bindparam("new_ended_at", type_=_VISITS.c.ended_at.type),
                        out_verification=bindparam("new_out_verification",
                                                   type_=_VISITS.c.out_verification.type)))


def _insert_event(session: Session, request: LogRequest, kind: LogKind, visit_id: int,
                  planned_visit_id: int | None) -> int:
    raw = dict(request.raw)
    if request.unverified_reason:
        raw["unverified_reason"] = request.unverified_reason
    return int(session.connection().execute(_INSERT_EVENT, {
        "channel": request.channel, "kind": kind, "care_worker_id": request.care_worker_id,
        "adult_id": request.adult_id, "planned_visit_id": planned_visit_id,
        "actual_visit_id": visit_id, "event_time": request.event_time,
        "received_at": request.received_at, "verification": request.verification,
        "source_sid": request.source_sid, "seq": request.seq,
        "from_number": request.from_number, "raw": raw}).scalar_one())


def _insert_visit(session: Session, request: LogRequest, planned_visit_id: int | None,
                  state: ActualVisitState, match_reason: str,
                  expected_end_at: datetime | None = None) -> int:
    opened = state == ActualVisitState.OPEN
    return int(session.connection().execute(_INSERT_VISIT, {
        "care_worker_id": request.care_worker_id, "adult_id": request.adult_id,
        "planned_visit_id": planned_visit_id, "state": state,
        "started_at": request.event_time if opened else None,
        "ended_at": None if opened else request.event_time,
        "in_verification": request.verification if opened else None,
        "out_verification": None if opened else request.verification,
        "match_reason": match_reason, "created_at": request.received_at,
        "expected_end_at": expected_end_at}).scalar_one())


def _initials(session: Session, request: LogRequest) -> str:
    """The client's initials for the read-back (from the request when it has them)."""
    return request.adult_initials or session.get_one(Adult, request.adult_id).initials


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def record_log_event(session: Session, request: LogRequest, windows: KpiWindows) -> LogResult:
    """Store the evidence, derive the actual visit and announce the change; caller commits."""
    result, closed = _record_log_event(session, request, windows)
    # The council hears of the visit the event belongs to, and of any it closed as a missing
    # log-out (a log-in closes every visit the carer still had open).
    record_visit_changed(session, request.care_worker_id, {result.actual_visit_id, *closed},
                        request.received_at, source=f"log-event:{result.log_event_id}")
    return result


def _visits_touched_by(session: Session, log_event_id: int) -> set[int]:
    # The visit the event belongs to, and any it closed as a missing log-out.
    event = session.get_one(LogEvent, log_event_id)
    touched = {event.actual_visit_id} if event.actual_visit_id is not None else set()
    touched.update(v for v in session.scalars(select(VisitException.actual_visit_id).where(
        VisitException.log_event_id == log_event_id)) if v is not None)
    return touched


def _record_log_event(session: Session, request: LogRequest, windows: KpiWindows
                      ) -> tuple[LogResult, list[int]]:
    """The result, and the ids of the visits it closed as missing a log-out."""
    lock_care_worker(session, request.care_worker_id)
    visits = _carer_visits(session, request.care_worker_id, request.event_time)
    open_visits = visits.open
    kind = request.kind or decide_direction(session, request.care_worker_id, request.adult_id,
                                            request.event_time, windows, visits)
    if kind == LogKind.IN:
        recent = _recent_open_visit_here(request, open_visits, windows)
        if recent is not None:
            return _repeat_log_in(session, request, recent, visits), []
        waiting = _log_out_waiting_for_its_log_in(session, request)
        if waiting is not None:
            return _late_log_in(session, request, windows, waiting), []
        return _log_in(session, request, windows, visits), [v.id for v in open_visits]
    return _log_out(session, request, windows, visits), []


def _log_out_waiting_for_its_log_in(session: Session, request: LogRequest
                                    ) -> ActualVisit | None:
    """A log-out of this carer at this client, later than this log-in, that came without one.

    A log-in can arrive after its own log-out: a text delayed by poor signal (its token code
    proves the time it was sent), or a call whose request was held up on a busy server. The
    log-out was then recorded alone (a visit with no start, flagged missing log-in); this log-in
    belongs to it, unless another visit of the carer's falls between the two.
    """
    at = request.event_time
    waiting = session.scalars(
        select(ActualVisit)
        .where(ActualVisit.care_worker_id == request.care_worker_id,
               ActualVisit.adult_id == request.adult_id,
               ActualVisit.state == ActualVisitState.CLOSED,
               ActualVisit.started_at.is_(None),
               ActualVisit.ended_at > at,
               ActualVisit.ended_at < at + STALE_OPEN_VISIT)
        .order_by(ActualVisit.ended_at, ActualVisit.id).limit(1)).first()
    if waiting is None or waiting.ended_at is None:
        return None
    # Any other visit of the carer's own between the two (begun before the log-out and not
    # over by the log-in, or another log-out in between): the two are not one visit.
    between = session.scalar(
        select(ActualVisit.id)
        .where(ActualVisit.care_worker_id == request.care_worker_id,
               ActualVisit.id != waiting.id,
               or_(and_(ActualVisit.started_at < waiting.ended_at,
                        or_(ActualVisit.ended_at.is_(None), ActualVisit.ended_at > at)),
                   and_(ActualVisit.started_at.is_(None), ActualVisit.ended_at > at,
                        ActualVisit.ended_at < waiting.ended_at)))
        .limit(1))
    return waiting if between is None else None


def _late_log_in(session: Session, request: LogRequest, windows: KpiWindows,
                 visit: ActualVisit) -> LogResult:
    """Give a log-out that came alone the log-in that arrived after it (at its own time)."""
    at = request.event_time
    initials = _initials(session, request)
    window = timedelta(minutes=windows.match_window)
    planned_visit_id = visit.planned_visit_id
    match: Match | None = None
    if planned_visit_id is None:
        match = match_log_in(request.care_worker_id, at,
                             _candidates(session, request.adult_id, at, window), window)
        planned_visit_id = match.candidate.planned_visit_id if match.candidate else None
        if match.candidate is not None:
            # The log-out, its flags and the visit now belong to the planned visit matched.
            visit.planned_visit_id = planned_visit_id
            visit.match_reason = match.reason
            session.execute(update(LogEvent).where(LogEvent.actual_visit_id == visit.id)
                            .values(planned_visit_id=planned_visit_id))
            for exception in visit.exceptions:
                exception.planned_visit_id = planned_visit_id
    visit.started_at = at
    visit.in_verification = request.verification
    event_id = _insert_event(session, request, LogKind.IN, visit.id, planned_visit_id)
    for exception in visit.exceptions:
        if exception.code == ExceptionCode.MISSING_LOG_IN and exception.reviewed_at is None:
            exception.reviewed_at = request.received_at
            exception.reviewed_by = LATE_LOG_IN
    codes: list[ExceptionCode] = []
    if request.verification == Verification.UNVERIFIED:
        _add_exception(session, (visit.id, planned_visit_id), ExceptionCode.UNVERIFIED_LOCATION,
                       request.unverified_reason or "presence at the client's home not proven",
                       event_id, at)
        codes.append(ExceptionCode.UNVERIFIED_LOCATION)
    session.flush()
    planned = session.get(PlannedVisit, planned_visit_id) if planned_visit_id else None
    minutes_late = None
    if planned is not None and at - planned.planned_start > timedelta(minutes=windows.late_after):
        minutes_late = _minutes(at - planned.planned_start)
    match_kind = (match.kind if match is not None else
                  MatchKind.PLANNED if planned is not None else MatchKind.UNPLANNED)
    return LogResult(event_id, LogKind.IN, visit.id, at, initials,
                     planned.ref if planned is not None else None, match_kind, minutes_late,
                     None, codes)


def _recent_open_visit_here(request: LogRequest, open_visits: list[ActualVisit],
                            windows: KpiWindows) -> ActualVisit | None:
    """An open visit at this client begun within the late window before this log-in.

    A carer who says "in" again minutes after logging in (a text resent because no reply came,
    a call made twice, a 9 pressed after a log-out they did not mean) is still on that visit:
    it keeps its first log-in time rather than being closed as a missing log-out.
    """
    for visit in open_visits:
        if (visit.adult_id == request.adult_id and visit.started_at is not None
                and timedelta(0) <= request.event_time - visit.started_at
                <= timedelta(minutes=windows.late_after)):
            return visit
    return None


def _log_in(session: Session, request: LogRequest, windows: KpiWindows,
            visits: CarerVisits) -> LogResult:
    at = request.event_time
    open_visits = visits.open
    initials = _initials(session, request)
    window = timedelta(minutes=windows.match_window)
    match = match_log_in(request.care_worker_id, at,
                         _candidates(session, request.adult_id, at, window), window)
    planned_visit_id = match.candidate.planned_visit_id if match.candidate else None
    expected = (expected_end(match.candidate.planned_start, match.candidate.planned_end, at)
                if match.candidate else None)
    visit_id = _insert_visit(session, request, planned_visit_id, ActualVisitState.OPEN,
                             match.reason, expected)
    event_id = _insert_event(session, request, LogKind.IN, visit_id, planned_visit_id)
    # A carer still logged in anywhere forgot to log out: close it without inventing an end time.
    for stale in open_visits:
        stale.state = ActualVisitState.MISSING_LOG_OUT
        _add_exception(session, (stale.id, stale.planned_visit_id),
                       ExceptionCode.MISSING_LOG_OUT,
                       "closed without a log-out: the carer logged in again at "
                       f"{at.isoformat()}", event_id, at)

    codes = _flag_log_in(session, (visit_id, planned_visit_id), event_id, match, request,
                         visits.overlapping)
    minutes_late = None
    if match.candidate is not None:
        lateness = at - match.candidate.planned_start
        if lateness > timedelta(minutes=windows.late_after):
            minutes_late = _minutes(lateness)
    return LogResult(event_id, LogKind.IN, visit_id, at, initials,
                     match.candidate.ref if match.candidate else None, match.kind, minutes_late,
                     None, codes)


def _flag_log_in(session: Session, visit: tuple[int, int | None], event_id: int, match: Match,
                 request: LogRequest, overlapping: ActualVisit | None) -> list[ExceptionCode]:
    at = request.event_time
    flags: list[tuple[ExceptionCode, str]] = []
    if request.verification == Verification.UNVERIFIED:
        flags.append((ExceptionCode.UNVERIFIED_LOCATION,
                      request.unverified_reason or "presence at the client's home not proven"))
    if match.kind == MatchKind.SUBSTITUTION:
        flags.append((ExceptionCode.SUBSTITUTION, match.reason))
    elif match.kind == MatchKind.UNPLANNED:
        flags.append((ExceptionCode.UNPLANNED_VISIT, match.reason))
    if overlapping is not None:
        flags.append((ExceptionCode.OVERLAPPING_VISIT,
                      f"overlaps actual visit {overlapping.id} of the same carer"))
    for code, detail in flags:
        _add_exception(session, visit, code, detail, event_id, at)
    return [code for code, _ in flags]


def _log_out(session: Session, request: LogRequest, windows: KpiWindows,
             visits: CarerVisits) -> LogResult:
    at = request.event_time
    initials = _initials(session, request)
    open_here = [v for v in visits.open if v.adult_id == request.adult_id]
    codes: list[ExceptionCode] = []
    planned_ref: str | None = None
    if open_here:
        visit = open_here[-1]
        session.connection().execute(_CLOSE_VISIT, {
            "visit_id": visit.id, "new_state": ActualVisitState.CLOSED, "new_ended_at": at,
            "new_out_verification": request.verification})
        # The loaded visit says what the database now says (and is not written again).
        set_committed_value(visit, "state", ActualVisitState.CLOSED)
        set_committed_value(visit, "ended_at", at)
        set_committed_value(visit, "out_verification", request.verification)
        visit_id, planned_visit_id = visit.id, visit.planned_visit_id
        match_kind = MatchKind.PLANNED if planned_visit_id else MatchKind.UNPLANNED
        duration = _minutes(at - visit.started_at) if visit.started_at else None
        if planned_visit_id is not None:
            planned_ref = visits.planned_refs[planned_visit_id]
    else:
        window = timedelta(minutes=windows.match_window)
        match = match_log_out_without_log_in(
            request.care_worker_id, at, _candidates(session, request.adult_id, at, window), window)
        planned_visit_id = match.candidate.planned_visit_id if match.candidate else None
        visit_id = _insert_visit(session, request, planned_visit_id, ActualVisitState.CLOSED,
                                 match.reason)
        codes.append(ExceptionCode.MISSING_LOG_IN)
        match_kind = match.kind
        duration = None
        planned_ref = match.candidate.ref if match.candidate else None
    event_id = _insert_event(session, request, LogKind.OUT, visit_id, planned_visit_id)
    if ExceptionCode.MISSING_LOG_IN in codes:
        _add_exception(session, (visit_id, planned_visit_id), ExceptionCode.MISSING_LOG_IN,
                       "log-out with no log-in for this client", event_id, at)
    if request.verification == Verification.UNVERIFIED:
        _add_exception(session, (visit_id, planned_visit_id), ExceptionCode.UNVERIFIED_LOCATION,
                       request.unverified_reason or "presence at the client's home not proven",
                       event_id, at)
        codes.append(ExceptionCode.UNVERIFIED_LOCATION)
    return LogResult(event_id, LogKind.OUT, visit_id, at, initials, planned_ref,
                     match_kind, None, duration, codes)


def _drop_derived_visit(session: Session, visit: ActualVisit, event: LogEvent) -> None:
    # The visit was derived from this one event only: remove it (the event stays as evidence).
    for exception in visit.exceptions:
        session.delete(exception)
    event.actual_visit = None
    event.planned_visit_id = None
    session.flush()
    session.delete(visit)


def _undo_derived(session: Session, original: LogEvent) -> tuple[set[int], LogKind]:
    """Undo what a log event derived (the event stays): a visit it opened is removed, visits it
    closed are reopened. The ids of the visits changed or removed (for the council)."""
    visit = session.get_one(ActualVisit, original.actual_visit_id)
    touched = {visit.id}  # for the council: each visit this correction changes or removes
    if original.kind == LogKind.IN and visit.ended_at is not None and \
            _answered_late(visit, original):
        # A log-in that arrived after its log-out (_late_log_in): the log-out stands alone again.
        visit.started_at = None
        visit.in_verification = None
        for exception in visit.exceptions:
            if exception.reviewed_by == LATE_LOG_IN:
                exception.reviewed_at = exception.reviewed_by = None
            elif exception.log_event_id == original.id:
                session.delete(exception)
        original.actual_visit = None
        original.planned_visit_id = None
    elif original.kind == LogKind.IN:
        # Undo the log-in: reopen what it closed as missing log-out, drop the visit it opened.
        closed_by_it = session.scalars(select(VisitException).where(
            VisitException.log_event_id == original.id,
            VisitException.code == ExceptionCode.MISSING_LOG_OUT)).all()
        for exception in closed_by_it:
            if exception.actual_visit_id is not None:
                touched.add(exception.actual_visit_id)
            reopened = session.get_one(ActualVisit, exception.actual_visit_id)
            reopened.state = ActualVisitState.OPEN
            session.delete(exception)
        _drop_derived_visit(session, visit, original)
    elif visit.started_at is None:
        _drop_derived_visit(session, visit, original)
    else:
        # Undo the log-out: the visit it closed is open again.
        visit.state = ActualVisitState.OPEN
        visit.ended_at = None
        visit.out_verification = None
        for exception in visit.exceptions:
            if exception.log_event_id == original.id:
                session.delete(exception)
    session.flush()
    return touched, original.kind


def _answered_late(visit: ActualVisit, log_in: LogEvent) -> bool:
    """Whether this log-in joined a log-out that had come alone (see _late_log_in)."""
    return any(e.code == ExceptionCode.MISSING_LOG_IN and e.reviewed_by == LATE_LOG_IN
               for e in visit.exceptions) and visit.started_at == log_in.event_time


def correct_direction(session: Session, log_event_id: int, received_at: datetime,
                      windows: KpiWindows, seq: int) -> LogResult:
    """The carer pressed 9: the event was the other direction. Supersede it and re-derive.

    The first event stays as evidence, marked superseded; what it derived is undone (a visit it
    opened is removed, visits it closed are reopened) and the opposite event is recorded.
    """
    original = session.get_one(LogEvent, log_event_id)
    if original.superseded_by_id is not None:
        raise ValueError("that log event was already corrected")
    lock_care_worker(session, original.care_worker_id)
    touched, undone_kind = _undo_derived(session, original)
    new_kind = LogKind.OUT if undone_kind == LogKind.IN else LogKind.IN
    request = LogRequest(
        channel=original.channel, care_worker_id=original.care_worker_id,
        adult_id=original.adult_id or 0, event_time=original.event_time, received_at=received_at,
        verification=original.verification, source_sid=original.source_sid, seq=seq,
        from_number=original.from_number, raw={**original.raw, "corrects": original.id},
        unverified_reason=str(original.raw.get("unverified_reason", "")), kind=new_kind)
    # A log-in minutes after the reopened visit began rejoins it (_recent_open_visit_here);
    # otherwise the new log-in closes it as a missing log-out, which is what the carer says.
    result, _closed = _record_log_event(session, request, windows)
    original.superseded_by_id = result.log_event_id
    original.superseded_reason = "carer pressed 9: it was a log-" + new_kind.value
    corrected = session.get_one(ActualVisit, result.actual_visit_id)
    session.add(VisitException(
        actual_visit_id=corrected.id, planned_visit_id=corrected.planned_visit_id,
        log_event_id=result.log_event_id, code=ExceptionCode.CARER_CORRECTED_DIRECTION,
        detail=f"the carer changed a log-{original.kind.value} to a log-{new_kind.value}",
        created_at=received_at))
    session.flush()
    record_visit_changed(session, original.care_worker_id,
                        touched | _visits_touched_by(session, result.log_event_id), received_at,
                        source=f"correction:{result.log_event_id}")
    return LogResult(result.log_event_id, result.kind, result.actual_visit_id, result.event_time,
                     result.adult_initials, result.planned_visit_ref, result.match_kind,
                     result.minutes_late, result.duration_minutes,
                     [*result.exceptions, ExceptionCode.CARER_CORRECTED_DIRECTION])


def _visit_label(session: Session, event: LogEvent) -> str:
    """The visit an event stands on, as the audit names it: its rota ref, or 'unplanned visit N'."""
    if event.planned_visit_id is not None:
        return session.get_one(PlannedVisit, event.planned_visit_id).ref
    return f"unplanned visit {event.actual_visit_id}"


def correct_client(session: Session, log_event_id: int, adult_id: int, received_at: datetime,
                   windows: KpiWindows, seq: int, *, changed_by: str) -> LogResult:
    """The carer pressed 8 at a landline shared by clients: the event was the other client's.

    As for a press of 9, the first event stays as evidence, marked superseded, and what it
    derived on the wrong client's record is undone (a visit it opened is removed, a visit it
    closed is open again), so nothing is left there. The event is then recorded afresh for the
    other client, at the same moment and with the same proof of presence (the caller ID is a
    landline of both), matched and worked out (in or out) as any call is. It is audited on both
    visits as the carer's correction and sent to the council as a visit change.
    """
    original = session.get_one(LogEvent, log_event_id)
    if original.superseded_by_id is not None:
        raise ValueError("that log event was already corrected")
    if original.adult_id == adult_id:
        raise ValueError("the event is already for that client")
    lock_care_worker(session, original.care_worker_id)
    wrong_adult = session.get_one(Adult, original.adult_id) if original.adult_id else None
    right_adult = session.get_one(Adult, adult_id)
    from_label = _visit_label(session, original)
    from_entity = ("planned_visit", from_label) if original.planned_visit_id is not None \
        else ("actual_visit", str(original.actual_visit_id))
    touched, _kind = _undo_derived(session, original)
    request = LogRequest(
        channel=original.channel, care_worker_id=original.care_worker_id, adult_id=adult_id,
        event_time=original.event_time, received_at=received_at,
        verification=original.verification, source_sid=original.source_sid, seq=seq,
        from_number=original.from_number,
        raw={**original.raw, "corrects": original.id, "other_client_of": original.adult_id},
        unverified_reason=str(original.raw.get("unverified_reason", "")))
    result, _closed = _record_log_event(session, request, windows)
    original.superseded_by_id = result.log_event_id
    wrong = wrong_adult.initials if wrong_adult else "?"
    original.superseded_reason = (f"carer pressed 8: it was for {right_adult.initials}, "
                                  f"not {wrong}")
    corrected = session.get_one(ActualVisit, result.actual_visit_id)
    session.add(VisitException(
        actual_visit_id=corrected.id, planned_visit_id=corrected.planned_visit_id,
        log_event_id=result.log_event_id, code=ExceptionCode.CARER_CORRECTED_CLIENT,
        detail=(f"the carer changed the client of a log-{result.kind.value} from {wrong} to "
                f"{right_adult.initials} (a landline of both)"),
        created_at=received_at))
    session.flush()
    to_label = _visit_label(session, session.get_one(LogEvent, result.log_event_id))
    detail: dict[str, Any] = {
        "log_event_id": original.id, "new_log_event_id": result.log_event_id,
        "moved": [from_label, to_label], "kind": result.kind.value,
        "client": [wrong_adult.ref if wrong_adult else None, right_adult.ref],
        f"log-{result.kind.value}": result.event_time.isoformat()}
    to_entity = ("planned_visit", to_label) if corrected.planned_visit_id is not None \
        else ("actual_visit", str(corrected.id))
    for entity, ref in {from_entity, to_entity}:
        session.add(AuditEntry(at=received_at, actor=changed_by[:100], action="correct_client",
                               entity=entity, entity_ref=ref, detail=detail))
    session.flush()
    # Both visits' new versions first, then the change on the right one behind them.
    change_id = f"carer-client:{result.log_event_id}"
    record_visit_changed(session, original.care_worker_id,
                        touched | _visits_touched_by(session, result.log_event_id), received_at,
                        source=change_id)
    record_visit_corrected(session, change_id=change_id, changed_by=changed_by,
                           changed_at=received_at, reason_code="carer_correction",
                           memo=(f"the carer said on the call that the log-{result.kind.value} "
                                 "was for the other client at this landline"),
                           changes={"client": [wrong_adult.ref if wrong_adult else None,
                                               right_adult.ref],
                                    "visit": [from_label, to_label]},
                           actual_visit_id=corrected.id)
    return LogResult(result.log_event_id, result.kind, result.actual_visit_id, result.event_time,
                     result.adult_initials, result.planned_visit_ref, result.match_kind,
                     result.minutes_late, result.duration_minutes,
                     [*result.exceptions, ExceptionCode.CARER_CORRECTED_CLIENT])


def _repeat_log_in(session: Session, request: LogRequest, visit: ActualVisit,
                   visits: CarerVisits) -> LogResult:
    """Record a second log-in on a visit that is still open; the visit keeps its first time."""
    event_id = _insert_event(session, request, LogKind.IN, visit.id, visit.planned_visit_id)
    assert visit.started_at is not None
    initials = _initials(session, request)
    planned_ref = (visits.planned_refs[visit.planned_visit_id]
                   if visit.planned_visit_id else None)
    kind = MatchKind.PLANNED if visit.planned_visit_id else MatchKind.UNPLANNED
    return LogResult(event_id, LogKind.IN, visit.id, visit.started_at, initials,
                     planned_ref, kind, None, None, [])
