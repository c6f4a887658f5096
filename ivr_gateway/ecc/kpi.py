"""KPI figures for the council and the office: Essex contract KPI 3, reason codes, verification.

Pure reading: one pass over the planned visits of a range of local days, their actual visits and
log events. Every definition is written out in DEFINITIONS, which the report prints.
"""

from __future__ import annotations

import enum
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ivr_gateway.config import Settings
from ivr_gateway.models import (
    ActualVisit,
    AuditEntry,
    LogEvent,
    PlannedVisit,
    Verification,
    VisitStatus,
)
from ivr_gateway.visits.outcomes import all_carers_from
from ivr_gateway.visits.queries import local_day_bounds

TIME_CRITICAL_WINDOW = timedelta(minutes=30)  # Schedule 2 KPI 3: either side of planned start
LATEST_LOCAL_TIME = time(23, 0)  # Schedule 2 KPI 3: every visit by 11 pm that day
REASON_DUE_AFTER = timedelta(hours=48)  # DESIGN.md: reason codes within 48 h, weekends included

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
    ("Reason code due", "Missed and cancelled visits need a reason code within 48 hours of the "
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


class Timeliness(enum.StrEnum):
    """A planned visit's place in the report."""

    ON_TIME = "on_time"
    LATE = "late"
    SHORT_OF_CARER = "short_of_carer"  # a double-up never fully staffed in its window
    MISSED = "missed"
    CANCELLED = "cancelled"
    PENDING = "pending"


class ReasonStatus(enum.StrEnum):
    """Where a needed reason code stands."""

    NOT_NEEDED = "not_needed"
    ON_TIME = "on_time"
    LATE = "late"
    OUTSTANDING = "outstanding"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class ReasonRecord:
    """A reason code and when it was recorded."""

    code: str
    recorded_at: datetime


class MissedReasonSource(Protocol):
    """Where reason codes for missed visits come from (the office's: OfficeMissedReasons)."""

    def reasons(self, session: Session, planned_visit_ids: list[int]
                ) -> dict[int, ReasonRecord]:
        """Reason codes recorded for these missed planned visits."""
        ...


class NoMissedReasons:
    """No reason source given: none are known (all outstanding)."""

    def reasons(self, session: Session, planned_visit_ids: list[int]
                ) -> dict[int, ReasonRecord]:
        """No reasons."""
        return {}


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
        """Share of needed reason codes recorded within 48 hours (of those due or recorded)."""
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


def _name(given: str, family: str) -> str:
    return f"{given} {family}".strip()


def _deadline(visit: PlannedVisit, next_start: datetime | None, settings: Settings) -> datetime:
    local_day = visit.planned_start.astimezone(settings.tz).date()
    eleven = datetime.combine(local_day, LATEST_LOCAL_TIME, settings.tz)
    deadline = eleven.astimezone(visit.planned_start.tzinfo)
    if next_start is not None:
        deadline = min(deadline, next_start)
    if visit.time_critical:
        deadline = min(deadline, visit.planned_start + TIME_CRITICAL_WINDOW)
    return deadline


def _cancel_reasons(session: Session, visits: list[PlannedVisit]) -> dict[int, ReasonRecord]:
    refs = {v.ref: v for v in visits if v.status == VisitStatus.CANCELLED and v.cancel_reason}
    if not refs:
        return {}
    first_cancel: dict[str, datetime] = {}
    for ref, at in session.execute(
            select(AuditEntry.entity_ref, AuditEntry.at).where(
                AuditEntry.entity == "planned_visit", AuditEntry.action == "cancel",
                AuditEntry.entity_ref.in_(list(refs))).order_by(AuditEntry.at)):
        first_cancel.setdefault(ref, at)
    return {v.id: ReasonRecord(str(v.cancel_reason), first_cancel.get(ref, v.updated_at))
            for ref, v in refs.items()}


def _reason(needed: bool, due: datetime, record: ReasonRecord | None, now: datetime
            ) -> ReasonStatus:
    if not needed:
        return ReasonStatus.NOT_NEEDED
    if record is not None:
        return ReasonStatus.ON_TIME if record.recorded_at <= due else ReasonStatus.LATE
    return ReasonStatus.OUTSTANDING if now <= due else ReasonStatus.OVERDUE


def build_kpi_report(session: Session, first_day: date, last_day: date, settings: Settings,
                     now: datetime, missed_reasons: MissedReasonSource | None = None
                     ) -> KpiReport:
    """The KPI report of local days first_day..last_day (inclusive) as known at `now`."""
    if last_day < first_day:
        raise ValueError(f"--to {last_day} is before --from {first_day}")
    start, _ = local_day_bounds(first_day, settings)
    _, end = local_day_bounds(last_day, settings)
    windows = settings.kpi
    # A day more of rota, to know each visit's next planned visit after the range.
    rota = list(session.scalars(
        select(PlannedVisit).where(PlannedVisit.planned_start >= start,
                                   PlannedVisit.planned_start < end + timedelta(days=1))
        .options(selectinload(PlannedVisit.adult), selectinload(PlannedVisit.care_workers))
        .order_by(PlannedVisit.planned_start, PlannedVisit.id)))
    in_range = [v for v in rota if v.planned_start < end]
    next_start: dict[int, datetime | None] = {}
    by_adult: dict[int, list[PlannedVisit]] = defaultdict(list)
    for v in rota:
        if v.status == VisitStatus.PLANNED:
            by_adult[v.adult_id].append(v)
    for visits in by_adult.values():
        for earlier, later in itertools.pairwise(visits):
            next_start[earlier.id] = later.planned_start
    ids = [v.id for v in in_range]
    actuals: dict[int, list[ActualVisit]] = defaultdict(list)
    at_adult: dict[int, list[ActualVisit]] = defaultdict(list)
    adult_ids = list({v.adult_id for v in in_range})
    for actual in session.scalars(select(ActualVisit).where(
            ActualVisit.adult_id.in_(adult_ids), ActualVisit.started_at.is_not(None),
            ActualVisit.started_at < end + timedelta(days=1),
            ActualVisit.started_at >= start - timedelta(days=1),
    ).options(selectinload(ActualVisit.care_worker))):
        at_adult[actual.adult_id or 0].append(actual)
        if actual.planned_visit_id in ids:
            actuals[actual.planned_visit_id].append(actual)
    cancel_reasons = _cancel_reasons(session, in_range)
    late_after = timedelta(minutes=windows.late_after)

    lines: list[VisitKpi] = []
    undelivered: list[tuple[PlannedVisit, datetime]] = []
    for visit in in_range:
        delivered = sorted(actuals.get(visit.id, []), key=lambda a: a.started_at or start)
        carers = tuple((a.care_worker.ref, _name(a.care_worker.given_name,
                                                 a.care_worker.family_name)) for a in delivered)
        carers = tuple(dict.fromkeys(carers)) or tuple(
            (c.ref, _name(c.given_name, c.family_name)) for c in visit.care_workers)
        deadline = _deadline(visit, next_start.get(visit.id), settings)
        actual_start = delivered[0].started_at if delivered else None
        needed = max(1, len(visit.care_workers))
        came = {a.care_worker_id for a in delivered}
        all_from = all_carers_from(delivered, needed)
        absent: tuple[tuple[str, str], ...] = ()
        ends = [a.ended_at for a in delivered]
        actual_end = max(e for e in ends if e is not None) if ends and all(ends) else None
        commissioned = int((visit.planned_end - visit.planned_start).total_seconds() // 60)
        kpi3: bool | None
        because = ""
        if visit.status == VisitStatus.CANCELLED:
            timeliness, kpi3 = Timeliness.CANCELLED, None
        elif actual_start is None:
            if now < deadline:
                timeliness, kpi3 = Timeliness.PENDING, None
            else:
                timeliness, kpi3, because = Timeliness.MISSED, False, "not attended"
                undelivered.append((visit, deadline))
        else:
            eleven = datetime.combine(visit.planned_start.astimezone(settings.tz).date(),
                                      LATEST_LOCAL_TIME, settings.tz)
            following = next_start.get(visit.id)
            closes = min(eleven, following) if following is not None else eleven
            if actual_start >= eleven:
                timeliness, kpi3, because = Timeliness.MISSED, False, "started after 11 pm"
            elif following is not None and actual_start >= following:
                timeliness, kpi3, because = (Timeliness.MISSED, False,
                                             "started after the next planned visit's start")
            elif all_from is None and now < closes:
                # A double-up with a carer in and the other still to come: not known yet.
                timeliness, kpi3 = Timeliness.PENDING, None
            elif all_from is None or all_from >= closes:
                timeliness, kpi3 = Timeliness.SHORT_OF_CARER, False
                because = _short_of_carer_because(needed, len(came), all_from, eleven)
                absent = _absent(visit, came, needed)
            else:
                # A double-up is judged from when all its carers were there (a lone carer
                # cannot give two-person care); for a single carer, that is the actual start.
                offset = all_from - visit.planned_start
                if visit.time_critical and abs(offset) > TIME_CRITICAL_WINDOW:
                    timeliness, kpi3 = Timeliness.LATE, False
                elif offset > late_after:
                    timeliness, kpi3 = Timeliness.LATE, True
                else:
                    timeliness, kpi3 = Timeliness.ON_TIME, True
        duration = (int((actual_end - actual_start).total_seconds() // 60)
                    if actual_start is not None and actual_end is not None else None)
        short = (duration is not None and timeliness != Timeliness.MISSED
                 and duration < commissioned - windows.short_tolerance)
        lines.append(VisitKpi(
            ref=visit.ref, day=visit.planned_start.astimezone(settings.tz).date(),
            adult_ref=visit.adult.ref,
            adult_name=_name(visit.adult.given_name, visit.adult.family_name), carers=carers,
            carers_needed=needed, carers_logged_in=len(came), all_carers_from=all_from,
            absent=absent,
            planned_start=visit.planned_start, planned_end=visit.planned_end,
            time_critical=visit.time_critical, timeliness=timeliness, kpi3_met=kpi3,
            missed_because=because,
            minutes_from_planned=(int((actual_start - visit.planned_start).total_seconds() // 60)
                                  if actual_start is not None else None),
            actual_start=actual_start, actual_end=actual_end, duration_minutes=duration,
            commissioned_minutes=commissioned, short=short, reason_code=None,
            reason_due_at=None, reason_recorded_at=None, reason_status=ReasonStatus.NOT_NEEDED))

    merged = _merged_into(undelivered, at_adult)
    missed_ids = [v.id for v in in_range
                  if any(line.ref == v.ref and line.timeliness == Timeliness.MISSED
                         for line in lines)]
    reasons = {**(missed_reasons or NoMissedReasons()).reasons(session, missed_ids),
               **cancel_reasons}
    visit_by_ref = {v.ref: v for v in in_range}
    final: list[VisitKpi] = []
    for line in lines:
        visit = visit_by_ref[line.ref]
        needed = line.timeliness in (Timeliness.MISSED, Timeliness.CANCELLED)
        due = visit.planned_start + REASON_DUE_AFTER
        record = reasons.get(visit.id)
        because = line.missed_because
        if visit.id in merged:
            because = f"merged into the visit of {merged[visit.id]}"
        final.append(replace(line, missed_because=because,
                              reason_code=record.code if record and needed else None,
                              reason_due_at=due if needed else None,
                              reason_recorded_at=record.recorded_at if record and needed
                              else None,
                              reason_status=_reason(needed, due, record, now)))

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
    for event in session.scalars(select(LogEvent).where(
            LogEvent.event_time >= start, LogEvent.event_time < end,
            LogEvent.superseded_by_id.is_(None))
            .options(selectinload(LogEvent.care_worker), selectinload(LogEvent.adult))):
        label = VERIFICATION_LABELS[event.verification]
        total.verification[label] += 1
        by_day[event.event_time.astimezone(settings.tz).date()].verification[label] += 1
        carer = event.care_worker
        by_carer.setdefault(f"{carer.ref} {_name(carer.given_name, carer.family_name)}",
                            GroupFigures()).verification[label] += 1
        if event.adult is not None:
            adult = event.adult
            by_client.setdefault(f"{adult.ref} {_name(adult.given_name, adult.family_name)}",
                                 GroupFigures()).verification[label] += 1
    definitions = [(term, text.format(late=windows.late_after,
                                      tolerance=windows.short_tolerance))
                   for term, text in DEFINITIONS]
    return KpiReport(first_day, last_day, now, settings.timezone, final, total, by_day,
                     dict(sorted(by_carer.items())), dict(sorted(by_client.items())),
                     definitions)


def _short_of_carer_because(needed: int, came: int, all_from: datetime | None,
                            eleven: datetime) -> str:
    if came < needed:
        return f"double-up: {came} of {needed} carers logged in"
    if all_from is None:
        return f"double-up: the {needed} carers were never logged in at the same time"
    after = "11 pm" if all_from >= eleven else "the next planned visit's start"
    return f"double-up: all {needed} carers were there only after {after}"


UNFILLED_PLACE = ("", "unfilled place (carer not known)")


def _absent(visit: PlannedVisit, came: set[int], needed: int) -> tuple[tuple[str, str], ...]:
    """The booked carers whose place on a short double-up nobody filled.

    When a substitute came, which booked carer they stood in for is not known: rather than
    blame one at random, the missing place is counted as an unfilled place.
    """
    unfilled = needed - len(came)
    if unfilled <= 0:
        return ()
    away = [(c.ref, _name(c.given_name, c.family_name)) for c in visit.care_workers
            if c.id not in came]
    return tuple(away) if len(away) == unfilled else (UNFILLED_PLACE,) * unfilled


def _merged_into(undelivered: Iterable[tuple[PlannedVisit, datetime]],
                 at_adult: dict[int, list[ActualVisit]]) -> dict[int, str]:
    """Missed visits whose planned time a carer's visit at the same client covered."""
    merged: dict[int, str] = {}
    for visit, _deadline in undelivered:
        for actual in at_adult.get(visit.adult_id, []):
            if actual.planned_visit_id == visit.id or actual.started_at is None:
                continue
            finish = actual.ended_at or actual.started_at
            if actual.started_at <= visit.planned_end and finish >= visit.planned_start:
                merged[visit.id] = actual.care_worker.ref
                break
    return merged

