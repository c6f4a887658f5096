"""The live board: a day's visits by planned time, with status in words, filters and counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.models import ActualVisit, Adult, AuditEntry, CareWorker, Rag
from ivr_gateway.office.models import OfficeUser
from ivr_gateway.office.providers import AlertSource, AlertView
from ivr_gateway.office.reason_codes import ReasonDue, reason_due
from ivr_gateway.visits.models import ReasonCode
from ivr_gateway.visits.queries import local_day_bounds, visits_for_day
from ivr_gateway.visits.summary import VisitSummary

# outcome -> (the word shown, the style). The word always goes with the colour.
STATUS = {
    "scheduled": ("Due", "due"),
    "late_start": ("Late", "late"),
    "missed": ("Missed", "missed"),
    "in_progress": ("In progress", "progress"),
    "completed": ("Completed", "done"),
    "short_of_carer": ("Short of a carer", "short-carer"),
    "incomplete": ("No log-out", "warn"),
    "cancelled": ("Cancelled", "cancelled"),
}
VERIFICATION_WORDS = {
    "caller_id": "caller ID", "token_code": "token code", "sheet_code": "code sheet",
    "office": "office", "unverified": "unverified",
}
EXCEPTION_WORDS = {
    "unverified_location": "unverified location", "substitution": "substitute carer",
    "unplanned_visit": "unplanned visit", "missing_log_out": "missing log-out",
    "missing_log_in": "missing log-in", "overlapping_visit": "overlapping visit",
    "carer_corrected_direction": "carer pressed 9",
    "carer_corrected_client": "carer chose the other client",
    "concern_reported": "concern reported",
}
FILTERS = {
    "all": "All visits", "late": "Late", "missed": "Missed", "unverified": "Unverified",
    "short_of_carer": "Short of a carer", "attention": "Needs attention",
    "mine": "Alerts I acknowledged",
}
# Outcomes where the carer is not (or not yet, or not all) there, or never said they left:
# someone in the office has to act (ring, send another carer) until somebody has.
NOBODY_THERE = ("late_start", "missed", "short_of_carer", "incomplete")
# Outcomes where a booked carer who has not logged in is still expected: a leaver booked on
# such a visit will not come, so someone must send another carer.
STILL_EXPECTED = ("scheduled", "late_start", "missed", "short_of_carer")


@dataclass(frozen=True)
class Handled:
    """One thing someone did about a visit, as the board row says it."""

    what: str  # acknowledged | sent | reason | checked
    by: str  # the person's name as the office knows them (or the text contact's name)
    at: datetime
    text: str  # the note, "Ben Taylor sent instead of Amy Smith", the reason's label ...


@dataclass(frozen=True)
class BoardRow:
    """One line of the board."""

    summary: VisitSummary
    actual_visit_id: int | None  # for an unplanned visit, which has no planned reference
    adult_name: str
    rag: str
    carers: list[tuple[str, str]]  # (ref, name)
    status_word: str
    status_style: str
    verification: list[str]
    open_exceptions: list[str]
    alerts: list[AlertView] = field(default_factory=list)
    reason: ReasonDue | None = None
    handled: list[Handled] = field(default_factory=list)
    mine: bool = False  # an alert on it was acknowledged by the person looking at the board
    # Booked carers who have left (rota: inactive) and have not logged in, on a visit still to
    # be done: nobody will come in their place until another carer is sent.
    leavers: list[str] = field(default_factory=list)

    @property
    def late(self) -> bool:
        """Not started past the late window, or started late.

        Missed, and a double-up short of a carer, have their own counts (as in the KPI report).
        """
        if self.summary.outcome in ("missed", "short_of_carer"):
            return False
        return self.summary.outcome == "late_start" or self.summary.minutes_late is not None

    @property
    def unverified(self) -> bool:
        """Presence not proven and not yet checked by the office."""
        return "unverified location" in self.open_exceptions

    @property
    def still_open(self) -> list[str]:
        """What on this visit nobody has handled yet (see still_open)."""
        return still_open(self)

    @property
    def needs_attention(self) -> bool:
        """Something on the visit is still open: nobody has handled it yet."""
        return bool(still_open(self))


def still_open(row: BoardRow) -> list[str]:
    """What on a visit still needs someone, in words; empty once everything is handled.

    The worklist rule: "Need attention" counts a visit only while one of these is open.
    - An alert is open until someone acknowledges it (or it resolves by itself, e.g. the carer
      logged in).
    - A reason code is open until one is recorded (or the rota gave the cancellation's).
    - An exception (unverified location, substitute carer ...) is open until someone marks it
      checked.
    - A carer booked on it who has left (the rota marked them inactive) and has not logged in
      is open until another carer is sent in their place (the leaver is then off the visit).
    - A visit nobody is at (late with no log-in, missed, a double-up short of a carer, a
      missing log-out) is open until someone has acted on it: an alert on it was acknowledged
      (the person who took it rang round), another carer was sent instead, or, once missed, its
      reason code was recorded. A visit that started late but is under way or done is not a
      job: the carer is there, and the council's verdict keeps the lateness.
    """
    items = [f"{name} has left: send another carer" for name in row.leavers]
    outcome = row.summary.outcome
    if outcome in NOBODY_THERE:
        acted = (any(a.acknowledged_at is not None for a in row.alerts)
                 or any(h.what == "sent" for h in row.handled)
                 or (outcome == "missed" and row.reason is not None
                     and row.reason.recorded is not None))
        if not acted:
            items.append({"late_start": "nobody there yet", "missed": "nobody went",
                          "short_of_carer": "a carer short",
                          "incomplete": "no log-out"}[outcome])
    items += [f"alert: {a.kind.replace('_', ' ')}" for a in row.alerts if a.open]
    items += row.open_exceptions
    if row.reason is not None and row.reason.recorded is None:
        items.append("reason code")
    return items


@dataclass(frozen=True)
class Board:
    """The board for a day: rows after filtering, and counts over all the day's visits."""

    day: date
    rows: list[BoardRow]
    counts: dict[str, int]
    carers: list[tuple[str, str]]  # every carer on the day, for the filter


def row_matches(row: BoardRow, status: str, carer: str) -> bool:
    """Whether a board row passes the status filter and the carer reference."""
    if carer and carer not in {ref for ref, _ in row.carers}:
        return False
    if status == "late":
        return row.late
    if status in ("missed", "short_of_carer"):
        return row.summary.outcome == status
    if status == "unverified":
        return row.unverified
    if status == "attention":
        return row.needs_attention
    if status == "mine":
        return row.mine
    return True


def person_name(actor: str | None, office_names: dict[str, str]) -> str:
    """'office:jo' as the office user's name ('Jo'); 'sms:Sam Carter' as 'Sam Carter'."""
    if not actor:
        return "?"
    door, _, who = actor.partition(":")
    if not who:
        return actor
    return office_names.get(who, who) if door == "office" else who


# How each door an actor came through is said after their name ("Cora (office)").
DOOR_WORDS = {"office": "office", "api": "through the API", "cli": "on the server",
              "ivr": "carer, on the call", "sms": "by text"}
ROLE_WORDS = {"coordinator": "a coordinator", "manager": "a manager",
              "administrator": "an administrator"}


def person_with_door(actor: str | None, office_names: dict[str, str]) -> str:
    """'office:cora' as 'Cora (office)', 'api:rostering' as 'rostering (through the API)'; a
    plain name (a contact who replied ACK) as it is."""
    name = person_name(actor, office_names)
    door = (actor or "").partition(":")[0] if actor and ":" in actor else ""
    return f"{name} ({DOOR_WORDS[door]})" if door in DOOR_WORDS else name


def _office_names(session: Session, actors: set[str]) -> dict[str, str]:
    usernames = {a.partition(":")[2] for a in actors if a.startswith("office:")}
    return {u.username: u.display_name or u.username for u in session.scalars(
        select(OfficeUser).where(OfficeUser.username.in_(usernames)))} if usernames else {}


def _handled_by_visit(session: Session, refs: list[str], alerts: dict[str, list[AlertView]]
                      ) -> dict[str, list[Handled]]:
    """Acknowledgements, carers sent instead, reason codes and checks, per visit reference."""
    if not refs:
        return {}
    audit = list(session.scalars(select(AuditEntry).where(
        AuditEntry.entity == "planned_visit", AuditEntry.entity_ref.in_(refs),
        AuditEntry.action.in_(("reassign", "reason_code", "check_exception")))
        .order_by(AuditEntry.at, AuditEntry.id)))
    actors = {a.actor for a in audit} | {
        v.acknowledged_by for vs in alerts.values() for v in vs if v.acknowledged_by}
    names = _office_names(session, actors)
    carer_refs = {str(a.detail.get(k)) for a in audit if a.action == "reassign"
                  for k in ("from", "to")}
    carers = {c.ref: f"{c.given_name} {c.family_name}" for c in session.scalars(
        select(CareWorker).where(CareWorker.ref.in_(carer_refs)))} if carer_refs else {}
    labels = {code: label for code, label in session.execute(
        select(ReasonCode.code, ReasonCode.label))}
    found: dict[str, list[Handled]] = {}
    for ref, views in alerts.items():
        found.setdefault(ref, []).extend(
            Handled("acknowledged", person_name(v.acknowledged_by, names), v.acknowledged_at,
                    v.acknowledged_note or "") for v in views if v.acknowledged_at is not None)
    latest_reason: dict[str, Handled] = {}
    for a in audit:
        by = person_name(a.actor, names)
        if a.action == "reassign":
            sent, instead = (carers.get(str(a.detail.get(k)), str(a.detail.get(k)))
                             for k in ("to", "from"))
            found.setdefault(a.entity_ref, []).append(
                Handled("sent", by, a.at, f"{sent} sent instead of {instead}"))
        elif a.action == "reason_code":
            code = str(a.detail.get("code", ""))
            latest_reason[a.entity_ref] = Handled("reason", by, a.at, labels.get(code, code))
        else:
            code, note = str(a.detail.get("code")), str(a.detail.get("note") or "")
            words = EXCEPTION_WORDS.get(code, code)
            found.setdefault(a.entity_ref, []).append(Handled(
                "checked", by, a.at, f"{words} ({note})" if note else words))
    for ref, reason in latest_reason.items():  # a reason changed twice: the one that stands
        found.setdefault(ref, []).append(reason)
    for items in found.values():
        items.sort(key=lambda h: h.at)
    return found


def build_board(session: Session, day: date, settings: Settings, now: datetime,
                alerts: AlertSource, status: str = "all", carer: str = "",
                viewer: str = "") -> Board:
    """The day's visits as board rows, filtered by status and carer reference.

    `viewer` is the audit actor of the person looking (`office:jo`): rows with an alert they
    acknowledged are theirs, for the "mine" filter.
    """
    summaries = visits_for_day(session, day, settings, now)
    rows = board_rows(session, summaries, day, settings, alerts, viewer)
    day_carers = sorted({(ref, name) for r in rows for ref, name in r.carers},
                        key=lambda c: c[1])
    shown = [r for r in rows if row_matches(r, status, carer)]
    return Board(day, shown, count_rows(rows), day_carers)


def count_rows(rows: list[BoardRow]) -> dict[str, int]:
    """The board's counts over these rows (the whole day's, whatever is shown)."""
    return {
        "visits": len(rows),
        "late": sum(r.late for r in rows),
        "missed": sum(r.summary.outcome == "missed" for r in rows),
        "in_progress": sum(r.summary.outcome == "in_progress" for r in rows),
        "completed": sum(r.summary.outcome == "completed" for r in rows),
        "short_of_carer": sum(r.summary.outcome == "short_of_carer" for r in rows),
        "unverified": sum(r.unverified for r in rows),
        "attention": sum(r.needs_attention for r in rows),
        "mine": sum(r.mine for r in rows),
    }


def board_rows(session: Session, summaries: list[VisitSummary], day: date, settings: Settings,
               alerts: AlertSource, viewer: str = "") -> list[BoardRow]:
    """These visits' summaries as board rows: names, alerts, who handled what."""
    adult_refs = {s.adult_ref for s in summaries if s.adult_ref}
    adults = {a.ref: a for a in session.scalars(select(Adult).where(Adult.ref.in_(adult_refs)))}
    carer_refs = {r for s in summaries for r in s.care_worker_refs} \
        | {a.care_worker_ref for s in summaries for a in s.actuals}
    names: dict[str, str] = {}
    left: set[str] = set()
    for ref, given, family, active in session.execute(
            select(CareWorker.ref, CareWorker.given_name, CareWorker.family_name,
                   CareWorker.active).where(CareWorker.ref.in_(carer_refs))):
        names[ref] = f"{given} {family}"
        if not active:
            left.add(ref)
    planned_refs = [s.ref for s in summaries if s.ref]
    alerts_by_ref = alerts.alerts_for_visits(session, planned_refs)
    handled = _handled_by_visit(session, planned_refs, alerts_by_ref)
    unplanned_ids = _unplanned_ids(session, day, settings) \
        if any(s.ref is None for s in summaries) else {}

    rows: list[BoardRow] = []
    for summary in summaries:
        adult = adults.get(summary.adult_ref or "")
        word, style = STATUS.get(summary.outcome, (summary.outcome, "due"))
        if summary.status == "unplanned":
            word = f"Unplanned, {word.lower()}"
        refs = list(dict.fromkeys([*summary.care_worker_refs,
                                   *(a.care_worker_ref for a in summary.actuals)]))
        verification = list(dict.fromkeys(
            VERIFICATION_WORDS.get(v, v) for a in summary.actuals
            for v in (a.in_verification, a.out_verification) if v))
        actual_id = None
        if summary.ref is None and summary.actuals:
            first = summary.actuals[0]
            actual_id = unplanned_ids.get((first.care_worker_ref, first.started_at,
                                           first.ended_at))
        rows.append(BoardRow(
            summary=summary, actual_visit_id=actual_id,
            adult_name=f"{adult.given_name} {adult.family_name}" if adult else "unknown client",
            rag=(adult.rag if adult else Rag.GREEN).value,
            carers=[(r, names.get(r, r)) for r in refs], status_word=word, status_style=style,
            verification=verification,
            open_exceptions=[EXCEPTION_WORDS.get(e.code, e.code) for e in summary.exceptions
                             if not e.reviewed],
            alerts=alerts_by_ref.get(summary.ref or "", []),
            reason=reason_due(summary), handled=handled.get(summary.ref or "", []),
            mine=bool(viewer) and any(a.acknowledged_by == viewer
                                      for a in alerts_by_ref.get(summary.ref or "", [])),
            leavers=_leavers(summary, left, names)))
    return rows


def _leavers(summary: VisitSummary, left: set[str], names: dict[str, str]) -> list[str]:
    """The names of the visit's booked carers who have left and not logged in to it, while
    the visit is still to be done."""
    if not left or summary.outcome not in STILL_EXPECTED:
        return []
    came = {a.care_worker_ref for a in summary.actuals if a.started_at is not None}
    return [names.get(ref, ref) for ref in summary.care_worker_refs
            if ref in left and ref not in came]


def _unplanned_ids(session: Session, day: date, settings: Settings
                   ) -> dict[tuple[str, datetime | None, datetime | None], int]:
    # The read model names an unplanned visit by carer and times only; find its row for the link.
    start, end = local_day_bounds(day, settings)
    rows = session.execute(
        select(ActualVisit.id, CareWorker.ref, ActualVisit.started_at, ActualVisit.ended_at)
        .join(CareWorker, CareWorker.id == ActualVisit.care_worker_id)
        .where(ActualVisit.planned_visit_id.is_(None),
               ((ActualVisit.started_at >= start) & (ActualVisit.started_at < end))
               | ((ActualVisit.ended_at >= start) & (ActualVisit.ended_at < end))))
    return {(ref, started, ended): visit_id for visit_id, ref, started, ended in rows}
