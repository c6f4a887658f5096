"""The visit page for the phone call: whom to ring, and the actions in the order the visit needs.

A visit nobody is at yet wants the alert taken, the carer and the client rung, another carer
sent; a finished one wants its reason code and, if the times are wrong, a correction. Actions
that make no sense in a state are not offered at all (no "send another carer" on a visit that
is done, no reason-code form where none is needed, no correction before anyone logged in other
than setting the missing log-in).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from ivr_gateway.office.board import STILL_EXPECTED
from ivr_gateway.office.evidence import VisitRecord
from ivr_gateway.office.providers import AlertView

# Outcomes where nobody has logged in yet (a scheduled visit, a late start, a missed visit).
NOT_STARTED = ("scheduled", "late_start", "missed")
# Past the late window with nobody there: a carer who was there may have failed to log in.
OVERDUE = ("late_start", "missed")


@dataclass(frozen=True)
class Contact:
    """Someone to ring about the visit, with their numbers as stored (E.164)."""

    role: str  # carer | client
    name: str
    numbers: list[str]


@dataclass(frozen=True)
class VisitCall:
    """What the top of the visit page shows: whom to ring, where, and what to do, in order."""

    contacts: list[Contact]
    address: str
    actions: list[str]  # acknowledge | reassign | reason | set_log_in | correct
    open_alerts: list[AlertView]
    # Booked carers who have left and not logged in, on a visit still to be done (board.py
    # STILL_EXPECTED): the page says "Amy Jones has left: send another carer".
    leavers: list[str] = field(default_factory=list)


def visit_actions(outcome: str | None, *, planned: bool, logged_in: bool, open_alerts: bool,
                  reason_needed: bool, carer_missing: bool) -> list[str]:
    """The actions a visit in this state needs, most urgent first; none that make no sense.

    - nobody there yet (scheduled, late, missed with no log-in): acknowledge the alert, send
      another carer, then the reason code (missed), then setting a missing log-in (overdue);
    - under way (in progress, or a double-up still short of a carer): acknowledge, send another
      carer in place of one who has not come (double-up), correct the times;
    - finished (completed, no log-out): acknowledge, reason code if needed, correct the times;
    - cancelled: acknowledge, reason code if needed;
    - unplanned (no rota entry, outcome None): correct the times.
    """
    actions = ["acknowledge"] if open_alerts else []
    if outcome is None:
        return [*actions, "correct"]
    if outcome == "cancelled":
        return [*actions, *(["reason"] if reason_needed else [])]
    if outcome in NOT_STARTED and not logged_in:
        actions += ["reassign"] if planned else []
        actions += ["reason"] if reason_needed else []
        actions += ["set_log_in"] if outcome in OVERDUE else []
        return actions
    if outcome in ("in_progress", "short_of_carer"):
        actions += ["reassign"] if planned and carer_missing else []
        return [*actions, "correct"]
    actions += ["reason"] if reason_needed else []
    return [*actions, "correct"]


def visit_call(session: Session, record: VisitRecord, alerts: list[AlertView]) -> VisitCall:
    """Contacts (rota carers' mobiles, the client's landlines, the address) and the actions."""
    carers = list(record.planned.care_workers) if record.planned else \
        [a.care_worker for a in record.actuals]
    contacts = [Contact("carer", f"{c.given_name} {c.family_name}"
                        + ("" if c.active else " (has left)"),
                        [m.number for m in c.mobiles]) for c in carers]
    address = ""
    if record.adult is not None:
        contacts.append(Contact("client", f"{record.adult.given_name} "
                                f"{record.adult.family_name}",
                                [line.number for line in record.adult.landlines]))
        address = ", ".join(p for p in (record.adult.address, record.adult.postcode) if p)
    logged_in_ids = {a.care_worker_id for a in record.actuals if a.started_at is not None}
    summary = record.summary
    open_alerts = [a for a in alerts if a.open]
    actions = visit_actions(
        summary.outcome if summary and record.planned else None,
        planned=record.planned is not None, logged_in=bool(logged_in_ids),
        open_alerts=bool(open_alerts),
        reason_needed=record.reason is not None,
        carer_missing=any(c.id not in logged_in_ids for c in carers))
    leavers = ([f"{c.given_name} {c.family_name}" for c in carers
                if not c.active and c.id not in logged_in_ids]
               if record.planned is not None and summary is not None
               and summary.outcome in STILL_EXPECTED else [])
    return VisitCall(contacts, address, actions, open_alerts, leavers)
