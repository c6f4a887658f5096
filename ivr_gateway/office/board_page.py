"""The board at county size: one page of fresh rows, the day's counts from a shared index, and a
version of the day's data that lets the live refresh answer 304 when nothing changed.

Judging a 10,000-visit day takes seconds (visits_for_day loads every visit and judges each), so a
request never does that for the rows it shows: it picks the page's visits by SQL (planned time,
search, carer grouping) and judges only those 100 (summaries_of, the same verdict as everywhere).
The day's counts and the status filters need every verdict: they come from a day index, a
read-only cache in each web process, rebuilt when the day's data version changes or it is a
minute old. A small day (under SMALL_DAY visits) is judged whole in every request, as before, so
it is always current; a big day is rebuilt in a background thread while the previous index
answers, and the page says "counts as of HH:MM:SS". The cache only holds what the database
said and decides nothing, so workers each with their own copy stay correct (DESIGN principle 6).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlalchemy import func, literal, or_, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql import column, table

from ivr_gateway.config import Settings
from ivr_gateway.models import (
    ActualVisit,
    Adult,
    AuditEntry,
    CareWorker,
    LogEvent,
    PlannedVisit,
    PlannedVisitCareWorker,
    VisitException,
)
from ivr_gateway.office.board import BoardRow, board_rows, count_rows, row_matches
from ivr_gateway.office.providers import AlertSource
from ivr_gateway.visits.queries import (
    local_day_bounds,
    summaries_of,
    unplanned_for_day,
    visits_for_day,
)

PAGE_SIZE = 100
SMALL_DAY = 300  # visits: judged whole in each request (about 0.15 s on 2 shared cores)
INDEX_MAX_AGE = timedelta(seconds=60)  # verdicts move with the clock (late at +30 min ...)
# A big day's data changes every few seconds (a county's carers log in and out all day): the
# index is rebuilt after a change only once it is this old, so a process spends about one
# whole-day judgement (5 s of CPU at 10,000 visits on 2 shared cores) a half-minute at most.
INDEX_MIN_AGE = timedelta(seconds=30)
CARER_LIST_LONGEST = 300  # more carers than this on the day: find one with the search box
GROUPS = {"": "Planned time", "carer": "Carer"}

# The alerts table belongs to the escalation package, which the office does not import: its
# changes (raised, climbed, acknowledged, resolved) are read as a bare table for the version.
_alerts = table("alerts", column("id"), column("level"), column("acknowledged_at"),
                column("resolved_at"))


@dataclass(frozen=True)
class BoardQuery:
    """What the coordinator asked the board for (query parameters)."""

    day: date
    status: str = "all"
    carer: str = ""
    q: str = ""
    group: str = ""
    page: int = 1


@dataclass(frozen=True)
class IndexEntry:
    """One visit's verdict as the day index keeps it, for counts and status filters."""

    key: str  # "p:REF" for a planned visit, "u:ID" for an unplanned actual visit
    row: BoardRow
    ackers: frozenset[str]  # who acknowledged an alert on it (the "mine" count)


@dataclass
class DayIndex:
    """Every visit of a day judged at `built_at`, with the data version it was built from."""

    day: date
    version: str
    built_at: datetime
    entries: dict[str, IndexEntry]
    carers: list[tuple[str, str]]
    base_counts: dict[str, int] = field(default_factory=dict)

    def counts(self, viewer: str) -> dict[str, int]:
        """The day's counts for this person (the "mine" count is theirs)."""
        return {**self.base_counts,
                "mine": sum(viewer in e.ackers for e in self.entries.values())}


@dataclass(frozen=True)
class GroupHead:
    """A carer's heading when the board is grouped by carer."""

    ref: str
    name: str


@dataclass(frozen=True)
class BoardPage:
    """What the board shows: a page of rows (with carer headings), the counts, the pager."""

    query: BoardQuery
    rows: list[BoardRow | GroupHead]
    counts: dict[str, int]
    carers: list[tuple[str, str]]
    matching: int  # visits (or carer-visit lines, when grouped) matching, over all pages
    pages: int
    counts_at: datetime
    version: str = ""
    keys: list[str] = field(default_factory=list)


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


_indexes: dict[date, DayIndex] = {}
_rebuilding: set[date] = set()
_lock = threading.Lock()


def build_index(session: Session, day: date, settings: Settings, now: datetime,
                alerts: AlertSource, version: str) -> DayIndex:
    """Judge every visit of the day (the costly part), as the index keeps it."""
    rows = board_rows(session, visits_for_day(session, day, settings, now), day, settings,
                      alerts)
    entries = {}
    for row in rows:
        key = f"p:{row.summary.ref}" if row.summary.ref else f"u:{row.actual_visit_id}"
        entries[key] = IndexEntry(key, row, frozenset(
            a.acknowledged_by for a in row.alerts if a.acknowledged_by))
    carers = sorted({(ref, name) for r in rows for ref, name in r.carers}, key=lambda c: c[1])
    return DayIndex(day, version, now, entries, carers, count_rows(rows))


def day_index(session: Session, day: date, settings: Settings, now: datetime,
              alerts: AlertSource, version: str, size: int,
              rebuild: Callable[[], None] | None = None) -> DayIndex:
    """The day's index: current when the day is small or nothing changed; else the last one
    while `rebuild` (a background job) makes the next. Built here when there is none."""
    if size < SMALL_DAY:  # cheap enough to be exactly current, whatever changed
        return build_index(session, day, settings, now, alerts, version)
    with _lock:
        index = _indexes.get(day)
    if index is not None:
        age = now - index.built_at
        if age < INDEX_MIN_AGE or (index.version == version and age < INDEX_MAX_AGE):
            return index
    if index is None or rebuild is None:
        index = build_index(session, day, settings, now, alerts, version)
        with _lock:
            _indexes[day] = index
        return index
    with _lock:
        if day in _rebuilding:
            return index
        _rebuilding.add(day)
    threading.Thread(target=_run_rebuild, args=(day, rebuild), daemon=True,
                     name=f"board-index-{day}").start()
    return index


def _run_rebuild(day: date, rebuild: Callable[[], None]) -> None:
    try:
        rebuild()
    finally:
        with _lock:
            _rebuilding.discard(day)


def store_index(index: DayIndex) -> None:
    """Keep a rebuilt index (from the background job)."""
    with _lock:
        _indexes[index.day] = index


def rebuilding() -> bool:
    """Whether a background rebuild is running (the bench waits for it)."""
    with _lock:
        return bool(_rebuilding)


def forget_indexes() -> None:
    """Drop every cached index (tests, and a process that wants a clean start)."""
    with _lock:
        _indexes.clear()


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _planned_keys(session: Session, query: BoardQuery, settings: Settings
                  ) -> list[tuple[str, str, str]]:
    """(key, carer ref, carer name) of the day's planned visits asked for, in board order.

    The carer is the group heading (grouped by carer, a double-up is under each of its carers).
    """
    start, end = local_day_bounds(query.day, settings)
    on_day = (PlannedVisit.planned_start >= start, PlannedVisit.planned_start < end)
    q = query.q.strip()
    conditions = []
    if q:
        pattern = _like(q.lower())
        booked_carer = select(PlannedVisitCareWorker.planned_visit_id).join(
            CareWorker, CareWorker.id == PlannedVisitCareWorker.care_worker_id).where(or_(
                func.lower(CareWorker.given_name + literal(" ") + CareWorker.family_name)
                .like(pattern, escape="\\"),
                func.lower(CareWorker.ref).like(pattern, escape="\\")))
        conditions.append(or_(
            func.lower(Adult.given_name + literal(" ") + Adult.family_name)
            .like(pattern, escape="\\"),
            func.lower(Adult.ref).like(pattern, escape="\\"),
            func.lower(PlannedVisit.ref).like(pattern, escape="\\"),
            PlannedVisit.id.in_(booked_carer)))
    if query.carer:
        conditions.append(or_(
            PlannedVisit.id.in_(select(PlannedVisitCareWorker.planned_visit_id).join(
                CareWorker, CareWorker.id == PlannedVisitCareWorker.care_worker_id)
                .where(CareWorker.ref == query.carer)),
            PlannedVisit.id.in_(select(ActualVisit.planned_visit_id).join(
                CareWorker, CareWorker.id == ActualVisit.care_worker_id)
                .where(CareWorker.ref == query.carer))))
    if query.group == "carer":
        rows = session.execute(
            select(PlannedVisit.ref, CareWorker.ref, CareWorker.given_name,
                   CareWorker.family_name)
            .join(Adult, Adult.id == PlannedVisit.adult_id)
            .join(PlannedVisitCareWorker,
                  PlannedVisitCareWorker.planned_visit_id == PlannedVisit.id)
            .join(CareWorker, CareWorker.id == PlannedVisitCareWorker.care_worker_id)
            .where(*on_day, *conditions)
            .order_by(CareWorker.family_name, CareWorker.given_name, CareWorker.ref,
                      PlannedVisit.planned_start, PlannedVisit.ref))
        return [(f"p:{ref}", carer, f"{given} {family}") for ref, carer, given, family in rows]
    keys = select(PlannedVisit.ref)
    if q:  # the client's name is only needed to search by it
        keys = keys.join(Adult, Adult.id == PlannedVisit.adult_id)
    refs = session.scalars(keys.where(*on_day, *conditions)
                           .order_by(PlannedVisit.planned_start, PlannedVisit.ref))
    return [(f"p:{ref}", "", "") for ref in refs]


def _unplanned_rows(session: Session, query: BoardQuery, settings: Settings,
                    alerts: AlertSource) -> list[BoardRow]:
    """The day's unplanned visits (few), judged now, as the query filters them."""
    rows = board_rows(session, unplanned_for_day(session, query.day, settings), query.day,
                      settings, alerts)
    q = query.q.strip().lower()
    if q:
        rows = [r for r in rows if q in r.adult_name.lower() or q in (r.summary.adult_ref or "")
                .lower() or any(q in ref.lower() or q in name.lower()
                                for ref, name in r.carers)]
    if query.carer:
        rows = [r for r in rows if query.carer in {ref for ref, _ in r.carers}]
    return rows


def build_board_page(session: Session, query: BoardQuery, settings: Settings, now: datetime,
                     alerts: AlertSource, viewer: str, version: str,
                     rebuild: Callable[[], None] | None = None) -> BoardPage:
    """The board as asked: the page's rows judged now, the day's counts from the index."""
    keyed = _planned_keys(session, query, settings)
    start, end = local_day_bounds(query.day, settings)
    size = len(keyed) if not (query.q or query.carer or query.group) else session.scalar(
        select(func.count()).where(PlannedVisit.planned_start >= start,
                                   PlannedVisit.planned_start < end)) or 0
    index = day_index(session, query.day, settings, now, alerts, version, size, rebuild)
    unplanned = _unplanned_rows(session, query, settings, alerts)
    unplanned_by_key = {f"u:{r.actual_visit_id}": r for r in unplanned}
    lines = keyed + [(key, r.carers[0][0] if r.carers else "", r.carers[0][1] if r.carers
                      else "") for key, r in unplanned_by_key.items()]
    if query.group == "carer":
        lines.sort(key=lambda line: (line[2].split(" ")[-1], line[2], line[1]))
    if query.status != "all":
        # The filter is the index's verdict (current, or as of counts_at on a big day); the
        # rows shown are judged now, so a row may already say it moved on.
        entries = index.entries
        lines = [line for line in lines if line[0] in entries and row_matches(
            _as_viewer(entries[line[0]], viewer), query.status, "")]
    pages = max(1, -(-len(lines) // PAGE_SIZE))
    page = min(max(1, query.page), pages)
    shown = lines[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    refs = [key[2:] for key, _, _ in shown if key.startswith("p:")]
    planned = list(session.scalars(
        select(PlannedVisit).where(PlannedVisit.ref.in_(set(refs)))
        .options(selectinload(PlannedVisit.care_workers), selectinload(PlannedVisit.adult))))
    fresh = {f"p:{r.summary.ref}": r for r in board_rows(
        session, summaries_of(session, planned, settings, now), query.day, settings, alerts,
        viewer)}
    fresh.update(unplanned_by_key)
    out: list[BoardRow | GroupHead] = []
    heading = None
    for key, carer_ref, carer_name in shown:
        if query.group == "carer" and carer_ref != heading:
            heading = carer_ref
            out.append(GroupHead(carer_ref, carer_name))
        if key in fresh:
            out.append(fresh[key])
    carers = index.carers if len(index.carers) <= CARER_LIST_LONGEST else [
        c for c in index.carers if c[0] == query.carer]
    return BoardPage(query=query, rows=out, counts=index.counts(viewer), carers=carers,
                     matching=len(lines), pages=pages, counts_at=index.built_at,
                     version=version, keys=[key for key, _, _ in shown])


def _as_viewer(entry: IndexEntry, viewer: str) -> BoardRow:
    """The index's row, with "mine" as this person sees it."""
    if entry.row.mine == (viewer in entry.ackers):
        return entry.row
    return replace(entry.row, mine=viewer in entry.ackers)


