"""The board's day index: every visit's verdict for the counts and filters, kept in the database.

The board's counts ("12 late, 3 missed, 40 need attention") and its status filters need the
verdict of every visit of the day; judging a 10,000-visit day takes seconds (visits_for_day
loads every visit and judges each). So one process judges it, and every web process reads it:
the scheduler's `board-index` job (every BUILD_SECONDS) judges today and yesterday whole, through
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
after 2 hours). On PostgreSQL the job first takes pg_try_advisory_xact_lock(BOARD_INDEX_LOCK),
so a second scheduler (a double deploy) skips instead of judging the day twice; on SQLite the
transaction's BEGIN IMMEDIATE serialises writers. The row is replaced whole in one statement, so
a reader sees one build or the next, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql import column, table

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.models import (
    ActualVisit,
    Adult,
    AuditEntry,
    CareWorker,
    LogEvent,
    PlannedVisit,
    VisitException,
)
from ivr_gateway.office.board import FILTERS, BoardRow, board_rows, row_matches
from ivr_gateway.office.models import BoardDayIndex
from ivr_gateway.office.providers import AlertSource
from ivr_gateway.visits.queries import local_day_bounds, visits_for_day

log = logging.getLogger(__name__)

BOARD_INDEX_LOCK = 0x424F5244  # "BORD": the advisory lock key of the board-index job
BUILD_SECONDS = 30  # how often the scheduler looks at today's and yesterday's index
REJUDGE_AFTER = timedelta(seconds=60)  # rebuilt at least this often: the clock moves verdicts
STORED_MAX_AGE = timedelta(minutes=2)  # older: no scheduler keeps it, the web judges the day
# The status filters an entry keeps the answer to (the "mine" filter is per viewer: ackers).
INDEXED_FILTERS = tuple(f for f in FILTERS if f not in ("all", "mine"))

# The alerts table belongs to the escalation package, which the office does not import: its
# changes (raised, climbed, acknowledged, resolved) are read as a bare table for the version.
_alerts = table("alerts", column("id"), column("level"), column("acknowledged_at"),
                column("resolved_at"))


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


@dataclass(frozen=True)
class IndexEntry:
    """One visit's verdict as the day index keeps it: what the counts and filters ask of it."""

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
    data = json.loads(stored)
    entries = {key: IndexEntry(key, outcome, frozenset(matches), frozenset(ackers),
                               tuple(carers))
               for key, outcome, matches, ackers, carers in data["entries"]}
    return DayIndex(day, version, built_at, entries,
                    [(ref, name) for ref, name in data["carers"]], stored=True)


def save_index(session: Session, index: DayIndex) -> None:
    """Keep the index for every web process (replacing the day's row whole)."""
    row = session.get(BoardDayIndex, index.day)
    if row is None:
        row = BoardDayIndex(day=index.day)
        session.add(row)
    row.built_at = row.whole_built_at = index.built_at
    row.version = index.version
    row.visits = len(index.entries)
    row.entries = encode(index)


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
                alerts: AlertSource, *, force: bool = False) -> bool:
    """Rebuild the day's stored index if its data changed or it is REJUDGE_AFTER old (always,
    with `force`); True if it was rebuilt. Call under take_index_lock."""
    version = day_version(session, day, settings)
    if not force:
        kept = session.execute(select(BoardDayIndex.version, BoardDayIndex.built_at)
                               .where(BoardDayIndex.day == day)).first()
        if kept is not None and kept.version == version \
                and timedelta(0) <= now - kept.built_at < REJUDGE_AFTER:
            return False
    save_index(session, build_index(session, day, settings, now, alerts, version))
    return True


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
            if refresh_day(session, day, settings, now, alerts):
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
