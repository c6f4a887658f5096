"""Reading the change feed (visit_changes) in an order that never skips or repeats an entry.

Why (xact_id, id) and the snapshot's xmin, on PostgreSQL: ids come from a sequence when a
writer inserts, but writers commit in any order, so "every id above my cursor" would skip an
id that a slower transaction commits after a reader moved past it. Instead each entry carries
its writer's transaction id (pg_current_xact_id(), 64 bits, never wraps), and a reader returns
only entries whose writer is older than the oldest transaction still running in its snapshot
(pg_snapshot_xmin(pg_current_snapshot())). Every such writer has finished: its entries are all
visible now or never will be (rolled back). Any entry that becomes visible later belongs to a
writer at or above that xmin, so it sorts after everything returned, and a cursor of
(xact_id, id) never passes over it. Writers take no extra lock; a long transaction holds the
feed back (not its writes) until it ends.

Transaction ids and snapshots are the cluster's, not the database's: a long transaction in
another database of the same server would hold the feed back too. So the bound is the oldest
running transaction of the snapshot less those pg_stat_activity shows to belong to another
database (a transaction's database never changes, so that can only leave out transactions
that cannot write our table; one it cannot place, e.g. one that ended meanwhile or a prepared
one, still holds the feed back: late, never wrong). The PostgreSQL tests prove it with two writing
processes and a reader (tests/webhooks/test_feed_concurrency.py).

SQLite has one writer at a time (the database lock is held from the first write to commit), so
ids commit in order; xact_id is 0 there and the id orders the feed.

An entry points at what changed; it is shown as it stands when read, judged then by
judge_visit (via queries.summaries_of), so a reader that catches up after a week sees today's
verdicts on each visit, not the ones of the moment written.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, text, true
from sqlalchemy.orm import Session, selectinload

from ivr_gateway.config import Settings
from ivr_gateway.models import ActualVisit, CareWorker, LogEvent, PlannedVisit
from ivr_gateway.visits.models import VisitChange
from ivr_gateway.visits.queries import summaries_of
from ivr_gateway.visits.summary import VisitSummary

MAX_LIMIT = 500
DEFAULT_LIMIT = 100


class BadCursor(ValueError):
    """A cursor this gateway did not hand out."""


@dataclass(frozen=True, order=True)
class Position:
    """A place in the feed: the entry's writer transaction and id (0, 0: the start)."""

    xact_id: int = 0
    id: int = 0

    def cursor(self) -> str:
        """The opaque form handed to readers."""
        raw = f"v1.{self.xact_id}.{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def of_cursor(cls, cursor: str | None) -> Position:
        """The position of a cursor (None or empty: the start of the feed)."""
        if not cursor:
            return cls()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            version, xact, ident = raw.split(".")
            if version != "v1":
                raise ValueError(version)
            return cls(int(xact), int(ident))
        except (ValueError, binascii.Error, UnicodeDecodeError) as error:
            raise BadCursor("The cursor is not one this gateway handed out; start from the "
                            "beginning (no cursor) or from the last next_cursor you kept.") \
                from error


@dataclass(frozen=True)
class ActualVisitState:
    """One carer's actual visit as it stands (removed: a correction took it away)."""

    id: int
    care_worker_ref: str | None
    planned_visit_ref: str | None
    removed: bool
    state: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    in_verification: str | None = None
    out_verification: str | None = None


@dataclass(frozen=True)
class LogEventState:
    """A log event as captured (evidence is never changed; superseded says if replaced)."""

    id: int
    kind: str
    channel: str
    care_worker_ref: str
    event_time: datetime
    received_at: datetime
    verification: str
    superseded: bool


@dataclass(frozen=True)
class FeedEntry:
    """One change, with the planned visit it belongs to judged now."""

    position: Position
    type: str
    recorded_at: datetime
    planned_visit_ref: str | None
    visit: VisitSummary | None
    actual_visit: ActualVisitState | None
    log_event: LogEventState | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedPage:
    """A page of the feed and where to read on from."""

    entries: list[FeedEntry]
    next_position: Position
    more: bool  # more entries can be read now; else poll again later


# The oldest transaction of this database still running in the statement's snapshot (else the
# snapshot's xmax): every writer below it has ended. backend_xid is 32-bit; xip's are 64-bit.
_VISIBLE_BELOW = text("""visit_changes.xact_id < (
    SELECT coalesce(min(running.xid::text::bigint),
                    pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
    FROM pg_snapshot_xip(pg_current_snapshot()) AS running(xid)
    WHERE running.xid::text::bigint % 4294967296 NOT IN (
        SELECT backend_xid::text::bigint FROM pg_stat_activity
        WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database()))""")


def _visible(session: Session) -> Any:
    if session.get_bind().dialect.name != "postgresql":
        return true()
    return _VISIBLE_BELOW


def read_changes(session: Session, after: Position, limit: int, settings: Settings,
                 now: datetime) -> FeedPage:
    """Up to `limit` entries after `after`, in feed order, each judged at `now`."""
    limit = max(1, min(limit, MAX_LIMIT))
    rows = changes_after(session, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    entries = render_entries(session, rows, settings, now)
    last = Position(rows[-1].xact_id, rows[-1].id) if rows else after
    return FeedPage(entries, last, more)


def changes_after(session: Session, after: Position, limit: int) -> list[VisitChange]:
    """Up to `limit` raw entries after `after`, in feed order, as they are stored (not judged:
    for a reader that only needs to know what changed, e.g. the board's day index)."""
    return list(session.scalars(
        select(VisitChange)
        .where(or_(VisitChange.xact_id > after.xact_id,
                   and_(VisitChange.xact_id == after.xact_id, VisitChange.id > after.id)),
               _visible(session))
        .order_by(VisitChange.xact_id, VisitChange.id).limit(limit)))


def render_entries(session: Session, rows: list[VisitChange], settings: Settings,
                   now: datetime) -> list[FeedEntry]:
    """The entries of these rows, each with its visits as they stand at `now`."""
    actuals = {a.id: a for a in session.scalars(select(ActualVisit).where(
        ActualVisit.id.in_({r.actual_visit_id for r in rows if r.actual_visit_id})))}
    events = {e.id: e for e in session.scalars(select(LogEvent).where(
        LogEvent.id.in_({r.log_event_id for r in rows if r.log_event_id})))}
    carer_ids = ({a.care_worker_id for a in actuals.values()}
                 | {e.care_worker_id for e in events.values()}
                 | {r.care_worker_id for r in rows if r.care_worker_id})
    carer_refs: dict[int, str] = {i: ref for i, ref in session.execute(
        select(CareWorker.id, CareWorker.ref).where(CareWorker.id.in_(carer_ids)))}
    # The planned visit an entry belongs to now (an office move may have changed it).
    planned_ids: dict[int, int | None] = {}
    for row in rows:
        actual = actuals.get(row.actual_visit_id or -1)
        planned_ids[row.id] = (actual.planned_visit_id if actual is not None
                               else row.planned_visit_id)
    planned = list(session.scalars(
        select(PlannedVisit).where(PlannedVisit.id.in_({i for i in planned_ids.values() if i}))
        .options(selectinload(PlannedVisit.care_workers), selectinload(PlannedVisit.adult))))
    planned_by_id = {p.id: p for p in planned}
    summaries = {s.ref: s for s in summaries_of(session, planned, settings, now)}
    entries = []
    for row in rows:
        visit = planned_by_id.get(planned_ids[row.id] or -1)
        ref = visit.ref if visit is not None else row.planned_visit_ref
        actual_state = None
        if row.actual_visit_id is not None:
            actual = actuals.get(row.actual_visit_id)
            actual_state = (ActualVisitState(
                id=actual.id, care_worker_ref=carer_refs.get(actual.care_worker_id),
                planned_visit_ref=ref if actual.planned_visit_id else None, removed=False,
                state=actual.state.value, started_at=actual.started_at,
                ended_at=actual.ended_at,
                in_verification=actual.in_verification.value if actual.in_verification else None,
                out_verification=(actual.out_verification.value if actual.out_verification
                                  else None))
                if actual is not None else ActualVisitState(
                    id=row.actual_visit_id, care_worker_ref=carer_refs.get(
                        row.care_worker_id or -1), planned_visit_ref=None, removed=True))
        event_state = None
        event = events.get(row.log_event_id or -1)
        if event is not None:
            event_state = LogEventState(
                id=event.id, kind=event.kind.value, channel=event.channel.value,
                care_worker_ref=carer_refs[event.care_worker_id], event_time=event.event_time,
                received_at=event.received_at, verification=event.verification.value,
                superseded=event.superseded_by_id is not None)
        entries.append(FeedEntry(
            position=Position(row.xact_id, row.id), type=row.type, recorded_at=row.recorded_at,
            planned_visit_ref=ref, visit=summaries.get(ref) if ref is not None else None,
            actual_visit=actual_state, log_event=event_state, detail=dict(row.detail or {})))
    return entries


def last_position(session: Session) -> Position:
    """The position of the newest readable entry (a new subscriber starts from here)."""
    row = session.execute(select(VisitChange.xact_id, VisitChange.id).where(_visible(session))
                          .order_by(VisitChange.xact_id.desc(), VisitChange.id.desc())
                          .limit(1)).first()
    return Position(row.xact_id, row.id) if row is not None else Position()
