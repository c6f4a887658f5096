"""The council's verdict on a planned visit: Essex contract KPI 3 (Schedule 2).

This is the council's judgement, not the office's: the office's operational status of a visit
(scheduled, late start, in progress, completed, ...) is visits/outcomes.py. The two differ on
purpose (a visit can be "completed" for the office and "missed" for the council, when it began
after 11 pm), and every reader shows each by its name (DESIGN.md, principle 8).

Pure functions of plain values and a time: no database, no Flask, no clock of their own. All
arithmetic is on aware instants; "11 pm" is local time in the zone given, so it moves with the
clock changes (last Sunday of March and of October in Europe/London).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from ivr_gateway.visits.outcomes import CarerSpan, all_carers_from

TIME_CRITICAL_WINDOW = timedelta(minutes=30)  # Schedule 2 KPI 3: either side of planned start
LATEST_LOCAL_TIME = time(23, 0)  # Schedule 2 KPI 3: every visit by 11 pm that day
UNFILLED_PLACE = ("", "unfilled place (carer not known)")
# A carer's visit lasts at most a shift (DESIGN.md: up to 8 hours): one that began more than a
# day before a planned visit cannot have covered it (merged_into's readers look back this far).
LONGEST_SPAN = timedelta(days=1)


class Timeliness(enum.StrEnum):
    """The council's KPI 3 verdict on a planned visit."""

    ON_TIME = "on_time"
    LATE = "late"
    SHORT_OF_CARER = "short_of_carer"  # a double-up never fully staffed in its window
    MISSED = "missed"
    CANCELLED = "cancelled"
    PENDING = "pending"  # not judged yet: its KPI 3 window is still open


@dataclass(frozen=True)
class CouncilVerdict:
    """The council's KPI 3 verdict on one planned visit, with the figures behind it."""

    timeliness: Timeliness
    kpi3_met: bool | None  # None: cancelled or pending (in no rate)
    because: str  # plain words for a missed or short-of-carer verdict, else ""
    actual_start: datetime | None  # the earliest log-in of its carers
    all_carers_from: datetime | None  # first moment all the carers needed were logged in
    window_closes_at: datetime  # by 11 pm, before the next visit (time-critical: planned + 30)
    carers_needed: int  # carers booked (2 or more: a double-up)
    carers_logged_in: int  # different carers who logged in to it


@dataclass(frozen=True)
class ClientVisitSpan:
    """One carer's actual visit at a client: what a missed visit may have been merged into."""

    planned_visit_id: int | None  # the planned visit it was matched to, if any
    care_worker_ref: str
    started_at: datetime
    ended_at: datetime | None  # None: no log-out (the span is taken as its log-in only)


@dataclass(frozen=True)
class BookedCarer:
    """A carer booked on a planned visit, as the report names them."""

    care_worker_id: int
    ref: str
    name: str


@functools.lru_cache(maxsize=4096)
def eleven_pm(planned_start: datetime, tz: ZoneInfo) -> datetime:
    """11 pm local time on the local day of the planned start (KPI 3's latest start).

    Cached: a day's visits share a few hundred planned starts, and the KPI report asks for a
    county's week of them (time zone conversion is most of a verdict's cost).
    """
    local_day = planned_start.astimezone(tz).date()
    return datetime.combine(local_day, LATEST_LOCAL_TIME, tz).astimezone(planned_start.tzinfo)


def kpi3_window_closes_at(*, planned_start: datetime, time_critical: bool,
                          next_planned_start: datetime | None, tz: ZoneInfo,
                          eleven: datetime | None = None) -> datetime:
    """When a visit not yet started becomes missed under KPI 3.

    By 11 pm local time that day, before the next planned visit of the client starts, and for a
    time-critical visit within 30 minutes after its planned start.
    """
    closes = eleven if eleven is not None else eleven_pm(planned_start, tz)
    if next_planned_start is not None:
        closes = min(closes, next_planned_start)
    if time_critical:
        closes = min(closes, planned_start + TIME_CRITICAL_WINDOW)
    return closes


def council_verdict(*, planned_start: datetime, planned_end: datetime, time_critical: bool,
                    cancelled: bool, carers: Sequence[CarerSpan], carers_needed: int,
                    next_planned_start: datetime | None, merged_into: str | None,
                    now: datetime, tz: ZoneInfo, late_after_minutes: int) -> CouncilVerdict:
    """The council's KPI 3 verdict on a planned visit from its carers' times, at `now`.

    `carers` are the spans (log-in, log-out) of the carers matched to this visit;
    `next_planned_start` is the start of the client's next planned (not cancelled) visit;
    `merged_into` is the carer ref of another visit at the client that covered this one's
    planned time (see merged_into()): an unattended visit merged into another counts as missed.
    `planned_end` is not judged by KPI 3 (it judges starts; short visits are the report's own
    heading): it is taken so that every reader passes the same whole visit.
    """
    needed = max(1, carers_needed)
    started = [c for c in carers if c.started_at is not None]
    actual_start = min((c.started_at for c in started if c.started_at is not None),
                       default=None)
    came = len({c.care_worker_id for c in started})
    all_from = all_carers_from(started, needed)
    eleven = eleven_pm(planned_start, tz)
    closes_at = kpi3_window_closes_at(planned_start=planned_start, time_critical=time_critical,
                                      next_planned_start=next_planned_start, tz=tz,
                                      eleven=eleven)

    def verdict(timeliness: Timeliness, kpi3: bool | None, because: str = "") -> CouncilVerdict:
        return CouncilVerdict(timeliness, kpi3, because, actual_start, all_from, closes_at,
                              needed, came)

    if cancelled:
        return verdict(Timeliness.CANCELLED, None)
    if actual_start is None:
        if now < closes_at:
            return verdict(Timeliness.PENDING, None)
        if merged_into is not None:
            # Schedule 2 KPI 3: a visit merged into another counts as missed.
            return verdict(Timeliness.MISSED, False, f"merged into the visit of {merged_into}")
        return verdict(Timeliness.MISSED, False, "not attended")
    # A visit that began is judged by 11 pm and the next visit; the time-critical +/- 30
    # minutes make it late (and fail KPI 3), not missed.
    closes = min(eleven, next_planned_start) if next_planned_start is not None else eleven
    if actual_start >= eleven:
        return verdict(Timeliness.MISSED, False, "started after 11 pm")
    if next_planned_start is not None and actual_start >= next_planned_start:
        return verdict(Timeliness.MISSED, False, "started after the next planned visit's start")
    if all_from is None and now < closes:
        # A double-up with a carer in and another still to come: not known yet.
        return verdict(Timeliness.PENDING, None)
    if all_from is None or all_from >= closes:
        return verdict(Timeliness.SHORT_OF_CARER, False,
                       short_of_carer_because(needed, came, all_from, eleven))
    # A double-up is judged from when all its carers were there (a lone carer cannot give
    # two-person care); for a single carer, that is the actual start.
    offset = all_from - planned_start
    if time_critical and abs(offset) > TIME_CRITICAL_WINDOW:
        return verdict(Timeliness.LATE, False)
    if offset > timedelta(minutes=late_after_minutes):
        return verdict(Timeliness.LATE, True)
    return verdict(Timeliness.ON_TIME, True)


def short_of_carer_because(needed: int, came: int, all_from: datetime | None,
                           eleven: datetime) -> str:
    """Plain words for why a double-up is short of a carer."""
    if came < needed:
        return f"double-up: {came} of {needed} carers logged in"
    if all_from is None:
        return f"double-up: the {needed} carers were never logged in at the same time"
    after = "11 pm" if all_from >= eleven else "the next planned visit's start"
    return f"double-up: all {needed} carers were there only after {after}"


def absent_carers(booked: Iterable[BookedCarer], came: Collection[int], needed: int
                  ) -> tuple[tuple[str, str], ...]:
    """The booked carers (ref, name) whose place on a short double-up nobody filled.

    When a substitute came, which booked carer they stood in for is not known: rather than
    blame one at random, each missing place is counted as an unfilled place.
    """
    unfilled = needed - len(came)
    if unfilled <= 0:
        return ()
    away = [(c.ref, c.name) for c in booked if c.care_worker_id not in came]
    return tuple(away) if len(away) == unfilled else (UNFILLED_PLACE,) * unfilled


def merged_into(*, planned_visit_id: int | None, planned_start: datetime, planned_end: datetime,
                spans: Iterable[ClientVisitSpan]) -> str | None:
    """The carer whose visit at the same client covered this visit's planned time, if any.

    `spans` are the client's actual visits (any order); the earliest-starting one that is not
    this visit's own and overlaps its planned start..end wins. The caller asks only for a visit
    nobody logged in to (council_verdict counts it as merged, so missed).
    """
    found: ClientVisitSpan | None = None
    for span in spans:
        if span.planned_visit_id is not None and span.planned_visit_id == planned_visit_id:
            continue
        finish = span.ended_at or span.started_at
        if span.started_at <= planned_end and finish >= planned_start and (
                found is None or span.started_at < found.started_at):
            found = span
    return found.care_worker_ref if found is not None else None
