"""One verdict per visit: the office's status, the council's KPI 3 verdict and the reason code.

Every reader (the board, the visit page, the alerts, the API, the KPI report, the council
records) judges a planned visit by calling judge_visit on the same facts, so the same visit
never gets two verdicts (DESIGN.md principle 8). Where the office's status and the council's
verdict differ, both are shown, each by its name (council_note). Pure: plain values and a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ivr_gateway.config import Settings
from ivr_gateway.visits.council import CouncilVerdict, Timeliness, council_verdict
from ivr_gateway.visits.outcomes import CarerTimes, Outcome, VisitOutcome, assess_visit
from ivr_gateway.visits.reasons import (
    ReasonStanding,
    RecordedReason,
    reason_needed,
    reason_standing,
)


@dataclass(frozen=True)
class VisitFacts:
    """What is known of a planned visit: the rota, its client's rating, its carers' times."""

    planned_start: datetime
    planned_end: datetime
    cancelled: bool
    time_critical: bool
    red: bool  # the client's RAG rating is red: escalated sooner
    carers: list[CarerTimes]
    carers_needed: int
    next_planned_start: datetime | None  # the client's next planned visit (KPI 3)
    merged_into: str | None  # the carer whose other visit covered it, if nobody came to it
    reason: RecordedReason | None  # the reason code recorded, if any


@dataclass(frozen=True)
class VisitVerdict:
    """The three judgements of one planned visit."""

    outcome: VisitOutcome  # the office's operational status
    council: CouncilVerdict  # the council's KPI 3 verdict
    reason: ReasonStanding  # whether a reason code is needed, by when, how it stands


def judge_visit(facts: VisitFacts, now: datetime, settings: Settings) -> VisitVerdict:
    """Judge a planned visit at `now`: status, the council's verdict and its reason code."""
    windows = settings.kpi
    outcome = assess_visit(facts.planned_start, facts.planned_end, facts.cancelled,
                           facts.carers, now, windows, carers_needed=facts.carers_needed,
                           red=facts.red)
    council = council_verdict(
        planned_start=facts.planned_start, planned_end=facts.planned_end,
        time_critical=facts.time_critical, cancelled=facts.cancelled, carers=facts.carers,
        carers_needed=facts.carers_needed, next_planned_start=facts.next_planned_start,
        merged_into=facts.merged_into, now=now, tz=settings.tz,
        late_after_minutes=windows.late_after)
    needed = reason_needed(cancelled=facts.cancelled,
                           delivered=outcome.actual_start is not None,
                           office_missed=outcome.outcome == Outcome.MISSED,
                           council_timeliness=council.timeliness.value)
    reason = reason_standing(needed, facts.planned_start, windows.reason_code_due_hours,
                             facts.reason, now)
    return VisitVerdict(outcome, council, reason)


# The office's statuses as the council's verdicts would name them, to tell when they differ.
_OFFICE_AS_COUNCIL = {
    "missed": "missed", "short_of_carer": "short_of_carer", "cancelled": "cancelled",
    "late_start": "late",
}
COUNCIL_WORDS = {
    "on_time": "on time", "late": "late", "short_of_carer": "short of a carer",
    "missed": "missed", "cancelled": "cancelled", "pending": "window open",
}


def council_differs(outcome: str, minutes_late: int | None, council: str | None) -> bool:
    """Whether the council's verdict says something the office's status does not.

    A pending verdict (the council's window still open) says nothing yet. A delivered visit
    the office calls late agrees with a council "late"; one it calls on time with "on time".
    """
    if council is None or council == Timeliness.PENDING:
        return False
    office = _OFFICE_AS_COUNCIL.get(outcome)
    if office is None:  # delivered or under way: on time or late by its log-in
        office = "late" if minutes_late is not None else "on_time"
    return office != council


def council_note(outcome: str, minutes_late: int | None, council: str | None) -> str:
    """'KPI: missed' where the council's verdict differs from the office's status, else ''."""
    if council is None or not council_differs(outcome, minutes_late, council):
        return ""
    return f"KPI: {COUNCIL_WORDS.get(council, council)}"
