"""KPI reports kept for the dashboard: worked out in the background, shown at once, worked out
again when their data or the clock has changed them.

Why: the report judges every visit of its days (ecc/kpi.py build_kpi_report), about a second for
a county's day and nine for its week (bench/kpi_report.py), far longer than a page may take. So a
big range's report is worked out by a thread of the web process that was asked for it and kept
in the database (table kpi_reports), where every web worker and every reload finds it. The
report kept is build_kpi_report's own output, stored and read back whole: no verdict is made
here. A small range (under INLINE_VISITS visits) is simply worked out in the request, as before.

When a kept report is no longer current, the page shows it "as of" its time while the next one
is worked out. It is stale when:
- its data changed: the change feed (visits/feed.py) records every log event, actual visit,
  correction, reason code and planned-visit change in the writer's transaction, so the report
  remembers the feed position it read from, and is stale once an entry after it touches the
  range (its planned visit starts in the range or the day after, whose first visit KPI 3 reads;
  its log event or actual visit falls within a day of it). Clients' and carers' names are not
  in the feed: one changed since the report, with a visit in its range, makes it stale. A page
  that finds nothing of the range's among the new entries moves the report's position on, so
  the next look reads only what came after. Past days' reports (yesterday, last week) stay
  current until their own data changes, whatever happens today;
- the clock alone would change a verdict in it (clock_moves_at): while a visit's KPI 3 window
  is open or nobody has logged in to a visit that may still turn late or missed, a minute
  after it was worked out; otherwise when the first outstanding reason code falls due;
- the settings that change verdicts (the KPI windows, the time zone) or the report's format
  changed: those are part of its key, so another report is kept for them.

One worker at a time per range, across processes: a lease on the row (lease_until), taken by
inserting the row (unique per range) or by an UPDATE that only matches a row whose lease ran
out. Only one transaction can win either, on PostgreSQL and SQLite alike. A worker that dies
(its web worker restarted) leaves a lease that runs out after LEASE; the next look takes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import operator
import os
import secrets
import socket
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc.kpi import (
    GroupFigures,
    KpiReport,
    ReasonStatus,
    Timeliness,
    VisitKpi,
    build_kpi_report,
)
from ivr_gateway.ecc.models import KeptKpiReport
from ivr_gateway.models import (
    ActualVisit,
    Adult,
    CareWorker,
    LogEvent,
    PlannedVisit,
    PlannedVisitCareWorker,
)
from ivr_gateway.visits.council import LONGEST_SPAN
from ivr_gateway.visits.feed import Position, last_position
from ivr_gateway.visits.models import VisitChange
from ivr_gateway.visits.outcomes import Outcome
from ivr_gateway.visits.queries import local_day_bounds

log = logging.getLogger(__name__)

REPORT_FORMAT = 1  # raise when KpiReport's shape changes: reports kept before are not read
INLINE_VISITS = 1000  # a range with fewer visits is worked out in the request (about 0.15 s)
FRESH_FOR = timedelta(seconds=60)  # a report whose verdicts move with the clock, this long
# A worker's hold on a range: this, or three times its estimate if longer (a county's 62 days).
LEASE = timedelta(minutes=5)
PAGE_FIRST = 0.3  # seconds a worker waits to start, so the page that started it answers first
SECONDS_PER_VISIT = 0.00015  # the estimate before any report was kept (2 shared cores)
# The visit statuses the clock alone moves on (outcomes.py): not yet late, late, then missed.
_CLOCK_STATUSES = frozenset({Outcome.SCHEDULED.value, Outcome.LATE_START.value})


@dataclass(frozen=True)
class KeptState:
    """What the dashboard can show of a range's report now, and whether one is on its way."""

    report: KpiReport | None  # the figures (no visit lines), or None while there is none yet
    kept: bool  # from the kept reports (False: worked out in this request, a small range)
    as_of: datetime | None  # when the report shown was worked out
    stale: bool  # its data or the clock has changed it since
    working: bool  # a worker is working out the next one now
    started_at: datetime | None  # when that worker started
    estimate_seconds: int  # about how long working it out takes
    error: str | None  # the last attempt failed, in words

    @property
    def ready(self) -> bool:
        """A current report is shown."""
        return self.report is not None and not self.stale


def settings_key(settings: Settings) -> str:
    """The key part naming what changes verdicts: the KPI windows, the time zone, the format."""
    raw = repr((REPORT_FORMAT, settings.timezone, dataclasses.astuple(settings.kpi)))
    return hashlib.sha256(raw.encode()).hexdigest()


# ---------------------------------------------------------------- the report, stored and read

_COUNTS = [f.name for f in dataclasses.fields(GroupFigures) if f.name != "verification"]
_LINE_FIELDS = [f.name for f in dataclasses.fields(VisitKpi)]
_LINE_TIMES = [i for i, name in enumerate(_LINE_FIELDS) if name in {
    "all_carers_from", "planned_start", "planned_end", "actual_start", "actual_end",
    "reason_due_at", "reason_recorded_at"}]
_DAY, _CARERS, _ABSENT, _TIMELINESS, _REASON = (_LINE_FIELDS.index(name) for name in (
    "day", "carers", "absent", "timeliness", "reason_status"))
_line_values = operator.attrgetter(*_LINE_FIELDS)


def _figures(f: GroupFigures) -> list[Any]:
    return [*(getattr(f, name) for name in _COUNTS), dict(f.verification)]


def _figures_of(raw: list[Any]) -> GroupFigures:
    # Positional (the counts in field order, then the mix): a county's week has 4,000 groups.
    return GroupFigures(*raw[:-1], Counter(raw[-1]))  # type: ignore[call-arg]


def figures_json(report: KpiReport) -> dict[str, Any]:
    """The report without its visit lines, as JSON: everything the page and the summary show."""
    return {"first_day": report.first_day.isoformat(), "last_day": report.last_day.isoformat(),
            "generated_at": report.generated_at.isoformat(), "timezone": report.timezone,
            "total": _figures(report.total),
            "by_day": [[day.isoformat(), _figures(f)] for day, f in report.by_day.items()],
            "by_carer": [[name, _figures(f)] for name, f in report.by_carer.items()],
            "by_client": [[name, _figures(f)] for name, f in report.by_client.items()],
            "definitions": [list(d) for d in report.definitions],
            "reason_code_due_hours": report.reason_code_due_hours}


def lines_blob(report: KpiReport) -> bytes:
    """The report's visit lines, compressed JSON (a county's week is about 70,000 of them)."""
    rows = []
    for visit in report.visits:
        row = list(_line_values(visit))
        for i in _LINE_TIMES:
            if row[i] is not None:
                row[i] = row[i].isoformat()
        row[_DAY] = row[_DAY].isoformat()
        rows.append(row)
    return zlib.compress(json.dumps(rows, separators=(",", ":")).encode(), 1)


def _lines_of(blob: bytes) -> list[VisitKpi]:
    lines = []
    for row in json.loads(zlib.decompress(blob)):
        for i in _LINE_TIMES:
            if row[i] is not None:
                row[i] = datetime.fromisoformat(row[i])
        row[_DAY] = date.fromisoformat(row[_DAY])
        row[_CARERS] = tuple((ref, name) for ref, name in row[_CARERS])
        row[_ABSENT] = tuple((ref, name) for ref, name in row[_ABSENT])
        row[_TIMELINESS] = Timeliness(row[_TIMELINESS])
        row[_REASON] = ReasonStatus(row[_REASON])
        lines.append(VisitKpi(*row))
    return lines


def report_of(figures: dict[str, Any], lines: bytes | None = None) -> KpiReport:
    """A kept report read back: its figures, and its visit lines when `lines` is given."""
    return KpiReport(
        first_day=date.fromisoformat(figures["first_day"]),
        last_day=date.fromisoformat(figures["last_day"]),
        generated_at=datetime.fromisoformat(figures["generated_at"]),
        timezone=figures["timezone"], visits=_lines_of(lines) if lines is not None else [],
        total=_figures_of(figures["total"]),
        by_day={date.fromisoformat(day): _figures_of(f) for day, f in figures["by_day"]},
        by_carer={name: _figures_of(f) for name, f in figures["by_carer"]},
        by_client={name: _figures_of(f) for name, f in figures["by_client"]},
        definitions=[(term, text) for term, text in figures["definitions"]],
        reason_code_due_hours=figures["reason_code_due_hours"])


def clock_moves_at(report: KpiReport) -> datetime | None:
    """The moment after which the clock alone could change a verdict of the report (None: only
    new data can).

    A visit whose KPI 3 window is still open (pending), or that nobody has logged in to and is
    not yet missed for the office, moves with the clock: the report is then current for
    FRESH_FOR. Otherwise the first outstanding reason code turns overdue after its due time.
    """
    due: list[datetime] = []
    for visit in report.visits:
        if visit.timeliness == Timeliness.PENDING or visit.office_status in _CLOCK_STATUSES:
            return report.generated_at + FRESH_FOR
        if visit.reason_status == ReasonStatus.OUTSTANDING and visit.reason_due_at is not None:
            due.append(visit.reason_due_at)
    return min(due, default=None)


# ---------------------------------------------------------------- is a kept report current?

def names_changed(session: Session, since: datetime, first_day: date, last_day: date,
                  settings: Settings) -> bool:
    """Whether a client or carer of the range changed after `since` (their names are in the
    report, but not in the change feed). Only the few changed since are looked at."""
    start, _ = local_day_bounds(first_day, settings)
    _, end = local_day_bounds(last_day, settings)
    near_start, near_end = start - LONGEST_SPAN, end + timedelta(days=1)
    planned_in_range = (PlannedVisit.planned_start >= start, PlannedVisit.planned_start < end)
    visited = (ActualVisit.started_at >= near_start, ActualVisit.started_at < near_end)
    client = select(Adult.id).where(Adult.updated_at > since, or_(
        exists().where(PlannedVisit.adult_id == Adult.id, *planned_in_range),
        exists().where(ActualVisit.adult_id == Adult.id, *visited))).limit(1)
    carer = select(CareWorker.id).where(CareWorker.updated_at > since, or_(
        exists().where(PlannedVisitCareWorker.care_worker_id == CareWorker.id,
                       PlannedVisit.id == PlannedVisitCareWorker.planned_visit_id,
                       *planned_in_range),
        exists().where(ActualVisit.care_worker_id == CareWorker.id, *visited))).limit(1)
    return (session.scalar(client) is not None) or (session.scalar(carer) is not None)


def _after(position: Position) -> Any:
    return or_(VisitChange.xact_id > position.xact_id,
               and_(VisitChange.xact_id == position.xact_id, VisitChange.id > position.id))


def _up_to(position: Position) -> Any:
    return or_(VisitChange.xact_id < position.xact_id,
               and_(VisitChange.xact_id == position.xact_id, VisitChange.id <= position.id))


def range_touched(session: Session, after: Position, upto: Position, first_day: date,
                  last_day: date, settings: Settings) -> bool:
    """Whether a change-feed entry after `after` (up to `upto`) touches the range's report."""
    start, _ = local_day_bounds(first_day, settings)
    _, end = local_day_bounds(last_day, settings)
    near_start, near_end = start - LONGEST_SPAN, end + timedelta(days=1)
    return session.scalar(
        select(VisitChange.id)
        .outerjoin(PlannedVisit, PlannedVisit.id == VisitChange.planned_visit_id)
        .outerjoin(LogEvent, LogEvent.id == VisitChange.log_event_id)
        .outerjoin(ActualVisit, ActualVisit.id == VisitChange.actual_visit_id)
        .where(_after(after), _up_to(upto), or_(
            and_(PlannedVisit.planned_start >= start, PlannedVisit.planned_start < near_end),
            and_(LogEvent.event_time >= near_start, LogEvent.event_time < near_end),
            and_(ActualVisit.started_at >= near_start, ActualVisit.started_at < near_end)))
        .limit(1)) is not None


def _stale(session: Session, row: KeptKpiReport, settings: Settings, now: datetime) -> bool:
    if row.moves_at is not None and now > row.moves_at:
        return True
    if row.built_at is not None and names_changed(session, row.built_at, row.first_day,
                                                   row.last_day, settings):
        return True
    kept = Position(row.feed_xact_id, row.feed_id)
    upto = last_position(session)
    if upto <= kept:
        return False
    if range_touched(session, kept, upto, row.first_day, row.last_day, settings):
        return True
    # Nothing of this range's since: the report is current up to here (unless a worker has
    # just stored a newer one, whose position then stands).
    session.execute(update(KeptKpiReport).where(
        KeptKpiReport.id == row.id, KeptKpiReport.feed_xact_id == kept.xact_id,
        KeptKpiReport.feed_id == kept.id).values(feed_xact_id=upto.xact_id, feed_id=upto.id))
    return False


def visits_in_range(session: Session, first_day: date, last_day: date,
                    settings: Settings) -> int:
    """How many planned visits the range has (what the report's time grows with)."""
    start, _ = local_day_bounds(first_day, settings)
    _, end = local_day_bounds(last_day, settings)
    return int(session.scalar(select(func.count()).where(
        PlannedVisit.planned_start >= start, PlannedVisit.planned_start < end)) or 0)


def _estimate(session: Session, visits: int) -> int:
    """About how many seconds a report of this many visits takes, from the last one kept."""
    last = session.execute(
        select(KeptKpiReport.build_seconds, KeptKpiReport.visits)
        .where(KeptKpiReport.visits > 0, KeptKpiReport.build_seconds > 0)
        .order_by(KeptKpiReport.updated_at.desc()).limit(1)).first()
    per_visit = last.build_seconds / last.visits if last is not None else SECONDS_PER_VISIT
    return max(1, math.ceil(visits * per_visit))


# ---------------------------------------------------------------- the page's one call

def _worker_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def claim_report(database: Database, first_day: date, last_day: date, key: str, now: datetime,
                 lease_for: timedelta = LEASE) -> str | None:
    """Take the range's lease for `lease_for` (inserting its row if there is none): the
    worker's name, or None when another worker holds it."""
    worker = _worker_name()
    lease = {"lease_until": now + lease_for, "lease_by": worker, "lease_started_at": now,
             "updated_at": now}
    try:
        with database.unit_of_work() as session:
            result = session.execute(update(KeptKpiReport).where(
                KeptKpiReport.first_day == first_day, KeptKpiReport.last_day == last_day,
                KeptKpiReport.settings_key == key,
                or_(KeptKpiReport.lease_until.is_(None), KeptKpiReport.lease_until <= now))
                .values(**lease))
            if int(getattr(result, "rowcount", 0) or 0):
                return worker
            if session.scalar(select(KeptKpiReport.id).where(
                    KeptKpiReport.first_day == first_day, KeptKpiReport.last_day == last_day,
                    KeptKpiReport.settings_key == key)) is not None:
                return None  # someone else's lease
            session.execute(insert(KeptKpiReport).values(
                first_day=first_day, last_day=last_day, settings_key=key, feed_xact_id=0,
                feed_id=0, visits=0, build_seconds=0.0, created_at=now,
                **lease))
    except IntegrityError:
        return None  # another process inserted the row first: it works the report out
    return worker


def work_out_report(database: Database, settings: Settings, clock: Clock, first_day: date,
                    last_day: date, worker: str) -> None:
    """Work out a range's report and keep it, under the lease `worker` holds (a thread's job)."""
    key = settings_key(settings)
    mine = (KeptKpiReport.first_day == first_day, KeptKpiReport.last_day == last_day,
            KeptKpiReport.settings_key == key, KeptKpiReport.lease_by == worker)
    released = {"lease_until": None, "lease_by": None, "lease_started_at": None}
    began = time.perf_counter()
    try:
        with database.unit_of_work() as session:
            # The feed position first: everything up to it is in what the report then reads.
            position = last_position(session)
            report = build_kpi_report(session, first_day, last_day, settings, clock.now())
        values = {"built_at": report.generated_at, "feed_xact_id": position.xact_id,
                  "feed_id": position.id,
                  "moves_at": clock_moves_at(report), "figures": figures_json(report),
                  "lines": lines_blob(report), "visits": len(report.visits),
                  "build_seconds": time.perf_counter() - began, "error": None,
                  "updated_at": clock.now(), **released}
        with database.unit_of_work() as session:
            session.execute(update(KeptKpiReport).where(*mine).values(**values))
    except Exception as error:  # the page must say it failed, whatever the reason
        log.exception("KPI report %s to %s failed", first_day, last_day)
        with database.unit_of_work() as session:
            session.execute(update(KeptKpiReport).where(*mine).values(
                error=f"Working out the report stopped ({type(error).__name__}).",
                updated_at=clock.now(), **released))


def _work_out_after_the_page(database: Database, settings: Settings, clock: Clock,
                             first_day: date, last_day: date, worker: str) -> None:
    # The page that started the worker answers first: one interpreter runs both, and a county
    # week's worker would otherwise take turns with that page's rendering.
    time.sleep(PAGE_FIRST)
    work_out_report(database, settings, clock, first_day, last_day, worker)


def start_worker(database: Database, settings: Settings, clock: Clock, first_day: date,
                 last_day: date, worker: str) -> threading.Thread:
    """Work the report out on a background thread of this process (once the page answered)."""
    thread = threading.Thread(target=_work_out_after_the_page,
                              name=f"kpi-report-{first_day}-{last_day}",
                              args=(database, settings, clock, first_day, last_day, worker),
                              daemon=True)
    thread.start()
    return thread


def report_for_page(database: Database, settings: Settings, clock: Clock, first_day: date,
                    last_day: date, *, inline_below: int = INLINE_VISITS,
                    retry_failed: bool = True) -> KeptState:
    """The range's report as the page shows it, starting a worker when one is needed.

    A small range is worked out here and now. A big one is read from the kept reports (its
    figures, not its visit lines); when there is none, or it is stale, and no worker has the
    range, this process takes the lease and starts one. `retry_failed`: start again after a
    failed attempt (a page load does; the page's poll does not, so a failure is not retried
    every two seconds).
    """
    now = clock.now()
    with database.unit_of_work() as session:
        visits = visits_in_range(session, first_day, last_day, settings)
        if visits < inline_below:
            report = build_kpi_report(session, first_day, last_day, settings, now)
            return KeptState(report, False, report.generated_at, False, False, None, 0, None)
        key = settings_key(settings)
        row = session.scalar(select(KeptKpiReport).options(defer(KeptKpiReport.lines)).where(
            KeptKpiReport.first_day == first_day, KeptKpiReport.last_day == last_day,
            KeptKpiReport.settings_key == key))
        built = row is not None and row.built_at is not None and row.figures is not None
        stale = built and row is not None and _stale(session, row, settings, now)
        working = (row is not None and row.lease_until is not None and row.lease_until > now)
        failed = row is not None and row.error is not None
        shown = report_of(row.figures) if built and row is not None and row.figures else None
        as_of, started = (row.built_at, row.lease_started_at) if row is not None else (None, None)
        error = row.error if row is not None else None
        estimate = _estimate(session, visits)
    if (not built or stale) and not working and (retry_failed or not failed):
        worker = claim_report(database, first_day, last_day, key, now,
                              max(LEASE, timedelta(seconds=3 * estimate)))
        if worker is not None:
            start_worker(database, settings, clock, first_day, last_day, worker)
            working, started, error = True, now, None
        else:
            working = True  # another process took it a moment ago
    return KeptState(shown, True, as_of, stale, working, started, estimate, error)


def report_for_download(database: Database, settings: Settings, clock: Clock,
                        first_day: date, last_day: date) -> KpiReport:
    """The whole report, visit lines included, for the files: the kept one when it is current,
    else worked out now (in the request: a week of a county's visits takes about nine seconds,
    inside the web worker's 30 s)."""
    now = clock.now()
    key = settings_key(settings)
    with database.unit_of_work() as session:
        row = session.scalar(select(KeptKpiReport).where(
            KeptKpiReport.first_day == first_day, KeptKpiReport.last_day == last_day,
            KeptKpiReport.settings_key == key, KeptKpiReport.built_at.is_not(None)))
        if (row is not None and row.figures is not None and row.lines is not None
                and not _stale(session, row, settings, now)):
            return report_of(row.figures, row.lines)
        return build_kpi_report(session, first_day, last_day, settings, now)
