"""Reason codes for missed and cancelled visits: which visits need one, by when, and how it stands.

The council asks for a reason code only for a cancelled or missed visit, not a short one
(council FAQ), due within 48 hours of the planned start, weekends included (one setting,
REASON_CODE_DUE_HOURS, read by the board, the visit page, the alerts and the KPI report alike).
"Missed" is the council's word here (KPI 3, council.py): a visit the office already sees as
missed (nobody came within the missed window) takes its reason at once, though the council's
window may still be open. The rules are pure functions; the tables they read are visits/models.py.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ivr_gateway.models import AuditEntry
from ivr_gateway.visits.models import VisitReasonCode

_T = TypeVar("_T")


class ReasonStatus(enum.StrEnum):
    """Where a visit's reason code stands."""

    NOT_NEEDED = "not_needed"
    ON_TIME = "on_time"  # recorded by the deadline
    LATE = "late"  # recorded after the deadline
    OUTSTANDING = "outstanding"  # not recorded, still due
    OVERDUE = "overdue"  # not recorded, past due


@dataclass(frozen=True)
class RecordedReason:
    """A reason code (or the rota's cancel reason) and when it was recorded."""

    code: str
    recorded_at: datetime
    from_rota: bool = False  # a cancellation's reason, sent with the rota


@dataclass(frozen=True)
class ReasonStanding:
    """Whether a visit needs a reason code, by when, and what was recorded."""

    needed: bool
    due_at: datetime | None
    recorded: RecordedReason | None
    status: ReasonStatus

    @property
    def code(self) -> str | None:
        """The recorded code, if any."""
        return self.recorded.code if self.recorded else None

    @property
    def waiting(self) -> bool:
        """Needed and not yet recorded (outstanding or overdue)."""
        return self.status in (ReasonStatus.OUTSTANDING, ReasonStatus.OVERDUE)


NOT_NEEDED = ReasonStanding(False, None, None, ReasonStatus.NOT_NEEDED)


def reason_needed(*, cancelled: bool, delivered: bool, office_missed: bool,
                  council_timeliness: str | None) -> bool:
    """Whether a visit needs a reason code.

    Cancelled, or missed in the council's KPI 3 verdict; or not delivered and already missed
    for the office while the council's window is still open (it will be missed: the office
    records why now). A short visit, a late one and a double-up short of a carer need none.
    """
    if cancelled:
        return True
    if council_timeliness == "missed":
        return True
    return council_timeliness == "pending" and not delivered and office_missed


def reason_due_at(planned_start: datetime, due_hours: int) -> datetime:
    """When a needed reason code is due: `due_hours` after planned start, weekends included."""
    return planned_start + timedelta(hours=due_hours)


def reason_standing(needed: bool, planned_start: datetime, due_hours: int,
                    recorded: RecordedReason | None, now: datetime) -> ReasonStanding:
    """How a visit's reason code stands at `now`."""
    if not needed:
        return NOT_NEEDED
    due = reason_due_at(planned_start, due_hours)
    if recorded is not None:
        status = ReasonStatus.ON_TIME if recorded.recorded_at <= due else ReasonStatus.LATE
    else:
        status = ReasonStatus.OUTSTANDING if now <= due else ReasonStatus.OVERDUE
    return ReasonStanding(True, due, recorded, status)


class RotaVisit(Protocol):
    """What recorded_reasons reads of a planned visit (a PlannedVisit row or plain columns)."""

    @property
    def id(self) -> int:
        """The planned visit's id."""
        ...

    @property
    def ref(self) -> str:
        """Its rota reference."""
        ...

    @property
    def cancelled(self) -> bool:
        """Cancelled on the rota."""
        ...

    @property
    def cancel_reason(self) -> str | None:
        """The rota's reason for cancelling it, if any."""
        ...

    @property
    def updated_at(self) -> datetime:
        """When the rota last changed it."""
        ...


def recorded_reasons(session: Session, visits: Sequence[RotaVisit],
                     among: Select[Any] | None = None) -> dict[int, RecordedReason]:
    """The reason recorded for each of these planned visits: the office's code, else the rota's
    cancel reason (recorded when the visit was first cancelled).

    `among` is a query of the visits' ids where the caller has one (the KPI report's range):
    one statement with a subquery, rather than IN lists of thousands of bound ids.
    """
    ids = [v.id for v in visits]
    if not ids:
        return {}
    found: dict[int, RecordedReason] = {}
    columns = select(VisitReasonCode.planned_visit_id, VisitReasonCode.code,
                     VisitReasonCode.recorded_at)
    queries = ([columns.where(VisitReasonCode.planned_visit_id.in_(among.scalar_subquery()))]
               if among is not None else
               [columns.where(VisitReasonCode.planned_visit_id.in_(chunk))
                for chunk in _chunks(ids)])
    wanted = set(ids)
    for query in queries:
        for visit_id, code, recorded_at in session.execute(query):
            if visit_id in wanted:
                found[visit_id] = RecordedReason(code, recorded_at)
    cancelled = {v.ref: v for v in visits if v.cancelled and v.cancel_reason
                 and v.id not in found}
    first_cancel: dict[str, datetime] = {}
    refs = list(cancelled)
    for chunk_refs in _chunks(refs):
        for ref, at in session.execute(
                select(AuditEntry.entity_ref, AuditEntry.at).where(
                    AuditEntry.entity == "planned_visit", AuditEntry.action == "cancel",
                    AuditEntry.entity_ref.in_(chunk_refs)).order_by(AuditEntry.at)):
            first_cancel.setdefault(ref, at)
    for ref, v in cancelled.items():
        found[v.id] = RecordedReason(str(v.cancel_reason), first_cancel.get(ref, v.updated_at),
                                     from_rota=True)
    return found


def _chunks(items: list[_T], size: int = 5000) -> list[list[_T]]:
    # Bounded IN lists: SQLite caps bound parameters, PostgreSQL plans long lists slowly.
    return [items[i:i + size] for i in range(0, len(items), size)]
