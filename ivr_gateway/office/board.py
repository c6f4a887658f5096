"""The live board: a day's visits by planned time, with status in words, filters and counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.models import ActualVisit, Adult, CareWorker, Rag
from ivr_gateway.office.providers import AlertSource, AlertView
from ivr_gateway.office.reason_codes import ReasonDue, reason_due
from ivr_gateway.visits.queries import local_day_bounds, visits_for_day
from ivr_gateway.visits.summary import VisitSummary

# outcome -> (the word shown, the style). The word always goes with the colour.
STATUS = {
    "scheduled": ("Due", "due"),
    "late_start": ("Late", "late"),
    "missed": ("Missed", "missed"),
    "in_progress": ("In progress", "progress"),
    "completed": ("Completed", "done"),
    "short_of_carer": ("Short of a carer", "short-carer"),
    "incomplete": ("No log-out", "warn"),
    "cancelled": ("Cancelled", "cancelled"),
}
VERIFICATION_WORDS = {
    "caller_id": "caller ID", "token_code": "token code", "sheet_code": "code sheet",
    "office": "office", "unverified": "unverified",
}
EXCEPTION_WORDS = {
    "unverified_location": "unverified location", "substitution": "substitute carer",
    "unplanned_visit": "unplanned visit", "missing_log_out": "missing log-out",
    "missing_log_in": "missing log-in", "overlapping_visit": "overlapping visit",
    "carer_corrected_direction": "carer pressed 9", "concern_reported": "concern reported",
}
FILTERS = {
    "all": "All visits", "late": "Late", "missed": "Missed", "unverified": "Unverified",
    "short_of_carer": "Short of a carer", "attention": "Needs attention",
}


@dataclass(frozen=True)
class BoardRow:
    """One line of the board."""

    summary: VisitSummary
    actual_visit_id: int | None  # for an unplanned visit, which has no planned reference
    adult_name: str
    rag: str
    carers: list[tuple[str, str]]  # (ref, name)
    status_word: str
    status_style: str
    verification: list[str]
    open_exceptions: list[str]
    alerts: list[AlertView] = field(default_factory=list)
    reason: ReasonDue | None = None

    @property
    def late(self) -> bool:
        """Not started past the late window, or started late.

        Missed, and a double-up short of a carer, have their own counts (as in the KPI report).
        """
        if self.summary.outcome in ("missed", "short_of_carer"):
            return False
        return self.summary.outcome == "late_start" or self.summary.minutes_late is not None

    @property
    def unverified(self) -> bool:
        """Presence not proven and not yet checked by the office."""
        return "unverified location" in self.open_exceptions

    @property
    def needs_attention(self) -> bool:
        """Late, missed, short of a carer, unchecked exceptions, open alerts, reason due."""
        return (self.late or self.summary.outcome in ("missed", "incomplete", "short_of_carer")
                or bool(self.open_exceptions) or any(a.open for a in self.alerts)
                or (self.reason is not None and self.reason.recorded is None))


@dataclass(frozen=True)
class Board:
    """The board for a day: rows after filtering, and counts over all the day's visits."""

    day: date
    rows: list[BoardRow]
    counts: dict[str, int]
    carers: list[tuple[str, str]]  # every carer on the day, for the filter


def _matches(row: BoardRow, status: str, carer: str) -> bool:
    if carer and carer not in {ref for ref, _ in row.carers}:
        return False
    if status == "late":
        return row.late
    if status in ("missed", "short_of_carer"):
        return row.summary.outcome == status
    if status == "unverified":
        return row.unverified
    if status == "attention":
        return row.needs_attention
    return True


def build_board(session: Session, day: date, settings: Settings, now: datetime,
                alerts: AlertSource, status: str = "all", carer: str = "") -> Board:
    """The day's visits as board rows, filtered by status and carer reference."""
    summaries = visits_for_day(session, day, settings, now)
    adult_refs = {s.adult_ref for s in summaries if s.adult_ref}
    adults = {a.ref: a for a in session.scalars(select(Adult).where(Adult.ref.in_(adult_refs)))}
    carer_refs = {r for s in summaries for r in s.care_worker_refs} \
        | {a.care_worker_ref for s in summaries for a in s.actuals}
    names = {c.ref: f"{c.given_name} {c.family_name}" for c in session.scalars(
        select(CareWorker).where(CareWorker.ref.in_(carer_refs)))}
    planned_refs = [s.ref for s in summaries if s.ref]
    alerts_by_ref = alerts.alerts_for_visits(session, planned_refs)
    unplanned_ids = _unplanned_ids(session, day, settings)

    rows: list[BoardRow] = []
    for summary in summaries:
        adult = adults.get(summary.adult_ref or "")
        word, style = STATUS.get(summary.outcome, (summary.outcome, "due"))
        if summary.status == "unplanned":
            word = f"Unplanned, {word.lower()}"
        refs = list(dict.fromkeys([*summary.care_worker_refs,
                                   *(a.care_worker_ref for a in summary.actuals)]))
        verification = list(dict.fromkeys(
            VERIFICATION_WORDS.get(v, v) for a in summary.actuals
            for v in (a.in_verification, a.out_verification) if v))
        actual_id = None
        if summary.ref is None and summary.actuals:
            first = summary.actuals[0]
            actual_id = unplanned_ids.get((first.care_worker_ref, first.started_at,
                                           first.ended_at))
        rows.append(BoardRow(
            summary=summary, actual_visit_id=actual_id,
            adult_name=f"{adult.given_name} {adult.family_name}" if adult else "unknown client",
            rag=(adult.rag if adult else Rag.GREEN).value,
            carers=[(r, names.get(r, r)) for r in refs], status_word=word, status_style=style,
            verification=verification,
            open_exceptions=[EXCEPTION_WORDS.get(e.code, e.code) for e in summary.exceptions
                             if not e.reviewed],
            alerts=alerts_by_ref.get(summary.ref or "", []),
            reason=reason_due(summary)))
    counts = {
        "visits": len(rows),
        "late": sum(r.late for r in rows),
        "missed": sum(r.summary.outcome == "missed" for r in rows),
        "in_progress": sum(r.summary.outcome == "in_progress" for r in rows),
        "completed": sum(r.summary.outcome == "completed" for r in rows),
        "short_of_carer": sum(r.summary.outcome == "short_of_carer" for r in rows),
        "unverified": sum(r.unverified for r in rows),
        "attention": sum(r.needs_attention for r in rows),
    }
    day_carers = sorted({(ref, name) for r in rows for ref, name in r.carers},
                        key=lambda c: c[1])
    shown = [r for r in rows if _matches(r, status, carer)]
    return Board(day, shown, counts, day_carers)


def _unplanned_ids(session: Session, day: date, settings: Settings
                   ) -> dict[tuple[str, datetime | None, datetime | None], int]:
    # The read model names an unplanned visit by carer and times only; find its row for the link.
    start, end = local_day_bounds(day, settings)
    rows = session.execute(
        select(ActualVisit.id, CareWorker.ref, ActualVisit.started_at, ActualVisit.ended_at)
        .join(CareWorker, CareWorker.id == ActualVisit.care_worker_id)
        .where(ActualVisit.planned_visit_id.is_(None),
               ((ActualVisit.started_at >= start) & (ActualVisit.started_at < end))
               | ((ActualVisit.ended_at >= start) & (ActualVisit.ended_at < end))))
    return {(ref, started, ended): visit_id for visit_id, ref, started, ended in rows}
