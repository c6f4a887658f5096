"""Outcomes: what a planned visit's evidence means against the KPI windows.

Pure functions of plain values: no database, no clock of their own. All arithmetic is on aware
UTC instants, so a visit that spans a clock change is exactly as long as it really was.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from ivr_gateway.config import KpiWindows


class Outcome(enum.StrEnum):
    """Where a planned visit stands (one word for the board, the API and reports)."""

    SCHEDULED = "scheduled"  # not started, not yet late
    LATE_START = "late_start"  # not started, past the late window, not yet missed
    MISSED = "missed"  # not started within the missed window
    IN_PROGRESS = "in_progress"  # a carer is logged in
    COMPLETED = "completed"  # every carer who logged in has logged out
    INCOMPLETE = "incomplete"  # logged in, but the log-out never came (missing log-out)
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class CarerTimes:
    """One carer's log-in and log-out times on the visit (None where missing)."""

    started_at: datetime | None
    ended_at: datetime | None
    open: bool  # logged in and not (yet) logged out
    missing_log_out: bool = False


@dataclass(frozen=True)
class VisitOutcome:
    """The outcome with the figures behind it."""

    outcome: Outcome
    minutes_late: int | None  # minutes after planned start, when past the late window
    short: bool  # delivered under the commissioned time (no reason code needed)
    actual_start: datetime | None
    actual_end: datetime | None
    log_out_overdue: bool  # in progress past planned end + the chase window


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def assess_visit(
    planned_start: datetime,
    planned_end: datetime,
    cancelled: bool,
    carers: list[CarerTimes],
    now: datetime,
    windows: KpiWindows,
) -> VisitOutcome:
    """Work out a planned visit's outcome from its carers' times at `now`."""
    late_after = timedelta(minutes=windows.late_after)
    missed_after = timedelta(minutes=windows.missed_after)
    starts = [c.started_at for c in carers if c.started_at is not None]
    actual_start = min(starts) if starts else None

    if cancelled:
        return VisitOutcome(Outcome.CANCELLED, None, False, actual_start, None, False)

    if actual_start is None:
        if now >= planned_start + missed_after:
            return VisitOutcome(Outcome.MISSED, _minutes(now - planned_start), False, None, None,
                                False)
        if now > planned_start + late_after:
            return VisitOutcome(Outcome.LATE_START, _minutes(now - planned_start), False, None,
                                None, False)
        return VisitOutcome(Outcome.SCHEDULED, None, False, None, None, False)

    lateness = actual_start - planned_start
    minutes_late = _minutes(lateness) if lateness > late_after else None
    started = [c for c in carers if c.started_at is not None]
    if lateness >= missed_after:
        # Delivered, but outside the KPI window: the council counts it as missed (DESIGN.md).
        ends = [c.ended_at for c in started if c.ended_at is not None]
        return VisitOutcome(Outcome.MISSED, minutes_late, False, actual_start,
                            max(ends) if ends else None, False)
    if any(c.open for c in started):
        overdue = now > planned_end + timedelta(minutes=windows.log_out_chase_after)
        return VisitOutcome(Outcome.IN_PROGRESS, minutes_late, False, actual_start, None, overdue)
    if any(c.missing_log_out or c.ended_at is None for c in started):
        return VisitOutcome(Outcome.INCOMPLETE, minutes_late, False, actual_start, None, False)
    actual_end = max(c.ended_at for c in started if c.ended_at is not None)
    commissioned = planned_end - planned_start
    short = actual_end - actual_start < commissioned - timedelta(minutes=windows.short_tolerance)
    return VisitOutcome(Outcome.COMPLETED, minutes_late, short, actual_start, actual_end, False)
