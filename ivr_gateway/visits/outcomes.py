"""Outcomes: what a planned visit's evidence means against the KPI windows.

Pure functions of plain values: no database, no clock of their own. All arithmetic is on aware
UTC instants, so a visit that spans a clock change is exactly as long as it really was.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from ivr_gateway.config import KpiWindows
from ivr_gateway.visits.deadlines import late_delay, log_out_chase_at, missed_delay


class Outcome(enum.StrEnum):
    """Where a planned visit stands (one word for the board, the API and reports)."""

    SCHEDULED = "scheduled"  # not started, not yet late
    LATE_START = "late_start"  # not started, past the late window, not yet missed
    MISSED = "missed"  # not started within the missed window
    IN_PROGRESS = "in_progress"  # a carer is logged in (a double-up: all were there at once)
    COMPLETED = "completed"  # every carer who logged in has logged out
    SHORT_OF_CARER = "short_of_carer"  # a double-up never fully staffed within the missed window
    INCOMPLETE = "incomplete"  # logged in, but the log-out never came (missing log-out)
    CANCELLED = "cancelled"


class CarerSpan(Protocol):
    """One carer's time on a visit: an ActualVisit row or a CarerTimes."""

    @property
    def care_worker_id(self) -> int:
        """Which carer (two spans of one carer are one carer)."""
        ...

    @property
    def started_at(self) -> datetime | None:
        """Their log-in, if any."""
        ...

    @property
    def ended_at(self) -> datetime | None:
        """Their log-out, if any."""
        ...


@dataclass(frozen=True)
class CarerTimes:
    """One carer's log-in and log-out times on the visit (None where missing)."""

    started_at: datetime | None
    ended_at: datetime | None
    open: bool  # logged in and not (yet) logged out
    missing_log_out: bool = False
    care_worker_id: int = field(kw_only=True)


def all_carers_from(spans: Iterable[CarerSpan], needed: int) -> datetime | None:
    """The first moment `needed` different carers were logged in to the visit at once.

    One rule for the board, the API and the KPI report: a double-up (two or more carers booked)
    gives two-person care only once all its carers are there, so that moment, not the first
    log-in, is when it started. A carer with no log-out (still there, or it never came) counts
    as there from their log-in: the missing log-out is its own exception, and we do not guess
    when they left. For one carer it is simply the earliest log-in.
    """
    started = [s for s in spans if s.started_at is not None]
    starts = sorted(s.started_at for s in started if s.started_at is not None)
    if not starts:
        return None
    if needed <= 1:
        return starts[0]
    for moment in starts:
        there = {s.care_worker_id for s in started
                 if s.started_at is not None and s.started_at <= moment
                 and (s.ended_at is None or s.ended_at >= moment)}
        if len(there) >= needed:
            return moment
    return None


@dataclass(frozen=True)
class VisitOutcome:
    """The outcome with the figures behind it."""

    outcome: Outcome
    minutes_late: int | None  # after planned start (a double-up: of all carers there), if late
    short: bool  # delivered under the commissioned time (no reason code needed)
    actual_start: datetime | None
    actual_end: datetime | None
    log_out_overdue: bool  # a carer still logged in past their log-out chase (deadlines.py)
    carers_needed: int = 1  # carers booked (2 or more: a double-up)
    carers_logged_in: int = 0  # different carers who logged in to it


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def assess_visit(
    planned_start: datetime,
    planned_end: datetime,
    cancelled: bool,
    carers: list[CarerTimes],
    now: datetime,
    windows: KpiWindows,
    *,
    carers_needed: int = 1,
    red: bool = False,
) -> VisitOutcome:
    """Work out a planned visit's outcome from its carers' times at `now`.

    A red-rated client's windows are halved (deadlines.py), exactly as the alert rules halve
    them, so the board says late or missed at the moment the alert is raised.

    A double-up (`carers_needed` of 2 or more) is judged as the KPI report judges it: from the
    moment all its carers were logged in at once (all_carers_from). Until then, or if that
    moment never came within the missed window, it is short of a carer, not in progress or
    completed as if fully staffed: a lone carer cannot give two-person care.
    """
    needed = max(1, carers_needed)
    came = len({c.care_worker_id for c in carers if c.started_at is not None})
    return _judge(planned_start, planned_end, cancelled, carers, now, windows, needed, red,
                  came)


def _judge(planned_start: datetime, planned_end: datetime, cancelled: bool,
           carers: list[CarerTimes], now: datetime, windows: KpiWindows, needed: int,
           red: bool, came: int) -> VisitOutcome:
    # Built once with every field (no dataclasses.replace: the KPI report judges a county's
    # week of visits through here).
    def outcome(status: Outcome, minutes_late: int | None, short: bool,
                actual_start: datetime | None, actual_end: datetime | None,
                overdue: bool) -> VisitOutcome:
        return VisitOutcome(status, minutes_late, short, actual_start, actual_end, overdue,
                            needed, came)

    late_after = late_delay(windows, red)
    missed_after = missed_delay(windows, red)
    starts = [c.started_at for c in carers if c.started_at is not None]
    actual_start = min(starts) if starts else None

    if cancelled:
        return outcome(Outcome.CANCELLED, None, False, actual_start, None, False)

    if actual_start is None:
        if now >= planned_start + missed_after:
            return outcome(Outcome.MISSED, _minutes(now - planned_start), False, None, None,
                           False)
        if now > planned_start + late_after:
            return outcome(Outcome.LATE_START, _minutes(now - planned_start), False, None,
                           None, False)
        return outcome(Outcome.SCHEDULED, None, False, None, None, False)

    started = [c for c in carers if c.started_at is not None]
    ends = [c.ended_at for c in started if c.ended_at is not None]
    if actual_start - planned_start >= missed_after:
        # Delivered, but outside the KPI window: the council counts it as missed (DESIGN.md).
        lateness = actual_start - planned_start
        minutes_late = _minutes(lateness) if lateness > late_after else None
        return outcome(Outcome.MISSED, minutes_late, False, actual_start,
                       max(ends) if ends else None, False)
    overdue = any(c.open and now > log_out_chase_at(planned_start, planned_end, c.started_at,
                                                    windows, red) for c in started)
    together = all_carers_from(started, needed)  # the actual start, for one carer
    if together is None or together - planned_start >= missed_after:
        # A double-up a carer came to alone (so far), or fully staffed only too late.
        lateness = (together or actual_start) - planned_start
        finished = len(ends) == len(started)
        return outcome(Outcome.SHORT_OF_CARER,
                       _minutes(lateness) if lateness > late_after else None, False,
                       actual_start, max(ends) if finished else None, overdue)
    lateness = together - planned_start
    minutes_late = _minutes(lateness) if lateness > late_after else None
    if any(c.open for c in started):
        return outcome(Outcome.IN_PROGRESS, minutes_late, False, actual_start, None, overdue)
    if any(c.missing_log_out or c.ended_at is None for c in started):
        return outcome(Outcome.INCOMPLETE, minutes_late, False, actual_start, None, False)
    actual_end = max(ends)
    commissioned = planned_end - planned_start
    short = actual_end - actual_start < commissioned - timedelta(minutes=windows.short_tolerance)
    return outcome(Outcome.COMPLETED, minutes_late, short, actual_start, actual_end, False)
