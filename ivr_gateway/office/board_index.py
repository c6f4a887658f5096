"""The board's day index: every visit's verdict for the counts and filters, kept in the database.

The board's counts ("12 late, 3 missed, 40 need attention") and its status filters need the
verdict of every visit of the day; judging a 10,000-visit day takes seconds (visits_for_day
loads every visit and judges each). So one process judges it, and every web process reads it:
the scheduler's `board-index` job (every BUILD_SECONDS) judges today and yesterday through
the domain (visits_for_day, then board_rows for who handled what: the same verdict as every
other reader, DESIGN principle 8), and keeps the result in one row a day (board_day_indexes:
a compact JSON list of entries). The index only stores what the domain said; it derives no
status of its own.

A web process reads the row's `built_at` (one small SELECT) and, when the row is newer than the
copy it has parsed, the entries (one SELECT); it judges nothing for its counts. A row older than
STORED_MAX_AGE means no scheduler is keeping it, and the board falls back to judging the day
itself (board_page.day_index).

When it rebuilds: when the day's data version (day_version: rota, evidence, audit, alerts,
names) changed since the last build, and in any case once the index is REJUDGE_AFTER old,
because verdicts move with the clock alone (late 30 minutes after the planned start, missed
after 2 hours). Most rebuilds judge only the visits that may have moved (refresh_day,
_touched): those the change feed names since the feed position kept with the index, those
with alerts or audit entries since the last build, their clients' other visits, and those the
clock can move now; the day's few unplanned visits are judged whole each time. The whole day
is judged afresh every WHOLE_EVERY all the same, so anything those rules did not foresee is
put right within minutes. A test holds the index, after each kind of change, equal to a whole
judgement of the day.

On PostgreSQL the job first takes pg_try_advisory_xact_lock(BOARD_INDEX_LOCK), so a second
scheduler (a double deploy) skips instead of judging the day twice or interleaving an update;
on SQLite the transaction's BEGIN IMMEDIATE serialises writers. The row is replaced whole in one
statement, so a reader sees one build or the next, never a mix.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import Integer, func, or_, select, text
from sqlalchemy.orm import Session, aliased, selectinload
from sqlalchemy.sql import ColumnElement, column, table

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database, UTCDateTime
from ivr_gateway.models import (
    ActualVisit,
    Adult,
    AuditEntry,
    CareWorker,
    LogEvent,
    PlannedVisit,
    VisitException,
    VisitStatus,
)
from ivr_gateway.office.board import FILTERS, BoardRow, board_rows, row_matches
from ivr_gateway.office.models import BoardDayIndex
from ivr_gateway.office.providers import AlertSource
from ivr_gateway.visits.council import TIME_CRITICAL_WINDOW, eleven_pm
from ivr_gateway.visits.deadlines import late_delay, missed_delay
from ivr_gateway.visits.feed import Position, changes_after, last_position
from ivr_gateway.visits.models import VisitChange
from ivr_gateway.visits.queries import (
    local_day_bounds,
    summaries_of,
    unplanned_for_day,
    visits_for_day,
)

log = logging.getLogger(__name__)

BOARD_INDEX_LOCK = 0x424F5244  # "BORD": the advisory lock key of the board-index job
BUILD_SECONDS = 30  # how often the scheduler looks at today's and yesterday's index
REJUDGE_AFTER = timedelta(seconds=60)  # rebuilt at least this often: the clock moves verdicts
WHOLE_EVERY = timedelta(minutes=10)  # the whole day judged afresh at least this often
CHANGE_MARGIN = timedelta(minutes=5)  # changes stamped this long before a build: looked at again
MOST_CHANGES = 5000  # more feed entries than this since the last build: judge the whole day
STORED_MAX_AGE = timedelta(minutes=2)  # older: no scheduler keeps it, the web judges the day
# The status filters an entry keeps the answer to (the "mine" filter is per viewer: ackers).
INDEXED_FILTERS = tuple(f for f in FILTERS if f not in ("all", "mine"))

# The alerts table belongs to the escalation package, which the office does not import: its
# changes (raised, climbed, acknowledged, resolved) are read as a bare table for the version.
_alerts = table("alerts", column("id", Integer), column("level", Integer),
                column("planned_visit_id", Integer), column("raised_at", UTCDateTime()),
                column("acknowledged_at", UTCDateTime()), column("resolved_at", UTCDateTime()))


def day_version(session: Session, day: date, settings: Settings) -> str:
    """A fingerprint of everything the board shows for a day; it changes when any of it does.

    Rota rows (count, last update), new evidence (log events, actual visits, exceptions),
    anything audited (acknowledgements, reason codes, checks, moves, sends), alerts raised or
    climbing or settled, and client or carer names. One round trip of indexed aggregates.
    """
    start, end = local_day_bounds(day, settings)
    on_day = (PlannedVisit.planned_start >= start, PlannedVisit.planned_start < end)
    parts = session.execute(select(
        select(func.count()).where(*on_day).scalar_subquery(),
        select(func.max(PlannedVisit.updated_at)).where(*on_day).scalar_subquery(),
        select(func.max(LogEvent.id)).scalar_subquery(),
        select(func.max(ActualVisit.id)).scalar_subquery(),
        select(func.max(VisitException.id)).scalar_subquery(),
        select(func.max(AuditEntry.id)).scalar_subquery(),
        select(func.max(_alerts.c.id)).scalar_subquery(),
        select(func.sum(_alerts.c.level)).scalar_subquery(),
        select(func.count(_alerts.c.acknowledged_at)).scalar_subquery(),
        select(func.count(_alerts.c.resolved_at)).scalar_subquery(),
        select(func.max(Adult.updated_at)).scalar_subquery(),
        select(func.max(CareWorker.updated_at)).scalar_subquery(),
    )).one()
    return hashlib.sha256(repr(tuple(parts)).encode()).hexdigest()[:20]


class IndexEntry(NamedTuple):
    """One visit's verdict as the day index keeps it: what the counts and filters ask of it.

    A named tuple (not a frozen dataclass): a web process parses a county day's 10,000 of them
    after each build (decode), and a tuple is made in a third of the time.
    """

    key: str  # "p:REF" for a planned visit, "u:ID" for an unplanned actual visit
    outcome: str  # the domain's outcome (scheduled, late_start, missed, completed ...)
    matches: frozenset[str]  # the status filters its board row passes (late, attention ...)
    ackers: frozenset[str]  # who acknowledged an alert on it (the "mine" filter and count)
    carers: tuple[str, ...] = ()  # its carers' references (booked, and any who came)

    def passes(self, status: str, viewer: str) -> bool:
        """Whether the visit passes this status filter for this person."""
        if status == "mine":
            return viewer in self.ackers
        return status == "all" or status in self.matches


def row_key(row: BoardRow) -> str:
    """The board's key of a row: its planned reference, or its unplanned actual visit's id."""
    return f"p:{row.summary.ref}" if row.summary.ref else f"u:{row.actual_visit_id}"


def entry_of(row: BoardRow) -> IndexEntry:
    """What the index keeps of a board row (the row's own rules answer every filter)."""
    return IndexEntry(
        key=row_key(row), outcome=row.summary.outcome,
        matches=frozenset(f for f in INDEXED_FILTERS if row_matches(row, f, "")),
        ackers=frozenset(a.acknowledged_by for a in row.alerts if a.acknowledged_by),
        carers=tuple(ref for ref, _ in row.carers))


@dataclass
class DayIndex:
    """Every visit of a day judged at `built_at`, with the data version it was built from."""

    day: date
    version: str
    built_at: datetime
    entries: dict[str, IndexEntry]
    carers: list[tuple[str, str]]  # every carer on the day (ref, name), by name
    stored: bool = False  # read from board_day_indexes (else judged by this process)
    _base: dict[str, int] = field(default_factory=dict, repr=False)

    def counts(self, viewer: str) -> dict[str, int]:
        """The day's counts for this person (the "mine" count is theirs), as count_rows has
        them."""
        if not self._base:
            entries = self.entries.values()
            self._base.update({
                "visits": len(self.entries),
                "late": sum("late" in e.matches for e in entries),
                "missed": sum("missed" in e.matches for e in entries),
                "in_progress": sum(e.outcome == "in_progress" for e in entries),
                "completed": sum(e.outcome == "completed" for e in entries),
                "short_of_carer": sum("short_of_carer" in e.matches for e in entries),
                "unverified": sum("unverified" in e.matches for e in entries),
                "attention": sum("attention" in e.matches for e in entries),
            })
        return {**self._base, "mine": sum(viewer in e.ackers for e in self.entries.values())}


def build_index(session: Session, day: date, settings: Settings, now: datetime,
                alerts: AlertSource, version: str) -> DayIndex:
    """Judge every visit of the day (the costly part) and keep what the board needs of each."""
    rows = board_rows(session, visits_for_day(session, day, settings, now), day, settings,
                      alerts)
    entries = {entry.key: entry for entry in map(entry_of, rows)}
    carers = sorted({(ref, name) for r in rows for ref, name in r.carers},
                    key=lambda c: (c[1], c[0]))
    return DayIndex(day, version, now, entries, carers)


def encode(index: DayIndex) -> str:
    """The index as the compact JSON kept in board_day_indexes.entries."""
    return json.dumps({
        "entries": [[e.key, e.outcome, sorted(e.matches), sorted(e.ackers), list(e.carers)]
                    for e in index.entries.values()],
        "carers": [list(c) for c in index.carers],
    }, separators=(",", ":"))


def decode(day: date, version: str, built_at: datetime, stored: str) -> DayIndex:
    """The index kept in a board_day_indexes row."""
    with _collector_paused():  # 10,000 entries: the collector would scan the process 3 times
        return _decoded(day, version, built_at, stored)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a burst of objects that hold no cycles is
    made (four-fifths of decode's time was the collector scanning the whole process)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _decoded(day: date, version: str, built_at: datetime, stored: str) -> DayIndex:
    data = json.loads(stored)
    sets: dict[tuple[str, ...], frozenset[str]] = {}  # a few distinct ones, shared

    def shared(items: list[str]) -> frozenset[str]:
        key = tuple(items)
        found = sets.get(key)
        if found is None:
            found = sets[key] = frozenset(key)
        return found
    entries = {key: IndexEntry(key, outcome, shared(matches), shared(ackers), tuple(carers))
               for key, outcome, matches, ackers, carers in data["entries"]}
    return DayIndex(day, version, built_at, entries,
                    [(ref, name) for ref, name in data["carers"]], stored=True)


def save_index(session: Session, index: DayIndex, feed: Position, *, whole: bool) -> None:
    """Keep the index for every web process (replacing the day's row whole)."""
    row = session.get(BoardDayIndex, index.day)
    if row is None:
        row = BoardDayIndex(day=index.day)
        session.add(row)
    row.built_at = index.built_at
    if whole or row.whole_built_at is None:
        row.whole_built_at = index.built_at
    row.version = index.version
    row.feed_xact_id, row.feed_id = feed.xact_id, feed.id
    row.visits = len(index.entries)
    row.entries = encode(index)


def _touched(session: Session, day: date, settings: Settings, kept: BoardDayIndex,
             changes: list[VisitChange], now: datetime) -> set[int]:
    """The day's planned visits (ids) whose verdict may have moved since the index was built.

    - Whatever the change feed says changed (log events, actual visits, corrections, reason
      codes, rota changes), read from the kept feed position, so nothing committed late is
      skipped (visits/feed.py explains the order).
    - Visits whose alerts were raised, acknowledged or resolved, or that were audited (checks,
      carers sent instead, reason codes), and clients whose record changed (a RAG rating halves
      the windows), since a little before the last build (CHANGE_MARGIN: a writer's
      transaction may commit after the build read).
    - Every other visit of the same clients: a visit's verdict reads its client's other visits
      (the next planned start, a visit merged into another).
    - Visits the clock moved: nobody has logged in to them yet, and one of their deadlines
      (visits/deadlines.py late_at and missed_at, halved for a red client; the council's KPI 3
      window closing, visits/council.py) fell since the last build. A visit somebody started
      moves with its evidence, which the feed names.
    """
    start, end = local_day_bounds(day, settings)
    since = kept.built_at - CHANGE_MARGIN
    actual_ids = {c.actual_visit_id for c in changes if c.actual_visit_id}
    planned_ids = {c.planned_visit_id for c in changes if c.planned_visit_id}
    adult_ids: set[int] = set()
    for planned_id, adult_id in session.execute(
            select(ActualVisit.planned_visit_id, ActualVisit.adult_id)
            .where(ActualVisit.id.in_(actual_ids))) if actual_ids else ():
        if planned_id is not None:
            planned_ids.add(planned_id)
        if adult_id is not None:
            adult_ids.add(adult_id)
    planned_ids |= set(session.scalars(select(_alerts.c.planned_visit_id).where(
        _alerts.c.planned_visit_id.is_not(None),
        or_(_alerts.c.raised_at >= since, _alerts.c.acknowledged_at >= since,
            _alerts.c.resolved_at >= since))))
    audited_refs = set(session.scalars(select(AuditEntry.entity_ref).where(
        AuditEntry.entity == "planned_visit", AuditEntry.at >= since)))
    adult_ids |= set(session.scalars(select(Adult.id).where(Adult.updated_at >= since)))
    # The clients of every visit that changed, on any day (tomorrow's first visit is the
    # next planned start of today's last).
    adult_ids |= set(session.scalars(select(PlannedVisit.adult_id).where(or_(
        PlannedVisit.id.in_(planned_ids), PlannedVisit.ref.in_(audited_refs),
        PlannedVisit.updated_at >= since))))
    # The clock: a visit nobody has logged in to moves at the domain's deadlines (late_at,
    # missed_at, for either rating; a time-critical visit's window; KPI 3's close at the
    # client's next planned start or 11 pm); re-judged when one fell since the last build.
    delays = {late_delay(settings.kpi, red) for red in (False, True)} \
        | {missed_delay(settings.kpi, red) for red in (False, True)} | {TIME_CRITICAL_WINDOW}
    due: list[ColumnElement[bool]] = [
        PlannedVisit.planned_start.between(since - delay, now - delay) for delay in delays]
    # KPI 3 closes at the client's next planned start: the visit just before one that began.
    began, between = aliased(PlannedVisit), aliased(PlannedVisit)
    due.append(select(began.id).where(
        began.adult_id == PlannedVisit.adult_id, began.planned_start.between(since, now),
        began.planned_start > PlannedVisit.planned_start,
        ~select(between.id).where(
            between.adult_id == PlannedVisit.adult_id,
            between.status == VisitStatus.PLANNED,
            between.planned_start > PlannedVisit.planned_start,
            between.planned_start < began.planned_start)
        .correlate(PlannedVisit, began).exists()).correlate(PlannedVisit).exists())
    if since <= eleven_pm(start, settings.tz) <= now:
        due.append(PlannedVisit.planned_start < now)
    started = select(ActualVisit.id).where(ActualVisit.planned_visit_id == PlannedVisit.id,
                                           ActualVisit.started_at.is_not(None)).exists()
    return set(session.scalars(select(PlannedVisit.id).where(
        PlannedVisit.planned_start >= start, PlannedVisit.planned_start < end,
        or_(PlannedVisit.adult_id.in_(adult_ids), or_(*due) & ~started))))


def update_index(session: Session, kept: BoardDayIndex, settings: Settings, now: datetime,
                 alerts: AlertSource, version: str, changes: list[VisitChange]) -> DayIndex:
    """The kept index with the visits that may have moved judged again (the domain's verdict,
    as build_index has it); the day's few unplanned visits are all judged again."""
    day = kept.day
    index = decode(day, kept.version, kept.built_at, kept.entries)
    start, end = local_day_bounds(day, settings)
    on_day = set(session.scalars(select(PlannedVisit.ref).where(
        PlannedVisit.planned_start >= start, PlannedVisit.planned_start < end)))
    entries = {key: entry for key, entry in index.entries.items()
               if key.startswith("p:") and key[2:] in on_day}  # gone: moved off the day
    missing = {ref for ref in on_day if f"p:{ref}" not in entries}
    ids = _touched(session, day, settings, kept, changes, now)
    planned = list(session.scalars(
        select(PlannedVisit).where(or_(PlannedVisit.id.in_(ids), PlannedVisit.ref.in_(missing)))
        .options(selectinload(PlannedVisit.care_workers), selectinload(PlannedVisit.adult))))
    summaries = summaries_of(session, planned, settings, now) \
        + unplanned_for_day(session, day, settings)
    rows = board_rows(session, summaries, day, settings, alerts)
    entries.update((entry.key, entry) for entry in map(entry_of, rows))
    refs = {ref for entry in entries.values() for ref in entry.carers}
    names = {ref: f"{given} {family}" for ref, given, family in session.execute(
        select(CareWorker.ref, CareWorker.given_name, CareWorker.family_name)
        .where(CareWorker.ref.in_(refs)))}
    carers = sorted(((ref, names.get(ref, ref)) for ref in refs), key=lambda c: (c[1], c[0]))
    return DayIndex(day, version, now, entries, carers)


_stored: dict[date, DayIndex] = {}
_stored_lock = threading.Lock()


def stored_index(session: Session, day: date, now: datetime) -> DayIndex | None:
    """The day's index as the scheduler keeps it; None if there is none or it is stale.

    One small SELECT when this process already parsed that build; one more when it is new.
    """
    built_at = session.scalar(select(BoardDayIndex.built_at).where(BoardDayIndex.day == day))
    if built_at is None or now - built_at > STORED_MAX_AGE:
        return None
    with _stored_lock:
        cached = _stored.get(day)
    if cached is not None and cached.built_at == built_at:
        return cached
    row = session.execute(select(BoardDayIndex.version, BoardDayIndex.built_at,
                                 BoardDayIndex.entries)
                          .where(BoardDayIndex.day == day)).first()
    if row is None:
        return None
    index = decode(day, row.version, row.built_at, row.entries)
    with _stored_lock:
        _stored[day] = index
    return index


def forget_stored() -> None:
    """Drop this process's parsed copies (tests, the bench)."""
    with _stored_lock:
        _stored.clear()


def take_index_lock(session: Session) -> bool:
    """Take the board-index job's lock for this transaction; False if another holds it."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"),
                               {"key": BOARD_INDEX_LOCK}))


def refresh_day(session: Session, day: date, settings: Settings, now: datetime,
                alerts: AlertSource, *, force: bool = False) -> str | None:
    """Bring the day's stored index up to date; how ("whole" or "changes"), or None if it was
    current (its data unchanged and it is under REJUDGE_AFTER old). Call under take_index_lock.

    The whole day is judged when there is no index, with `force`, when the last whole
    judgement is WHOLE_EVERY old (a backstop for anything the change rules did not foresee),
    or when more than MOST_CHANGES entries of the feed came since; else only the visits that
    may have moved (update_index).
    """
    version = day_version(session, day, settings)
    kept = session.get(BoardDayIndex, day)
    if not force and kept is not None and kept.version == version \
            and timedelta(0) <= now - kept.built_at < REJUDGE_AFTER:
        return None
    if force or kept is None or not timedelta(0) <= now - kept.whole_built_at < WHOLE_EVERY:
        feed = last_position(session)  # before judging: what commits meanwhile comes next time
        save_index(session, build_index(session, day, settings, now, alerts, version), feed,
                   whole=True)
        return "whole"
    changes = changes_after(session, Position(kept.feed_xact_id, kept.feed_id),
                            MOST_CHANGES + 1)
    if len(changes) > MOST_CHANGES:
        return refresh_day(session, day, settings, now, alerts, force=True)
    feed = Position(changes[-1].xact_id, changes[-1].id) if changes else Position(
        kept.feed_xact_id, kept.feed_id)
    save_index(session, update_index(session, kept, settings, now, alerts, version, changes),
               feed, whole=False)
    return "changes"


def indexed_days(now: datetime, settings: Settings) -> list[date]:
    """The days the scheduler keeps an index of: today and yesterday (reason codes, late
    corrections and the office's checks land on yesterday's visits the next morning)."""
    today = now.astimezone(settings.tz).date()
    return [today, today - timedelta(days=1)]


def run_board_index(database: Database, settings: Settings, clock: Clock,
                    alerts: AlertSource) -> list[date]:
    """One tick of the board-index job: the days rebuilt (none if another scheduler holds the
    lock or nothing changed)."""
    now = clock.now()
    rebuilt: list[date] = []
    for day in indexed_days(now, settings):
        with database.unit_of_work() as session:
            if not take_index_lock(session):
                log.info("board index: another scheduler holds the lock; skipped")
                return rebuilt
            if refresh_day(session, day, settings, now, alerts) is not None:
                rebuilt.append(day)
    return rebuilt


def schedule_board_index(scheduler: BaseScheduler, settings: Settings, database: Database,
                         clock: Clock, alerts: AlertSource) -> None:
    """Add the board-index job to a scheduler (the scheduler process, and the demo's thread).

    Added by the composition root (cli.py), as the scheduler module sits below the office.
    """
    scheduler.add_job(run_board_index, "interval", seconds=BUILD_SECONDS,
                      args=[database, settings, clock, alerts], id="board-index",
                      max_instances=1, coalesce=True, next_run_time=clock.now())
