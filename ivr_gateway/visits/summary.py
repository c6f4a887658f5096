"""Read models of visits: what the API, the dashboard and the reports show of a day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ivr_gateway.visits.council import CouncilVerdict
from ivr_gateway.visits.reasons import NOT_NEEDED, ReasonStanding
from ivr_gateway.visits.verdicts import council_note


@dataclass(frozen=True)
class CarerActual:
    """One carer's actual visit: their log-in and log-out as matched."""

    care_worker_ref: str
    state: str  # open | closed | missing_log_out
    started_at: datetime | None
    ended_at: datetime | None
    in_verification: str | None
    out_verification: str | None
    match_reason: str


@dataclass(frozen=True)
class ExceptionSummary:
    """An exception the office should review."""

    code: str
    detail: str
    care_worker_ref: str | None
    created_at: datetime
    reviewed: bool


@dataclass(frozen=True)
class VisitSummary:
    """A planned visit (or an unplanned actual one) with what happened and what it means."""

    ref: str | None  # None for an unplanned visit
    adult_ref: str | None
    adult_initials: str | None
    care_worker_refs: list[str]
    planned_start: datetime | None
    planned_end: datetime | None
    status: str  # planned | cancelled | unplanned
    cancel_reason: str | None
    time_critical: bool
    outcome: str  # see ivr_gateway.visits.outcomes.Outcome
    minutes_late: int | None
    short: bool
    actual_start: datetime | None
    actual_end: datetime | None
    carers_needed: int  # carers booked on it (2 or more: a double-up); 1 for an unplanned visit
    carers_logged_in: int  # different carers who logged in to it
    actuals: list[CarerActual] = field(default_factory=list)
    exceptions: list[ExceptionSummary] = field(default_factory=list)
    red: bool = False  # the client's RAG rating is red (windows halved: deadlines.py)
    council: CouncilVerdict | None = None  # the council's KPI 3 verdict (None: unplanned)
    reason: ReasonStanding = NOT_NEEDED  # the reason code: needed, due, recorded
    log_out_overdue: bool = False  # a carer still logged in past their log-out chase

    @property
    def council_timeliness(self) -> str | None:
        """The council's verdict in one word (on_time, late, missed, ...), None if unplanned."""
        return self.council.timeliness.value if self.council else None

    @property
    def council_note(self) -> str:
        """'KPI: missed' where the council's verdict differs from the office's status."""
        return council_note(self.outcome, self.minutes_late, self.council_timeliness)

    @property
    def carers_note(self) -> str:
        """For a double-up short of a carer, what the office should know: '1 of 2 carers'."""
        if self.outcome != "short_of_carer":
            return ""
        if self.carers_logged_in < self.carers_needed:
            return f"{self.carers_logged_in} of {self.carers_needed} carers"
        return f"{self.carers_needed} carers, never there together"
