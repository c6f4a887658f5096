"""The rules that raise alerts, and the checks that resolve them.

Deadline rules read only the deadlines that passed since the last tick (a cursor per rule), by
an indexed range on the planned start or end (or an unplanned visit's log-in), so a tick's cost
follows the visits that fell due, not the size of the rota. Red-rated clients' deadlines come at
half the time. Two rules read standing facts instead: dead council records, and not-started
alerts of double-ups a carer has since come to alone (both small sets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased, selectinload

from ivr_gateway.config import Settings
from ivr_gateway.escalation.models import (
    Alert,
    AlertKind,
    AlertState,
    EscalationCursor,
)
from ivr_gateway.escalation.wording import day_hhmm, hhmm
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    CareWorker,
    ConcernRecording,
    PlannedVisit,
    PlannedVisitCareWorker,
    Rag,
    VisitStatus,
    initials_of,
)
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.visits.changes import CHANGE_KINDS
from ivr_gateway.visits.deadlines import for_rag
from ivr_gateway.visits.outcomes import all_carers_from
from ivr_gateway.visits.queries import summaries_of

# The council-forwarding outbox kinds: records, the domain's "what changed" rows they are rendered
# from, and the council's own pointers of before (ecc_render) still in a deployed database.
FORWARDING_KINDS = ("ecc", "ecc_render", *CHANGE_KINDS)


@dataclass(frozen=True)
class Raise:
    """A rule's finding: raise this alert (once) unless it exists."""

    kind: AlertKind
    subject_key: str
    summary: str
    deadline_at: datetime
    red: bool = False
    planned_visit_id: int | None = None
    actual_visit_id: int | None = None
    care_worker_id: int | None = None
    concern_recording_id: int | None = None
    outbox_message_id: int | None = None


def _window(column: Any, lo: datetime, hi: datetime, delay: timedelta) -> Any:
    # Deadline = column + delay falls in [lo, hi)  <=>  column in [lo - delay, hi - delay): an
    # alert is raised once its deadline has passed, and each deadline is read by one tick only.
    return and_(column >= lo - delay, column < hi - delay)


def _by_rag(column: Any, lo: datetime, hi: datetime, delay: timedelta) -> Any:
    # Two index ranges, one for red clients (deadlines.for_rag: sooner), one for the rest.
    return or_(and_(Adult.rag == Rag.RED, _window(column, lo, hi, for_rag(delay, True))),
               and_(Adult.rag != Rag.RED, _window(column, lo, hi, for_rag(delay, False))))


def _not_started() -> Any:
    return ~exists().where(ActualVisit.planned_visit_id == PlannedVisit.id)


def _deadline(start: datetime, delay: timedelta, red: bool) -> datetime:
    return start + for_rag(delay, red)


def not_started_query(lo: datetime, hi: datetime, delay: timedelta) -> Any:
    """Planned visits nobody logged in to whose start + delay (half for red) is in [lo, hi)."""
    return (select(PlannedVisit, Adult).join(Adult, PlannedVisit.adult_id == Adult.id)
            .where(PlannedVisit.status == VisitStatus.PLANNED,
                   _by_rag(PlannedVisit.planned_start, lo, hi, delay), _not_started()))


def late_start_query(lo: datetime, hi: datetime, settings: Settings) -> Any:
    """The late-start rule's query (the benchmark EXPLAINs it)."""
    return not_started_query(lo, hi, timedelta(minutes=settings.kpi.late_after))


def late_starts(session: Session, lo: datetime, hi: datetime, now: datetime,
                settings: Settings) -> list[Raise]:
    """Visits not logged in by planned start + the late window, not yet missed."""
    late = timedelta(minutes=settings.kpi.late_after)
    missed = timedelta(minutes=settings.kpi.missed_after)
    rows = session.execute(late_start_query(lo, hi, settings))
    found = []
    for visit, adult in rows:
        red = adult.rag == Rag.RED
        if now >= _deadline(visit.planned_start, missed, red):
            continue  # already missed: the missed rule speaks for it
        found.append(Raise(
            AlertKind.LATE_START, f"visit:{visit.id}",
            f"{adult.initials} visit {hhmm(visit.planned_start, settings.tz)} not started, "
            "nobody logged in", _deadline(visit.planned_start, late, red), red,
            planned_visit_id=visit.id))
    return found


def missed_visits(session: Session, lo: datetime, hi: datetime, now: datetime,
                  settings: Settings) -> list[Raise]:
    """Visits not logged in by planned start + the missed window."""
    missed = timedelta(minutes=settings.kpi.missed_after)
    rows = session.execute(not_started_query(lo, hi, missed))
    return [Raise(AlertKind.MISSED_VISIT, f"visit:{visit.id}",
                  f"{adult.initials} visit {hhmm(visit.planned_start, settings.tz)} MISSED, "
                  "nobody logged in", _deadline(visit.planned_start, missed, adult.rag == Rag.RED),
                  adult.rag == Rag.RED, planned_visit_id=visit.id)
            for visit, adult in rows]


def _carers_booked() -> Any:
    return (select(func.count()).select_from(PlannedVisitCareWorker)
            .where(PlannedVisitCareWorker.planned_visit_id == PlannedVisit.id)
            .scalar_subquery())


def _logged_in() -> Any:
    return exists().where(ActualVisit.planned_visit_id == PlannedVisit.id,
                          ActualVisit.started_at.is_not(None))


@dataclass(frozen=True)
class Staffing:
    """How a double-up stands: carers booked, different carers logged in, when all were there."""

    needed: int
    came: int
    together_from: datetime | None  # visits/outcomes.py all_carers_from

    @property
    def short(self) -> bool:
        """A double-up whose carers have never all been logged in at once."""
        return self.needed >= 2 and self.together_from is None

    def note(self) -> str:
        """'1 of 2 carers logged in', or '2 carers logged in, never together'."""
        if self.came < self.needed:
            return f"{self.came} of {self.needed} carers logged in"
        return f"{self.came} carers logged in, never together"


def staffing(session: Session, visit: PlannedVisit) -> Staffing:
    """The carers a planned visit has had, judged as the board and the KPI report judge them."""
    needed = len(visit.care_workers)
    spans = list(session.scalars(select(ActualVisit).where(
        ActualVisit.planned_visit_id == visit.id, ActualVisit.started_at.is_not(None))))
    return Staffing(needed, len({s.care_worker_id for s in spans}),
                    all_carers_from(spans, needed))


def _short_of_carer(visit: PlannedVisit, adult: Adult, staffed: Staffing,
                    settings: Settings) -> Raise:
    red = adult.rag == Rag.RED
    return Raise(AlertKind.SHORT_OF_CARER, f"visit:{visit.id}",
                 f"Double-up for {adult.initials} at {hhmm(visit.planned_start, settings.tz)}: "
                 f"{staffed.note()}",
                 _deadline(visit.planned_start, timedelta(minutes=settings.kpi.late_after), red),
                 red, planned_visit_id=visit.id)


def short_of_carer_query(lo: datetime, hi: datetime, settings: Settings) -> Any:
    """Double-ups someone logged in to whose start + the late window (half for red) is in [lo, hi).

    The other half of late_start_query: at that deadline a visit has either nobody (a late start)
    or somebody; this reads the second kind when two or more carers are booked.
    """
    return (select(PlannedVisit, Adult).join(Adult, PlannedVisit.adult_id == Adult.id)
            .where(PlannedVisit.status == VisitStatus.PLANNED,
                   _by_rag(PlannedVisit.planned_start, lo, hi,
                           timedelta(minutes=settings.kpi.late_after)),
                   _logged_in(), _carers_booked() >= 2))


def short_of_carers(session: Session, lo: datetime, hi: datetime, now: datetime,
                    settings: Settings) -> list[Raise]:
    """Double-ups not fully staffed by planned start + the late window: a lone carer cannot give
    two-person care (a hoist, a turn), so the office must send someone or decide what to do."""
    found = []
    for visit, adult in session.execute(short_of_carer_query(lo, hi, settings)):
        staffed = staffing(session, visit)
        if staffed.short:
            found.append(_short_of_carer(visit, adult, staffed, settings))
    return found


def short_of_carer_handovers(session: Session, now: datetime, settings: Settings
                             ) -> list[Raise]:
    """Double-ups raised as late or missed (nobody there) that one carer has since come to alone.

    Their late deadline has passed with nobody logged in, so short_of_carers never saw them; the
    not-started alert hands over to this one (tick.py keeps its ladder place), and settles
    quietly (settled()). Reads the unresolved not-started alerts only, not the rota.
    """
    short = aliased(Alert)
    rows = session.execute(
        select(PlannedVisit, Adult).join(Alert, Alert.planned_visit_id == PlannedVisit.id)
        .join(Adult, PlannedVisit.adult_id == Adult.id)
        .where(Alert.kind.in_([AlertKind.LATE_START, AlertKind.MISSED_VISIT]),
               Alert.state.in_([AlertState.OPEN, AlertState.ACKNOWLEDGED]),
               PlannedVisit.status == VisitStatus.PLANNED, _logged_in(), _carers_booked() >= 2,
               ~exists().where(short.kind == AlertKind.SHORT_OF_CARER,
                               short.subject_key == Alert.subject_key))
        .order_by(PlannedVisit.id)).unique()
    found = []
    for visit, adult in rows:
        staffed = staffing(session, visit)
        if staffed.short:
            found.append(_short_of_carer(visit, adult, staffed, settings))
    return found


def missing_log_outs(session: Session, lo: datetime, hi: datetime, now: datetime,
                     settings: Settings) -> list[Raise]:
    """Carers still logged in at their expected end + the chase window (one alert per carer).

    The expected end follows the actual log-in (deadlines.expected_end, kept on the visit at
    log-in): a carer who came late is chased when their visit should be over, not at once.
    """
    chase = timedelta(minutes=settings.kpi.log_out_chase_after)
    rows = session.execute(
        select(ActualVisit, PlannedVisit, Adult, CareWorker)
        .join(PlannedVisit, ActualVisit.planned_visit_id == PlannedVisit.id)
        .join(Adult, PlannedVisit.adult_id == Adult.id)
        .join(CareWorker, ActualVisit.care_worker_id == CareWorker.id)
        .where(ActualVisit.state == ActualVisitState.OPEN,
               PlannedVisit.status == VisitStatus.PLANNED,
               _by_rag(ActualVisit.expected_end_at, lo, hi, chase)))
    tz = settings.tz
    return [Raise(AlertKind.MISSING_LOG_OUT, f"carer-visit:{actual.id}",
                  f"{carer.initials} not logged out of {adult.initials} visit "
                  f"{hhmm(visit.planned_start, tz)}-{hhmm(visit.planned_end, tz)}",
                  _deadline(actual.expected_end_at or visit.planned_end, chase,
                            adult.rag == Rag.RED), adult.rag == Rag.RED,
                  planned_visit_id=visit.id, actual_visit_id=actual.id,
                  care_worker_id=carer.id)
            for actual, visit, adult, carer in rows]


def unplanned_log_out_query(lo: datetime, hi: datetime, settings: Settings) -> Any:
    """Open unplanned visits whose log-in + the longest visit + the chase is in [lo, hi).

    A visit matched to a planned visit since cancelled counts as unplanned: missing_log_outs
    reads planned visits only (a cancelled one has no end to keep), so without this a carer who
    went anyway, or logged in before the cancellation reached the rota, was never chased.
    Only the chase is halved for red clients: the length of the visit is not theirs to shorten.
    Ranges over the (state, started_at) index, so only open visits are read.
    """
    longest = settings.escalation.unplanned_visit_time()
    chase = timedelta(minutes=settings.kpi.log_out_chase_after)
    started = ActualVisit.started_at
    return (select(ActualVisit, Adult, CareWorker, PlannedVisit.status)
            .outerjoin(Adult, ActualVisit.adult_id == Adult.id)
            .join(CareWorker, ActualVisit.care_worker_id == CareWorker.id)
            .outerjoin(PlannedVisit, ActualVisit.planned_visit_id == PlannedVisit.id)
            .where(ActualVisit.state == ActualVisitState.OPEN,
                   or_(ActualVisit.planned_visit_id.is_(None),
                       PlannedVisit.status == VisitStatus.CANCELLED),
                   or_(and_(Adult.rag == Rag.RED, _window(started, lo, hi, longest + chase / 2)),
                       and_(or_(Adult.rag.is_(None), Adult.rag != Rag.RED),
                            _window(started, lo, hi, longest + chase)))))


def unplanned_missing_log_outs(session: Session, lo: datetime, hi: datetime, now: datetime,
                               settings: Settings) -> list[Raise]:
    """Carers still logged in to an unplanned (or cancelled) visit long after any normal visit
    would end.

    An unplanned visit has no planned end, so its deadline counts from the log-in: the longest
    normal visit (ESCALATION_UNPLANNED_VISIT_MINUTES) plus the log-out chase. The alert is the
    planned case's kind and subject (one per carer's visit), so it climbs and settles the same,
    and a visit cancelled after the planned rule raised its alert is not raised twice.
    """
    longest = settings.escalation.unplanned_visit_time()
    found = []
    for actual, adult, carer, status in session.execute(
            unplanned_log_out_query(lo, hi, settings)):
        assert actual.started_at is not None  # the window excludes visits without a log-in
        red = adult is not None and adult.rag == Rag.RED
        what = "cancelled" if status == VisitStatus.CANCELLED else "unplanned"
        found.append(Raise(
            AlertKind.MISSING_LOG_OUT, f"carer-visit:{actual.id}",
            f"{carer.initials} not logged out of {adult.initials if adult else 'a client'} "
            f"{what} visit from {hhmm(actual.started_at, settings.tz)}",
            _deadline(actual.started_at + longest,
                      timedelta(minutes=settings.kpi.log_out_chase_after), red), red,
            planned_visit_id=actual.planned_visit_id, actual_visit_id=actual.id,
            care_worker_id=carer.id))
    return found


def carer_concerns(session: Session, lo: datetime, hi: datetime, now: datetime,
                   settings: Settings) -> list[Raise]:
    """Concerns carers recorded at log-out since the last tick."""
    rows = session.execute(
        select(ConcernRecording, Adult, CareWorker)
        .outerjoin(Adult, ConcernRecording.adult_id == Adult.id)
        .outerjoin(CareWorker, ConcernRecording.care_worker_id == CareWorker.id)
        .where(ConcernRecording.created_at >= lo, ConcernRecording.created_at < hi))
    found = []
    for concern, adult, carer in rows:
        actual = (session.get(ActualVisit, concern.actual_visit_id)
                  if concern.actual_visit_id else None)
        found.append(Raise(
            AlertKind.CARER_CONCERN, f"concern:{concern.id}",
            f"{carer.initials if carer else 'a carer'} recorded a concern at "
            f"{adult.initials if adult else 'a client'} {hhmm(concern.created_at, settings.tz)}; "
            "listen on the dashboard", concern.created_at,
            red=adult is not None and adult.rag == Rag.RED,
            planned_visit_id=actual.planned_visit_id if actual else None,
            actual_visit_id=concern.actual_visit_id, care_worker_id=concern.care_worker_id,
            concern_recording_id=concern.id))
    return found


def _reasons_waiting(session: Session, visits: list[PlannedVisit], settings: Settings,
                     now: datetime) -> set[int]:
    # The domain judges which visits need a reason code and whether one was given
    # (visits/verdicts.py): the alert, the board and the KPI report read the same verdict.
    return {visit.id for visit, summary in zip(visits, summaries_of(session, visits, settings, now),
                                                strict=True)
            if summary.reason.waiting}


def _reason_rule(kind: AlertKind, hours: Callable[[Settings], int], word: str
                 ) -> Callable[[Session, datetime, datetime, datetime, Settings], list[Raise]]:
    def rule(session: Session, lo: datetime, hi: datetime, now: datetime,
             settings: Settings) -> list[Raise]:
        delay = timedelta(hours=hours(settings))
        due = timedelta(hours=settings.kpi.reason_code_due_hours)
        rows = session.execute(
            select(PlannedVisit, Adult).join(Adult, PlannedVisit.adult_id == Adult.id)
            .where(_window(PlannedVisit.planned_start, lo, hi, delay))
            .options(selectinload(PlannedVisit.care_workers))).all()
        waiting = _reasons_waiting(session, [visit for visit, _adult in rows], settings, now)
        found = []
        for visit, adult in rows:
            if visit.id not in waiting:
                continue
            what = "cancelled" if visit.status == VisitStatus.CANCELLED else "missed"
            found.append(Raise(
                kind, f"visit:{visit.id}",
                f"reason code {word} {day_hhmm(visit.planned_start + due, settings.tz)} for "
                f"{adult.initials} {what} visit {day_hhmm(visit.planned_start, settings.tz)}",
                visit.planned_start + delay, planned_visit_id=visit.id))
        return found
    return rule


reason_codes_due = _reason_rule(AlertKind.REASON_CODE_DUE,
                                lambda s: s.escalation.reason_code_reminder_hours, "due by")
reason_codes_overdue = _reason_rule(AlertKind.REASON_CODE_OVERDUE,
                                    lambda s: s.kpi.reason_code_due_hours, "OVERDUE since")

Rule = Callable[[Session, datetime, datetime, datetime, Settings], list[Raise]]

# Cursor name -> rule. Order matters within a tick: missed after late, overdue after due.
DEADLINE_RULES: list[tuple[str, Rule]] = [
    ("late_start", late_starts),
    ("missed_visit", missed_visits),
    ("short_of_carer", short_of_carers),
    ("missing_log_out", missing_log_outs),
    ("unplanned_log_out", unplanned_missing_log_outs),
    ("carer_concern", carer_concerns),
    ("reason_code_due", reason_codes_due),
    ("reason_code_overdue", reason_codes_overdue),
]


def forwarding_failures(session: Session, now: datetime, settings: Settings) -> list[Raise]:
    """Council records the outbox gave up on (dead letters): a person must look."""
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.last_error, OutboxMessage.created_at)
        .where(OutboxMessage.status == OutboxStatus.DEAD, OutboxMessage.kind.in_(FORWARDING_KINDS),
               ~exists().where(Alert.kind == AlertKind.FORWARDING_FAILED,
                               Alert.outbox_message_id == OutboxMessage.id)))
    return [Raise(AlertKind.FORWARDING_FAILED, f"outbox:{message_id}",
                  f"council record {message_id} refused, see outbox dead letters",
                  now, outbox_message_id=message_id)
            for message_id, _error, _created in rows]


def advance_cursor(session: Session, name: str, now: datetime, lookback: timedelta
                   ) -> tuple[datetime, datetime] | None:
    """The [since, until) range this rule should read now, and move the cursor to now."""
    cursor = session.get(EscalationCursor, name)
    if cursor is None:
        session.add(EscalationCursor(name=name, checked_until=now))
        return now - lookback, now
    since = cursor.checked_until
    if since >= now:
        return None  # another scheduler (or a clock behind ours) already read this far
    cursor.checked_until = now
    return since, now


@dataclass(frozen=True)
class Settled:
    """Why an alert no longer stands, and whether to tell those who were told."""

    reason: str
    tell: bool = True


def _first_log_in(session: Session, planned_visit_id: int) -> tuple[datetime, str] | None:
    row = session.execute(
        select(ActualVisit.started_at, CareWorker.given_name, CareWorker.family_name)
        .join(CareWorker, ActualVisit.care_worker_id == CareWorker.id)
        .where(ActualVisit.planned_visit_id == planned_visit_id,
               ActualVisit.started_at.is_not(None))
        .order_by(ActualVisit.started_at).limit(1)).first()
    if row is None:
        return None
    started_at, given, family = row
    if started_at is None:
        return None
    return started_at, initials_of(given, family)


def settled(session: Session, alert: Alert, settings: Settings, now: datetime
            ) -> Settled | None:
    """The reason an unresolved alert has sorted itself out, or None if it still stands."""
    tz = settings.tz
    if alert.kind in (AlertKind.LATE_START, AlertKind.MISSED_VISIT):
        assert alert.planned_visit_id is not None
        visit = session.get_one(PlannedVisit, alert.planned_visit_id)
        if visit.status == VisitStatus.CANCELLED:
            return Settled("the visit was cancelled on the rota")
        if session.scalar(select(Alert.id).where(Alert.kind == AlertKind.SHORT_OF_CARER,
                                                 Alert.subject_key == alert.subject_key)):
            # A carer came alone to a double-up: the short-of-carer alert, told to the rung this
            # one reached, is the news; "resolved" first would read as if all were well.
            return Settled("now raised as a double-up short of a carer", tell=False)
        first = _first_log_in(session, visit.id)
        if first is not None:
            return Settled(f"{first[1]} logged in at {visit.adult.initials} {hhmm(first[0], tz)}")
        if alert.kind is AlertKind.LATE_START and session.scalar(
                select(Alert.id).where(Alert.kind == AlertKind.MISSED_VISIT,
                                       Alert.subject_key == alert.subject_key)):
            return Settled("now raised as a missed visit", tell=False)
        return None
    if alert.kind is AlertKind.SHORT_OF_CARER:
        assert alert.planned_visit_id is not None
        visit = session.get_one(PlannedVisit, alert.planned_visit_id)
        if visit.status == VisitStatus.CANCELLED:
            return Settled("the visit was cancelled on the rota")
        staffed = staffing(session, visit)
        if staffed.needed < 2:
            return Settled("the visit needs one carer on the rota now")
        if staffed.together_from is not None:
            everyone = "both carers" if staffed.needed == 2 else f"all {staffed.needed} carers"
            return Settled(f"{everyone} logged in at {visit.adult.initials} "
                           f"{hhmm(staffed.together_from, tz)}")
        return None
    if alert.kind is AlertKind.MISSING_LOG_OUT:
        assert alert.actual_visit_id is not None
        actual = session.get_one(ActualVisit, alert.actual_visit_id)
        if actual.state is ActualVisitState.CLOSED and actual.ended_at is not None:
            carer = actual.care_worker.initials
            return Settled(f"{carer} logged out at {hhmm(actual.ended_at, tz)}")
        if actual.state is ActualVisitState.MISSING_LOG_OUT:
            return Settled(f"{actual.care_worker.initials} has since logged in elsewhere; the "
                           "log-out stays missing")
        return None
    if alert.kind in (AlertKind.REASON_CODE_DUE, AlertKind.REASON_CODE_OVERDUE):
        assert alert.planned_visit_id is not None
        visit = session.get_one(PlannedVisit, alert.planned_visit_id)
        if not _reasons_waiting(session, [visit], settings, now):
            return Settled("the reason code has been recorded")
        if alert.kind is AlertKind.REASON_CODE_DUE and session.scalar(
                select(Alert.id).where(Alert.kind == AlertKind.REASON_CODE_OVERDUE,
                                       Alert.subject_key == alert.subject_key)):
            return Settled("now overdue", tell=False)
        return None
    if alert.kind is AlertKind.FORWARDING_FAILED:
        status = session.scalar(select(OutboxMessage.status)
                                .where(OutboxMessage.id == alert.outbox_message_id))
        if status is not OutboxStatus.DEAD:
            return Settled("the council record went through on retry")
        return None
    return None  # a carer's concern is resolved by the person who acknowledges it, not here


# Today's safety alerts (not started, short of a carer, no log-out) stop standing after a day:
# by then the visit is history, its reason code has its own alert, and a tick should not keep
# re-checking a morning when nobody logged in for ever.
TODAYS_KINDS = (AlertKind.LATE_START, AlertKind.MISSED_VISIT, AlertKind.SHORT_OF_CARER,
                AlertKind.MISSING_LOG_OUT)
ALERT_DAY = timedelta(hours=24)
PAST_ITS_DAY = "past its day: the visit stays on the board for the record"


def settle_past_their_day(session: Session, now: datetime) -> list[int]:
    """Resolve (without telling anyone) today's-kind alerts whose deadline is a day old."""
    ids = list(session.scalars(select(Alert.id).where(
        Alert.state.in_([AlertState.OPEN, AlertState.ACKNOWLEDGED]),
        Alert.kind.in_(TODAYS_KINDS), Alert.deadline_at < now - ALERT_DAY)))
    if ids:
        session.execute(update(Alert).where(Alert.id.in_(ids)).values(
            state=AlertState.RESOLVED, resolved_at=now, resolved_reason=PAST_ITS_DAY,
            next_escalation_at=None).execution_options(synchronize_session="fetch"))
    return ids


def may_have_settled(session: Session) -> list[Alert]:
    """The unresolved alerts `settled` could resolve now: what a tick re-checks.

    A not-started alert (late, missed) can only settle once its visit has a log-in, is
    cancelled, or has been raised as something else; one indexed query finds those, so the
    tick's cost follows what changed, not every alert still waiting (a morning when nobody
    logged in left thousands to re-read one by one, 10.9 s a tick). The other kinds are few
    and are re-checked as before.
    """
    later = aliased(Alert)
    not_started = Alert.kind.in_([AlertKind.LATE_START, AlertKind.MISSED_VISIT])
    changed = or_(
        exists().where(ActualVisit.planned_visit_id == Alert.planned_visit_id),
        exists().where(PlannedVisit.id == Alert.planned_visit_id,
                       PlannedVisit.status == VisitStatus.CANCELLED),
        exists().where(later.subject_key == Alert.subject_key, later.id != Alert.id,
                       later.kind.in_([AlertKind.SHORT_OF_CARER, AlertKind.MISSED_VISIT])))
    return list(session.scalars(
        select(Alert).where(Alert.state.in_([AlertState.OPEN, AlertState.ACKNOWLEDGED]),
                            Alert.kind != AlertKind.CARER_CONCERN,
                            or_(~not_started, changed))
        .order_by(Alert.id)))
