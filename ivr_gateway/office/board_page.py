"""The board at county size: one page of fresh rows, the day's counts from the day index, and a
version of the day's data that lets the live refresh answer 304 when nothing changed.

Judging a 10,000-visit day takes seconds (visits_for_day loads every visit and judges each), so a
request never does that for the rows it shows: it picks the page's visits by SQL (planned time,
search, carer grouping; the day's few unplanned visits too) and judges only the 100 shown
(summaries_of and unplanned_of, the same verdicts as everywhere).

The day's counts and the status filters need every verdict: they come from the day index
(office/board_index.py), which the scheduler's `board-index` job judges whole and keeps in the
database, so a web process reads it (one small SELECT; the entries once per build) and judges
nothing for them, its first request included. The page says "counts as of HH:MM:SS" when the
index is older than the rows. A small day (under SMALL_DAY visits) is judged whole in every
request, as before, so it is always current.

Without a scheduler (its stored index missing, or older than STORED_MAX_AGE) the board falls
back to an index of its own in each web process: judged in the request the first time, then
rebuilt in a background thread while the previous one answers, when the day's data version
changes or it is a minute old. That costs a whole-day judgement per process (5-13 s at 10,000
visits), which is why the scheduler keeps one for all. Either index only holds what the
database said and decides nothing (DESIGN principles 6 and 8).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, cast, func, literal, null, or_, select, union_all
from sqlalchemy.orm import Session, selectinload

from ivr_gateway.config import Settings
from ivr_gateway.models import ActualVisit, Adult, CareWorker, PlannedVisit, PlannedVisitCareWorker
from ivr_gateway.office.board import BoardRow, board_rows
from ivr_gateway.office.board_index import (
    DayIndex,
    build_index,
    forget_stored,
    row_key,
    stored_index,
)
from ivr_gateway.office.providers import AlertSource
from ivr_gateway.visits.queries import local_day_bounds, summaries_of, unplanned_of

PAGE_SIZE = 100
SMALL_DAY = 300  # visits: judged whole in each request (about 0.15 s on 2 shared cores)
INDEX_MAX_AGE = timedelta(seconds=60)  # verdicts move with the clock (late at +30 min ...)
# Without a scheduler (the fallback): a big day's data changes every few seconds (a county's
# carers log in and out all day), so the process's own index is rebuilt after a change only
# once it is this old: about one whole-day judgement (5 s of CPU at 10,000 visits on 2 shared
# cores) a half-minute at most.
INDEX_MIN_AGE = timedelta(seconds=30)
CARER_LIST_LONGEST = 300  # more carers than this on the day: find one with the search box
GROUPS = {"": "Planned time", "carer": "Carer"}


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


_indexes: dict[date, DayIndex] = {}
_rebuilding: set[date] = set()
_lock = threading.Lock()


def day_index(session: Session, day: date, settings: Settings, now: datetime,
              alerts: AlertSource, version: str, size: int,
              rebuild: Callable[[], None] | None = None) -> DayIndex:
    """The day's index: judged here when the day is small; else the scheduler's stored index;
    else (no scheduler keeps it) this process's own: the last one while `rebuild` (a
    background job) makes the next, built here when there is none."""
    if size < SMALL_DAY:  # cheap enough to be exactly current, whatever changed
        return build_index(session, day, settings, now, alerts, version)
    stored = stored_index(session, day, now)
    if stored is not None:
        return stored
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
    """Keep a rebuilt index in this process (from the background job of the fallback)."""
    with _lock:
        _indexes[index.day] = index


def rebuilding() -> bool:
    """Whether a background rebuild is running (the bench waits for it)."""
    with _lock:
        return bool(_rebuilding)


def forget_indexes() -> None:
    """Drop every index this process holds, its own and its parsed copies of the stored ones
    (tests, and a process that wants a clean start)."""
    with _lock:
        _indexes.clear()
    forget_stored()


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _planned_conditions(query: BoardQuery, settings: Settings) -> tuple[list[Any], bool]:
    """The conditions picking the day's planned visits asked for, and whether they read the
    client's name (the search does)."""
    start, end = local_day_bounds(query.day, settings)
    conditions: list[Any] = [PlannedVisit.planned_start >= start, PlannedVisit.planned_start < end]
    q = query.q.strip()
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
    return conditions, bool(q)


def _planned_keys(session: Session, query: BoardQuery, settings: Settings,
                  offset: int = 0, limit: int | None = None) -> list[tuple[str, str, str]]:
    """(key, "", "") of the day's planned visits asked for, by planned time (only rows offset
    to offset + limit, when limit is given)."""
    conditions, by_name = _planned_conditions(query, settings)
    keys = select(PlannedVisit.ref)
    if by_name:
        keys = keys.join(Adult, Adult.id == PlannedVisit.adult_id)
    refs = session.scalars(keys.where(*conditions)
                           .order_by(PlannedVisit.planned_start, PlannedVisit.ref)
                           .offset(offset).limit(limit))
    return [(f"p:{ref}", "", "") for ref in refs]


def _carer_lines(query: BoardQuery, settings: Settings) -> Any:
    """The day's lines asked for, grouped by carer, as one SELECT: a planned visit once under
    each carer booked on it (a double-up is under both), and each unplanned visit under its
    carer; columns planned ref (or NULL), unplanned id (or NULL), carer ref, given and family
    names, and the line's time (planned start, or when the unplanned visit began or ended)."""
    conditions, by_name = _planned_conditions(query, settings)
    planned = select(PlannedVisit.ref.label("planned_ref"),
                     cast(null(), Integer).label("actual_id"),
                     CareWorker.ref.label("carer_ref"), CareWorker.given_name.label("given"),
                     CareWorker.family_name.label("family"),
                     PlannedVisit.planned_start.label("at"))
    if by_name:
        planned = planned.join(Adult, Adult.id == PlannedVisit.adult_id)
    planned = (planned.join(PlannedVisitCareWorker,
                            PlannedVisitCareWorker.planned_visit_id == PlannedVisit.id)
               .join(CareWorker, CareWorker.id == PlannedVisitCareWorker.care_worker_id)
               .where(*conditions))
    unplanned = (_unplanned_select(query, settings)
                 .with_only_columns(cast(null(), String), ActualVisit.id, CareWorker.ref,
                                    CareWorker.given_name, CareWorker.family_name,
                                    func.coalesce(ActualVisit.started_at, ActualVisit.ended_at)))
    return union_all(planned, unplanned).subquery("lines")


def _carer_page(session: Session, query: BoardQuery, settings: Settings,
                offset: int = 0, limit: int | None = None) -> list[tuple[str, str, str]]:
    """(key, carer ref, carer name) of the lines grouped by carer, by family name, given name,
    then time; the database pages them (offset to offset + limit, when limit is given)."""
    lines = _carer_lines(query, settings)
    rows = session.execute(
        select(lines.c.planned_ref, lines.c.actual_id, lines.c.carer_ref, lines.c.given,
               lines.c.family)
        .order_by(lines.c.family, lines.c.given, lines.c.carer_ref, lines.c.at,
                  lines.c.planned_ref, lines.c.actual_id)
        .offset(offset).limit(limit))
    return [(f"p:{ref}" if ref is not None else f"u:{visit_id}", carer, f"{given} {family}")
            for ref, visit_id, carer, given, family in rows]


def _carer_count(session: Session, query: BoardQuery, settings: Settings) -> int:
    """How many lines grouped by carer the query asks for (counted by the database, with no
    more joins than the search needs): a carer booked on a planned visit is a line."""
    conditions, by_name = _planned_conditions(query, settings)
    planned = select(func.count()).select_from(PlannedVisitCareWorker).join(
        PlannedVisit, PlannedVisit.id == PlannedVisitCareWorker.planned_visit_id)
    if by_name:
        planned = planned.join(Adult, Adult.id == PlannedVisit.adult_id)
    unplanned = _unplanned_select(query, settings).subquery()
    return ((session.scalar(planned.where(*conditions)) or 0)
            + (session.scalar(select(func.count()).select_from(unplanned)) or 0))


def _planned_count(session: Session, query: BoardQuery, settings: Settings) -> int:
    """How many of the day's planned visits the query asks for (counted by the database)."""
    conditions, by_name = _planned_conditions(query, settings)
    counted = select(func.count(PlannedVisit.id))
    if by_name:
        counted = counted.join(Adult, Adult.id == PlannedVisit.adult_id)
    return session.scalar(counted.where(*conditions)) or 0


def _unplanned_select(query: BoardQuery, settings: Settings) -> Any:
    """The day's unplanned visits asked for, with their carer, by SQL alone.

    The same visits as unplanned_for_day (begun on the day, or only ended on it), the same
    search (client or carer, name or reference) and carer filter as the planned visits.
    """
    start, end = local_day_bounds(query.day, settings)
    keys = (select(ActualVisit.id, CareWorker.ref, CareWorker.given_name,
                   CareWorker.family_name)
            .join(CareWorker, CareWorker.id == ActualVisit.care_worker_id)
            .where(ActualVisit.planned_visit_id.is_(None),
                   or_((ActualVisit.started_at >= start) & (ActualVisit.started_at < end),
                       ActualVisit.started_at.is_(None)
                       & (ActualVisit.ended_at >= start) & (ActualVisit.ended_at < end))))
    q = query.q.strip()
    if q:
        pattern = _like(q.lower())
        keys = keys.outerjoin(Adult, Adult.id == ActualVisit.adult_id).where(or_(
            func.lower(Adult.given_name + literal(" ") + Adult.family_name)
            .like(pattern, escape="\\"),
            func.lower(Adult.ref).like(pattern, escape="\\"),
            func.lower(CareWorker.given_name + literal(" ") + CareWorker.family_name)
            .like(pattern, escape="\\"),
            func.lower(CareWorker.ref).like(pattern, escape="\\")))
    if query.carer:
        keys = keys.where(CareWorker.ref == query.carer)
    return keys


def _unplanned_keys(session: Session, query: BoardQuery, settings: Settings
                    ) -> list[tuple[str, str, str]]:
    """(key, carer ref, carer name) of the day's unplanned visits asked for, in the order
    they began; only the ones on the page shown are judged."""
    rows = session.execute(_unplanned_select(query, settings)
                           .order_by(ActualVisit.started_at, ActualVisit.id))
    return [(f"u:{visit_id}", ref, f"{given} {family}")
            for visit_id, ref, given, family in rows]


def build_board_page(session: Session, query: BoardQuery, settings: Settings, now: datetime,
                     alerts: AlertSource, viewer: str, version: str,
                     rebuild: Callable[[], None] | None = None) -> BoardPage:
    """The board as asked: the page's rows judged now, the day's counts from the index.

    With no status filter the database pages the lines, by planned time or grouped by carer (a
    10,000-row day sends 100 references, not 10,000); a status filter reads every key the
    query picks and pages them here, by the index's verdicts.
    """
    day_size = (BoardQuery(query.day) if query.q or query.carer else query)
    by_carer = query.group == "carer"
    if query.status == "all":
        unplanned = [] if by_carer else _unplanned_keys(session, query, settings)
        planned = _planned_count(session, query, settings)
        size = (planned if day_size is query
                else _planned_count(session, day_size, settings))
        index = day_index(session, query.day, settings, now, alerts, version, size, rebuild)
        matching = (_carer_count(session, query, settings) if by_carer
                    else planned + len(unplanned))
        pages = max(1, -(-matching // PAGE_SIZE))
        page = min(max(1, query.page), pages)
        first = (page - 1) * PAGE_SIZE
        if by_carer:
            shown = _carer_page(session, query, settings, first, PAGE_SIZE)
        else:
            shown = (_planned_keys(session, query, settings, first, PAGE_SIZE)
                     + unplanned[max(0, first - planned):max(0, first + PAGE_SIZE - planned)])
        return _page(session, query, settings, now, alerts, viewer, version, index, shown,
                     matching, pages)
    lines = (_carer_page(session, query, settings) if by_carer
             else _planned_keys(session, query, settings)
             + _unplanned_keys(session, query, settings))
    size = _planned_count(session, day_size, settings)
    index = day_index(session, query.day, settings, now, alerts, version, size, rebuild)
    # The filter is the index's verdict (current, or as of counts_at on a big day); the rows
    # shown are judged now, so a row may already say it moved on.
    entries = index.entries
    lines = [line for line in lines
             if line[0] in entries and entries[line[0]].passes(query.status, viewer)]
    pages = max(1, -(-len(lines) // PAGE_SIZE))
    page = min(max(1, query.page), pages)
    shown = lines[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    return _page(session, query, settings, now, alerts, viewer, version, index, shown,
                 len(lines), pages)


def _page(session: Session, query: BoardQuery, settings: Settings, now: datetime,
          alerts: AlertSource, viewer: str, version: str, index: DayIndex,
          shown: list[tuple[str, str, str]], matching: int, pages: int) -> BoardPage:
    """The page of these lines, each judged now, with the index's counts."""
    refs = {key[2:] for key, _, _ in shown if key.startswith("p:")}
    unplanned_ids = {int(key[2:]) for key, _, _ in shown if key.startswith("u:")}
    planned = list(session.scalars(
        select(PlannedVisit).where(PlannedVisit.ref.in_(refs))
        .options(selectinload(PlannedVisit.care_workers), selectinload(PlannedVisit.adult))))
    summaries = summaries_of(session, planned, settings, now)
    if unplanned_ids:
        summaries += unplanned_of(session, sorted(unplanned_ids))
    fresh = {row_key(r): r for r in board_rows(session, summaries, query.day, settings, alerts,
                                                viewer)}
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
                     matching=matching, pages=pages, counts_at=index.built_at,
                     version=version, keys=[key for key, _, _ in shown])
