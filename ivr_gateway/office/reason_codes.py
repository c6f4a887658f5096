"""The office's view of reason codes: where each visit's stands, and what is still due.

The rules (which visits need one, by when) are the domain's (visits/reasons.py, judged with
every other verdict in visits/verdicts.py); recording one is visits/reason_codes.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.visits.errors import ActionRefused
from ivr_gateway.visits.queries import visits_for_day
from ivr_gateway.visits.reason_codes import reason_kind
from ivr_gateway.visits.summary import VisitSummary

__all__ = ["ActionRefused", "ReasonDue", "reason_due", "reasons_outstanding"]


@dataclass(frozen=True)
class ReasonDue:
    """A visit that needs a reason code and where it stands."""

    ref: str
    adult_initials: str | None
    outcome: str  # missed | cancelled: which list of reasons fits
    planned_start: datetime
    due_at: datetime
    recorded: str | None  # the code (or the rota's cancel reason) when given

    def overdue(self, now: datetime) -> bool:
        """True when no reason was given and the deadline is past."""
        return self.recorded is None and now > self.due_at

    def hours_left(self, now: datetime) -> float:
        """Hours until due (negative when overdue)."""
        return (self.due_at - now).total_seconds() / 3600


def reason_due(summary: VisitSummary) -> ReasonDue | None:
    """Where a visit's reason code stands, or None when the visit needs none."""
    standing = summary.reason
    if summary.ref is None or summary.planned_start is None or not standing.needed:
        return None
    assert standing.due_at is not None
    recorded = standing.recorded
    given = None
    if recorded is not None:
        given = f"rota: {recorded.code}" if recorded.from_rota else recorded.code
    return ReasonDue(summary.ref, summary.adult_initials, reason_kind(summary),
                     summary.planned_start, standing.due_at, given)


def reasons_outstanding(session: Session, settings: Settings, now: datetime, days: int = 14
                        ) -> list[ReasonDue]:
    """Visits of the last `days` local days that need a reason code and have none, by due."""
    today = now.astimezone(settings.tz).date()
    waiting: list[ReasonDue] = []
    for offset in range(days, -1, -1):
        day: date = today - timedelta(days=offset)
        for summary in visits_for_day(session, day, settings, now):
            status = reason_due(summary)
            if status is not None and status.recorded is None:
                waiting.append(status)
    return sorted(waiting, key=lambda r: r.due_at)
