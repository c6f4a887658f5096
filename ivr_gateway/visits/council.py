"""The council's verdict on a visit: Essex contract KPI 3 (provisional; kpi branch replaces)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from ivr_gateway.visits.outcomes import CarerSpan, all_carers_from

TIME_CRITICAL_WINDOW = timedelta(minutes=30)
LATEST_LOCAL_TIME = time(23, 0)


class Timeliness(enum.StrEnum):
    """A planned visit's KPI 3 verdict."""

    ON_TIME = "on_time"
    LATE = "late"
    SHORT_OF_CARER = "short_of_carer"
    MISSED = "missed"
    CANCELLED = "cancelled"
    PENDING = "pending"


@dataclass(frozen=True)
class CouncilVerdict:
    """KPI 3's verdict with the figures behind it."""

    timeliness: Timeliness
    kpi3_met: bool | None
    because: str
    all_carers_from: datetime | None
    window_closes_at: datetime


def council_verdict(*, planned_start: datetime, planned_end: datetime, time_critical: bool,
                    cancelled: bool, carers: Sequence[CarerSpan], carers_needed: int,
                    next_planned_start: datetime | None, merged_into: str | None,
                    now: datetime, tz: ZoneInfo, late_after_minutes: int) -> CouncilVerdict:
    """KPI 3: by 11 pm and before the next visit; time-critical within 30 min; merged = missed."""
    eleven = datetime.combine(planned_start.astimezone(tz).date(), LATEST_LOCAL_TIME, tz)
    closes = min(eleven, next_planned_start) if next_planned_start else eleven
    if time_critical:
        closes = min(closes, planned_start + TIME_CRITICAL_WINDOW)
    started = [c for c in carers if c.started_at is not None]
    starts = [c.started_at for c in started if c.started_at is not None]
    needed = max(1, carers_needed)
    together = all_carers_from(started, needed)
    if cancelled:
        return CouncilVerdict(Timeliness.CANCELLED, None, "", together, closes)
    if not starts:
        if merged_into is not None:
            return CouncilVerdict(Timeliness.MISSED, False,
                                  f"merged into the visit of {merged_into}", None, closes)
        if now < closes:
            return CouncilVerdict(Timeliness.PENDING, None, "", None, closes)
        return CouncilVerdict(Timeliness.MISSED, False, "not attended", None, closes)
    first = min(starts)
    following = next_planned_start
    if first >= eleven:
        return CouncilVerdict(Timeliness.MISSED, False, "started after 11 pm", together, closes)
    if following is not None and first >= following:
        return CouncilVerdict(Timeliness.MISSED, False,
                              "started after the next planned visit's start", together, closes)
    day_closes = min(eleven, following) if following is not None else eleven
    if together is None and now < day_closes:
        return CouncilVerdict(Timeliness.PENDING, None, "", None, closes)
    if together is None or together >= day_closes:
        return CouncilVerdict(Timeliness.SHORT_OF_CARER, False, "double-up short of a carer",
                              together, closes)
    offset = together - planned_start
    if time_critical and abs(offset) > TIME_CRITICAL_WINDOW:
        return CouncilVerdict(Timeliness.LATE, False, "", together, closes)
    if offset > timedelta(minutes=late_after_minutes):
        return CouncilVerdict(Timeliness.LATE, True, "", together, closes)
    return CouncilVerdict(Timeliness.ON_TIME, True, "", together, closes)
