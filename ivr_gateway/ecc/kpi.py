"""KPI figures for the council and the office: Essex contract KPI 3, reason codes, verification.

Pure reading: one pass over the planned visits of a range of local days, their actual visits and
log events. Every definition is written out in DEFINITIONS, which the report prints.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    CareWorker,
    LogEvent,
    PlannedVisit,
    PlannedVisitCareWorker,
    Rag,
    Verification,
    VisitStatus,
)
from ivr_gateway.visits.council import (
    LONGEST_SPAN,
    UNFILLED_PLACE,
    BookedCarer,
    ClientVisitSpan,
    Timeliness,
    absent_carers,
    merged_into,
)
from ivr_gateway.visits.outcomes import CarerTimes, all_carers_from
from ivr_gateway.visits.queries import local_day_bounds
from ivr_gateway.visits.reasons import ReasonStatus, recorded_reasons
from ivr_gateway.visits.verdicts import VisitFacts, VisitVerdict, council_note, judge_visit

__all__ = ["MIX", "UNFILLED_PLACE", "GroupFigures", "KpiReport", "ReasonStatus", "Timeliness",
           "VisitKpi", "all_carers_from", "build_kpi_report"]


DEFINITIONS: list[tuple[str, str]] = [
    ("Visits counted", "Planned visits whose planned start falls on a day of the range (local "
     "days, Europe/London). Cancelled visits are counted apart and are in no rate."),
    ("Delivered", "At least one carer logged in to the visit; the actual start is the earliest "
     "log-in of its carers, the actual end the latest log-out. A double-up visit (two or more "
     "carers booked on it) is fully delivered only from the moment all its carers were logged "
     "in at the same time: that moment, not the first log-in, is what on time, late and KPI 3 "
     "judge."),
    ("KPI 3 window", "Every visit must start by 11 pm local time on its day and before the next "
     "planned visit of the same client starts. A time-critical visit must also start within 30 "
     "minutes either side of its planned start (Essex contract, Schedule 2, KPI 3)."),
    ("On time", "Delivered inside the KPI 3 window and, for a visit that is not time-critical, "
     "started no more than {late} minutes after its planned start."),
    ("Late", "Delivered inside the 11 pm / next-visit window but started more than {late} "
     "minutes after planned start; a time-critical visit started outside +/- 30 minutes "
     "(early or late) is late and fails KPI 3."),
    ("Double-up short of a carer", "A double-up visit a carer logged in to that never had all "
     "its booked carers logged in at the same time before 11 pm and before the next planned "
     "visit started: one carer came alone, the second came only after that, or they were "
     "never there together. It is not delivered: it fails KPI 3 and is in the rate, under this "
     "heading instead of on time, late or missed. By carer, each booked carer who did not log "
     "in has it counted as a missed visit (where a substitute came and whose place went "
     "unfilled is not known, as an 'unfilled place'). A carer who has not logged out counts as "
     "there. No reason code is needed: the council asks for one only for a cancelled or "
     "missed visit, and a carer did attend this one. The office board shows it as short of "
     "a carer, with how many of its carers logged in."),
    ("Missed", "Not delivered; or delivered after 11 pm or after the next planned visit "
     "started; or merged into another visit (a carer's visit at the client covering its planned "
     "time while it had no log-in of its own): the contract counts a merged visit as missed."),
    ("Pending", "Not delivered yet (or a double-up still short of a carer), and its KPI 3 "
     "window has not closed at the time of the report: in no rate."),
    ("Short", "Delivered and logged out with less than the commissioned time (planned end minus "
     "planned start, less {tolerance} minutes' tolerance). No reason code is needed."),
    ("KPI 3 met", "Delivered inside the KPI 3 window (for a double-up, with all its carers); "
     "the rate is over visits counted that are neither cancelled nor pending."),
    ("Reason code due", "Missed and cancelled visits need a reason code within {due} hours of the "
     "planned start, weekends included; short visits and double-ups short of a carer need "
     "none. Completed on time: recorded by then; late: recorded after; outstanding: not "
     "recorded, still due; overdue: not recorded, past due. A "
     "cancellation's reason is the rota's cancel_reason, recorded when the visit was cancelled."),
    ("Verification mix", "Log events (not superseded by a correction) whose event time falls in "
     "the range, by how presence was proven: IVR (call from the client's registered landline), "
     "token (code from the token in the home), sheet (code-sheet code), office (entered by "
     "staff), unverified."),
]

VERIFICATION_LABELS = {Verification.CALLER_ID: "ivr", Verification.TOKEN_CODE: "token",
                       Verification.SHEET_CODE: "sheet", Verification.OFFICE: "office",
                       Verification.UNVERIFIED: "unverified"}
MIX = ["ivr", "token", "sheet", "office", "unverified"]


@dataclass(frozen=True)
class VisitKpi:
    """One planned visit's line in the report."""

    ref: str
    day: date
    adult_ref: str
    adult_name: str
    carers: tuple[tuple[str, str], ...]  # (ref, name): who logged in, else who was planned
    carers_needed: int  # carers booked on the visit (2 or more: a double-up)
    carers_logged_in: int  # different carers who logged in to it
    all_carers_from: datetime | None  # first moment all the carers needed were logged in
    absent: tuple[tuple[str, str], ...]  # booked carers missing from a short double-up
    planned_start: datetime
    planned_end: datetime
    time_critical: bool
    timeliness: Timeliness
    kpi3_met: bool | None
    missed_because: str
    minutes_from_planned: int | None  # actual start minus planned start
    actual_start: datetime | None
    actual_end: datetime | None
    duration_minutes: int | None
    commissioned_minutes: int
    short: bool
    reason_code: str | None
    reason_due_at: datetime | None
    reason_recorded_at: datetime | None
    reason_status: ReasonStatus
    office_status: str = ""  # the office's status (visits/outcomes.py Outcome) at the report
    council_differs: bool = False  # the council's verdict says something the status does not


@dataclass
class GroupFigures:
    """Counts for one day, carer or client."""

    visits: int = 0
    on_time: int = 0
    late: int = 0
    short_of_carer: int = 0
    missed: int = 0
    cancelled: int = 0
    pending: int = 0
    short: int = 0
    kpi3_met: int = 0
    reasons_needed: int = 0
    reasons_on_time: int = 0
    verification: Counter[str] = field(default_factory=Counter)

    @property
    def assessed(self) -> int:
        """Visits in the KPI 3 rate (not cancelled, not pending)."""
        return self.on_time + self.late + self.short_of_carer + self.missed

    @property
    def kpi3_rate(self) -> float | None:
        """Share of assessed visits that met KPI 3."""
        return self.kpi3_met / self.assessed if self.assessed else None

    @property
    def reason_rate(self) -> float | None:
        """Share of needed reason codes recorded in time (of those due or recorded)."""
        return self.reasons_on_time / self.reasons_needed if self.reasons_needed else None

    def add(self, visit: VisitKpi, absent: bool = False) -> None:
        """Count one visit; `absent` counts a booked carer's missing place in a double-up."""
        self.visits += 1
        if absent:
            self.missed += 1  # their carer-visit was not delivered at all
            return
        setattr(self, visit.timeliness.value, getattr(self, visit.timeliness.value) + 1)
        self.short += visit.short
        self.kpi3_met += bool(visit.kpi3_met)
        if visit.reason_status not in (ReasonStatus.NOT_NEEDED, ReasonStatus.OUTSTANDING):
            self.reasons_needed += 1
            self.reasons_on_time += visit.reason_status == ReasonStatus.ON_TIME


@dataclass(frozen=True)
class KpiReport:
    """The whole report: lines, and figures by day, carer and client."""

    first_day: date
    last_day: date
    generated_at: datetime
    timezone: str
    visits: list[VisitKpi]
    total: GroupFigures
    by_day: dict[date, GroupFigures]
    by_carer: dict[str, GroupFigures]  # "ref name"
    by_client: dict[str, GroupFigures]
    definitions: list[tuple[str, str]]
    reason_code_due_hours: int = 48  # a missed or cancelled visit's reason is due in this time


def _name(given: str, family: str) -> str:
    return f"{given} {family}".strip()


class _Planned(NamedTuple):
    """A planned visit's columns, as read (plain values: no ORM rows to lazy-load from)."""

    id: int
    ref: str
    adult_id: int
    planned_start: datetime
    planned_end: datetime
    cancelled: bool
    cancel_reason: str | None
    updated_at: datetime
    time_critical: bool


class _Actual(NamedTuple):
    """A carer's actual visit at a client in or around the range."""

    id: int
    care_worker_id: int
    carer: tuple[str, str]  # (ref, name)
    adult_id: int
    planned_visit_id: int | None
    started_at: datetime
    ended_at: datetime | None
    state: ActualVisitState


def _read_rota(session: Session, start: datetime, end: datetime) -> list[_Planned]:
    """The range's planned visits, by planned start."""
    rows = session.execute(
        select(PlannedVisit.id, PlannedVisit.ref, PlannedVisit.adult_id,
               PlannedVisit.planned_start, PlannedVisit.planned_end, PlannedVisit.status,
               PlannedVisit.cancel_reason, PlannedVisit.updated_at, PlannedVisit.time_critical)
        .where(PlannedVisit.planned_start >= start, PlannedVisit.planned_start < end)
        .order_by(PlannedVisit.planned_start, PlannedVisit.id))
    return [_Planned(r.id, r.ref, r.adult_id, r.planned_start, r.planned_end,
                     r.status == VisitStatus.CANCELLED, r.cancel_reason, r.updated_at,
                     r.time_critical) for r in rows]


def _first_visits_after(session: Session, end: datetime) -> dict[int, datetime]:
    """Each client's first planned (not cancelled) start in the day after the range.

    The next planned visit of a client's last visit in the range: KPI 3 wants it started before.
    """
    return {r.adult_id: r.first for r in session.execute(
        select(PlannedVisit.adult_id, func.min(PlannedVisit.planned_start).label("first"))
        .where(PlannedVisit.planned_start >= end,
               PlannedVisit.planned_start < end + timedelta(days=1),
               PlannedVisit.status != VisitStatus.CANCELLED)
        .group_by(PlannedVisit.adult_id))}


def _in_range_ids(start: datetime, end: datetime) -> Select[int]:
    return select(PlannedVisit.id).where(PlannedVisit.planned_start >= start,
                                         PlannedVisit.planned_start < end)


def _in_range_adults(start: datetime, end: datetime) -> Select[int]:
    return select(PlannedVisit.adult_id).where(PlannedVisit.planned_start >= start,
                                               PlannedVisit.planned_start < end)


def _read_booked(session: Session, start: datetime, end: datetime
                 ) -> dict[int, list[BookedCarer]]:
    """The carers booked on each planned visit of the range, in carer id order."""
    booked: dict[int, list[BookedCarer]] = defaultdict(list)
    for r in session.execute(
            select(PlannedVisitCareWorker.planned_visit_id, CareWorker.id, CareWorker.ref,
                   CareWorker.given_name, CareWorker.family_name)
            .join(CareWorker, CareWorker.id == PlannedVisitCareWorker.care_worker_id)
            .where(PlannedVisitCareWorker.planned_visit_id.in_(_in_range_ids(start, end)))
            .order_by(PlannedVisitCareWorker.planned_visit_id, CareWorker.id)):
        booked[r.planned_visit_id].append(
            BookedCarer(r.id, r.ref, _name(r.given_name, r.family_name)))
    return booked


def _read_adults(session: Session, start: datetime, end: datetime
                 ) -> dict[int, tuple[str, str, bool]]:
    """(ref, name, red-rated) of each client with a planned visit in the range."""
    return {r.id: (r.ref, _name(r.given_name, r.family_name), r.rag == Rag.RED)
            for r in session.execute(
                select(Adult.id, Adult.ref, Adult.given_name, Adult.family_name, Adult.rag)
                .where(Adult.id.in_(_in_range_adults(start, end))))}


def _read_actuals(session: Session, start: datetime, end: datetime, last_end: datetime
                  ) -> list[_Actual]:
    """The carers' visits that count for the range's planned visits.

    Those matched to one of them (started from a day before the range to a day after it), and
    any other at their clients that overlaps the range's planned times (a merged visit's cover).
    """
    finish = func.coalesce(ActualVisit.ended_at, ActualVisit.started_at)
    carers: dict[int, tuple[str, str]] = {}
    actuals = []
    for r in session.execute(
            select(ActualVisit.id, ActualVisit.care_worker_id, ActualVisit.adult_id,
                   ActualVisit.planned_visit_id, ActualVisit.started_at, ActualVisit.ended_at,
                   ActualVisit.state, CareWorker.ref, CareWorker.given_name, CareWorker.family_name)
            .join(CareWorker, CareWorker.id == ActualVisit.care_worker_id)
            .where(ActualVisit.adult_id.in_(_in_range_adults(start, end)),
                   ActualVisit.started_at.is_not(None),
                   ActualVisit.started_at < end + timedelta(days=1),
                   ActualVisit.started_at >= start - LONGEST_SPAN,
                   or_(ActualVisit.planned_visit_id.in_(_in_range_ids(start, end)),
                       (ActualVisit.started_at <= last_end) & (finish >= start)))
            .order_by(ActualVisit.started_at, ActualVisit.id)):
        carer = carers.get(r.care_worker_id)
        if carer is None:
            carer = carers[r.care_worker_id] = (r.ref, _name(r.given_name, r.family_name))
        actuals.append(_Actual(r.id, r.care_worker_id, carer, r.adult_id, r.planned_visit_id,
                               r.started_at, r.ended_at, r.state))
    return actuals


class _ClientSpans:
    """A client's actual visits sorted by start, to find those near a planned visit quickly."""

    def __init__(self) -> None:
        self.starts: list[datetime] = []
        self.spans: list[ClientVisitSpan] = []

    def add(self, span: ClientVisitSpan) -> None:
        """Append a span (they arrive sorted by start)."""
        self.starts.append(span.started_at)
        self.spans.append(span)

    def near(self, planned_start: datetime, planned_end: datetime) -> list[ClientVisitSpan]:
        """Spans that began from a day before the planned start to its planned end."""
        lo = bisect.bisect_left(self.starts, planned_start - LONGEST_SPAN)
        hi = bisect.bisect_right(self.starts, planned_end)
        return self.spans[lo:hi]


def build_kpi_report(session: Session, first_day: date, last_day: date, settings: Settings,
                     now: datetime) -> KpiReport:
    """The KPI report of local days first_day..last_day (inclusive) as known at `now`.

    Each visit is judged by the domain (visits/verdicts.py judge_visit), as the board, the
    alerts and the API judge it. Time linear in the visits: one query per table (plain
    columns, no ORM rows), then dicts.
    """
    if last_day < first_day:
        raise ValueError(f"--to {last_day} is before --from {first_day}")
    start, _ = local_day_bounds(first_day, settings)
    _, end = local_day_bounds(last_day, settings)
    windows = settings.kpi
    tz = settings.tz
    due_hours = windows.reason_code_due_hours
    in_range = _read_rota(session, start, end)
    next_start: dict[int, datetime] = {}
    by_adult: dict[int, list[_Planned]] = defaultdict(list)
    for v in in_range:
        if not v.cancelled:
            by_adult[v.adult_id].append(v)
    first_after = _first_visits_after(session, end)
    for adult_id, visits in by_adult.items():
        for earlier, later in itertools.pairwise(visits):
            next_start[earlier.id] = later.planned_start
        if adult_id in first_after:
            next_start[visits[-1].id] = first_after[adult_id]
    booked = _read_booked(session, start, end)
    adults = _read_adults(session, start, end)
    ids = {v.id for v in in_range}
    actuals: dict[int, list[_Actual]] = defaultdict(list)
    at_adult: dict[int, _ClientSpans] = defaultdict(_ClientSpans)
    last_end = max((v.planned_end for v in in_range), default=end)
    for actual in _read_actuals(session, start, end, last_end):
        at_adult[actual.adult_id].add(ClientVisitSpan(actual.planned_visit_id, actual.carer[0],
                                                      actual.started_at, actual.ended_at))
        if actual.planned_visit_id in ids:
            actuals[actual.planned_visit_id].append(actual)
    reasons = recorded_reasons(session, in_range, among=_in_range_ids(start, end))

    verdicts: list[tuple[_Planned, VisitVerdict]] = []
    for visit in in_range:
        delivered = actuals.get(visit.id, [])  # sorted by start
        merged = (merged_into(planned_visit_id=visit.id, planned_start=visit.planned_start,
                              planned_end=visit.planned_end,
                              spans=at_adult[visit.adult_id].near(visit.planned_start,
                                                                  visit.planned_end))
                  if not delivered and visit.adult_id in at_adult else None)
        verdicts.append((visit, judge_visit(VisitFacts(
            planned_start=visit.planned_start, planned_end=visit.planned_end,
            cancelled=visit.cancelled, time_critical=visit.time_critical,
            red=adults[visit.adult_id][2],
            carers=[CarerTimes(a.started_at, a.ended_at, a.state == ActualVisitState.OPEN,
                               a.state == ActualVisitState.MISSING_LOG_OUT,
                               care_worker_id=a.care_worker_id) for a in delivered],
            carers_needed=len(booked.get(visit.id, ())),
            next_planned_start=next_start.get(visit.id), merged_into=merged,
            reason=reasons.get(visit.id)), now, settings)))

    final: list[VisitKpi] = []
    for visit, judged in verdicts:
        verdict, standing = judged.council, judged.reason
        delivered = actuals.get(visit.id, [])
        booked_here = booked.get(visit.id, [])
        carers = tuple(dict.fromkeys(a.carer for a in delivered)) or tuple(
            (c.ref, c.name) for c in booked_here)
        timeliness = verdict.timeliness
        absent = (absent_carers(booked_here, {a.care_worker_id for a in delivered},
                                verdict.carers_needed)
                  if timeliness == Timeliness.SHORT_OF_CARER else ())
        ends = [a.ended_at for a in delivered]
        actual_end = max(e for e in ends if e is not None) if ends and all(ends) else None
        actual_start = verdict.actual_start
        commissioned = int((visit.planned_end - visit.planned_start).total_seconds() // 60)
        duration = (int((actual_end - actual_start).total_seconds() // 60)
                    if actual_start is not None and actual_end is not None else None)
        short = (duration is not None and timeliness != Timeliness.MISSED
                 and duration < commissioned - windows.short_tolerance)
        adult_ref, adult_name, _red = adults[visit.adult_id]
        office = judged.outcome
        final.append(VisitKpi(
            ref=visit.ref, day=visit.planned_start.astimezone(tz).date(),
            adult_ref=adult_ref, adult_name=adult_name, carers=carers,
            carers_needed=verdict.carers_needed, carers_logged_in=verdict.carers_logged_in,
            all_carers_from=verdict.all_carers_from, absent=absent,
            planned_start=visit.planned_start, planned_end=visit.planned_end,
            time_critical=visit.time_critical, timeliness=timeliness,
            kpi3_met=verdict.kpi3_met, missed_because=verdict.because,
            minutes_from_planned=(int((actual_start - visit.planned_start).total_seconds() // 60)
                                  if actual_start is not None else None),
            actual_start=actual_start, actual_end=actual_end, duration_minutes=duration,
            commissioned_minutes=commissioned, short=short, reason_code=standing.code,
            reason_due_at=standing.due_at,
            reason_recorded_at=standing.recorded.recorded_at if standing.recorded else None,
            reason_status=standing.status, office_status=office.outcome.value,
            council_differs=bool(council_note(office.outcome.value, office.minutes_late,
                                              timeliness.value))))

    total = GroupFigures()
    by_day: dict[date, GroupFigures] = {}
    by_carer: dict[str, GroupFigures] = {}
    by_client: dict[str, GroupFigures] = {}
    day = first_day
    while day <= last_day:
        by_day[day] = GroupFigures()
        day += timedelta(days=1)
    for line in final:
        total.add(line)
        by_day[line.day].add(line)
        for ref, name in line.carers:
            by_carer.setdefault(f"{ref} {name}", GroupFigures()).add(line)
        for ref, name in line.absent:
            by_carer.setdefault(f"{ref} {name}".strip(), GroupFigures()).add(line, absent=True)
        by_client.setdefault(f"{line.adult_ref} {line.adult_name}", GroupFigures()).add(line)
    _count_verification(session, first_day, last_day, settings, total, by_day, by_carer,
                        by_client)
    definitions = [(term, text.format(late=windows.late_after,
                                      tolerance=windows.short_tolerance, due=due_hours))
                   for term, text in DEFINITIONS]
    return KpiReport(first_day, last_day, now, settings.timezone, final, total, by_day,
                     dict(sorted(by_carer.items())), dict(sorted(by_client.items())),
                     definitions, due_hours)


def _count_verification(session: Session, first_day: date, last_day: date,
                        settings: Settings, total: GroupFigures,
                        by_day: dict[date, GroupFigures], by_carer: dict[str, GroupFigures],
                        by_client: dict[str, GroupFigures]) -> None:
    """The verification mix of the range's log events (not superseded), counted by the database.

    By local day (a CASE over the days' UTC bounds, so both engines agree across clock changes),
    by carer and by client: three grouped queries, a row per group, not per event.
    """
    days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    bounds = [local_day_bounds(day, settings) for day in days]
    start, end = bounds[0][0], bounds[-1][1]
    in_range = (LogEvent.event_time >= start, LogEvent.event_time < end,
                LogEvent.superseded_by_id.is_(None))
    n = func.count().label("n")
    day_index = case(*((LogEvent.event_time < day_end, i)
                       for i, (_s, day_end) in enumerate(bounds)), else_=len(days) - 1)
    for r in session.execute(select(day_index.label("day"), LogEvent.verification, n)
                             .where(*in_range).group_by(day_index, LogEvent.verification)):
        label = VERIFICATION_LABELS[r.verification]
        total.verification[label] += r.n
        by_day[days[r.day]].verification[label] += r.n
    for r in session.execute(
            select(CareWorker.ref, CareWorker.given_name, CareWorker.family_name,
                   LogEvent.verification, n)
            .join(CareWorker, CareWorker.id == LogEvent.care_worker_id).where(*in_range)
            .group_by(CareWorker.id, CareWorker.ref, CareWorker.given_name,
                      CareWorker.family_name, LogEvent.verification)):
        figures = by_carer.setdefault(f"{r.ref} {_name(r.given_name, r.family_name)}",
                                      GroupFigures())
        figures.verification[VERIFICATION_LABELS[r.verification]] += r.n
    for r in session.execute(
            select(Adult.ref, Adult.given_name, Adult.family_name, LogEvent.verification, n)
            .join(Adult, Adult.id == LogEvent.adult_id).where(*in_range)
            .group_by(Adult.id, Adult.ref, Adult.given_name, Adult.family_name,
                      LogEvent.verification)):
        figures = by_client.setdefault(f"{r.ref} {_name(r.given_name, r.family_name)}",
                                       GroupFigures())
        figures.verification[VERIFICATION_LABELS[r.verification]] += r.n
