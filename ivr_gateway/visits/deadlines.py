"""When a visit's deadlines fall: one rule for the board, the alerts and the carer's reminder.

A red-rated client is escalated sooner: every window that turns a visit late, missed or chased
is halved for them. The board judges a red client's visit late and missed at the same moments
the alert rules raise those alerts, because both read these functions (DESIGN.md principle 8).
Pure functions of plain values: no database, no clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ivr_gateway.config import KpiWindows


def for_rag(delay: timedelta, red: bool) -> timedelta:
    """A window as it applies to a client: half the time for a red-rated one."""
    return delay / 2 if red else delay


def late_delay(windows: KpiWindows, red: bool) -> timedelta:
    """How long after planned start a visit nobody logged in to is late."""
    return for_rag(timedelta(minutes=windows.late_after), red)


def missed_delay(windows: KpiWindows, red: bool) -> timedelta:
    """How long after planned start a visit nobody logged in to is missed."""
    return for_rag(timedelta(minutes=windows.missed_after), red)


def chase_delay(windows: KpiWindows, red: bool) -> timedelta:
    """How long after a visit should have ended a missing log-out is chased."""
    return for_rag(timedelta(minutes=windows.log_out_chase_after), red)


def late_at(planned_start: datetime, windows: KpiWindows, red: bool) -> datetime:
    """The moment a visit nobody logged in to becomes late (and its alert is raised)."""
    return planned_start + late_delay(windows, red)


def missed_at(planned_start: datetime, windows: KpiWindows, red: bool) -> datetime:
    """The moment a visit nobody logged in to becomes missed (and its alert is raised)."""
    return planned_start + missed_delay(windows, red)


def expected_end(planned_start: datetime, planned_end: datetime,
                 started_at: datetime | None) -> datetime:
    """When a carer who logged in at `started_at` should be done: the planned end, or, for a
    carer who came late, their log-in plus the commissioned time (they give the full visit)."""
    if started_at is None:
        return planned_end
    return max(planned_end, started_at + (planned_end - planned_start))


def log_out_chase_at(planned_start: datetime, planned_end: datetime,
                     started_at: datetime | None, windows: KpiWindows, red: bool) -> datetime:
    """When a carer still logged in is chased ("did you forget to log out?").

    It follows the actual log-in: a carer who logged in 40 minutes late to a 30-minute visit
    is chased 30 minutes after their log-in plus the chase window, not seconds after logging in
    because the planned end has passed.
    """
    return expected_end(planned_start, planned_end, started_at) + chase_delay(windows, red)
