"""The actions a call flow's states name: each judges one input and returns a result word.

Actions hold the business decisions of a call (who is calling, from where, is the PIN right,
log in or out); the flow file decides what is said and where each result leads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr_gateway import phones
from ivr_gateway.config import Settings
from ivr_gateway.hashing import hash_pin, verify_peppered_pin, verify_pin
from ivr_gateway.ivr.models import Call
from ivr_gateway.models import (
    ActualVisit,
    Adult,
    AdultLandline,
    CareWorker,
    Channel,
    ConcernRecording,
    ExceptionCode,
    LogKind,
    PinFailure,
    Verification,
    VisitException,
)
from ivr_gateway.visits.matching import MatchKind
from ivr_gateway.visits.recording import (
    LogRequest,
    LogResult,
    correct_client,
    correct_direction,
    note_care_worker_locked,
    record_log_event,
)

MAX_ATTEMPTS = 3  # per call, for each question (client choice, client number, carer number + PIN)



@cache
def _dummy_pin_hash() -> str:
    # A PIN check against a made-up hash when the carer number is unknown, so that a wrong carer
    # number takes as long as a wrong PIN and timing does not tell which numbers exist.
    return hash_pin("not a pin", "no pepper")


@dataclass
class StepContext:
    """What an action sees of one webhook request, and what it leaves for the prompts."""

    session: Session
    call: Call
    settings: Settings
    now: datetime
    seq: int
    digits: str
    form: dict[str, str]
    notices: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # The call's data as the step changes it; written back once, with the call's new state
    # (see CallEngine), so the step makes one UPDATE of the call row rather than one per change.
    data: dict[str, Any] = field(default_factory=dict)
    # A PIN already keyed with the pepper instead of keyed digits: an outage spool's replay
    # (ivr/outage.py), which never had the clear PIN.
    pin_key: str = ""

    def __post_init__(self) -> None:
        self.data = dict(self.call.data)

    def get(self, key: str, default: Any = None) -> Any:
        """A value kept on the call between steps."""
        return self.data.get(key, default)

    def put(self, **values: Any) -> None:
        """Keep values on the call between steps."""
        self.data.update(values)

    def set_vars(self, **values: Any) -> None:
        """Values for the {placeholders} of the prompts that follow."""
        self.put(vars={**self.get("vars", {}), **values})

    def notice(self, key: str, **values: Any) -> None:
        """Say a short notice before the next prompt (e.g. 'Not a choice.')."""
        self.notices.append((key, values))

    def count(self, name: str) -> int:
        """Add one to a per-call counter and return it."""
        counters = dict(self.get("counters", {}))
        counters[name] = counters.get(name, 0) + 1
        self.put(counters=counters)
        return int(counters[name])


Action = Callable[[StepContext], str]
ACTIONS: dict[str, Action] = {}


def action(fn: Action) -> Action:
    """Register a function as a flow action under its own name."""
    ACTIONS[fn.__name__] = fn
    return fn


def spoken_initials(initials: str) -> str:
    """'J.S.' -> 'J. S.', so text-to-speech says each letter."""
    return " ".join(f"{ch}." for ch in initials.replace(".", ""))


def spoken_time(at: datetime, settings: Settings) -> str:
    """An instant as the carer's clock shows it: '7:02', '19:45' (Europe/London)."""
    local = at.astimezone(settings.tz)
    return f"{local.hour}:{local.minute:02d}"


@action
def locate_by_caller_id(ctx: StepContext) -> str:
    """Match the caller ID to clients' registered landlines."""
    raw_from = ctx.form.get("From", "")
    if phones.is_withheld(raw_from):
        ctx.put(verification=Verification.UNVERIFIED.value, unverified_reason="caller ID withheld")
        return "unknown_line"
    number = phones.try_normalise(raw_from)
    adults: list[Adult] = []
    if number is not None:
        adults = list(ctx.session.scalars(
            select(Adult).join(AdultLandline)
            .where(AdultLandline.number == number, Adult.active.is_(True))
            .order_by(Adult.family_name, Adult.given_name, Adult.id)))
    if len(adults) == 1:
        ctx.put(adult_id=adults[0].id, verification=Verification.CALLER_ID.value)
        return "one_client"
    if len(adults) > 1:
        choices = [{"digit": i, "adult_id": a.id, "initials": spoken_initials(a.initials)}
                   for i, a in enumerate(adults[:9], start=1)]
        ctx.put(choices=choices, verification=Verification.CALLER_ID.value)
        return "several_clients"
    if number is None:
        reason = f"caller ID {raw_from!r} is not a valid phone number"
    elif phones.is_mobile(number):
        reason = f"called from mobile {number}, not a client's landline"
    else:
        reason = f"called from {number}, not registered to any client"
    ctx.put(verification=Verification.UNVERIFIED.value, unverified_reason=reason)
    return "unknown_line"


@action
def choose_client(ctx: StepContext) -> str:
    """The carer picks which client of a shared landline they are with."""
    for choice in ctx.get("choices", []):
        if ctx.digits == str(choice["digit"]):
            ctx.put(adult_id=choice["adult_id"])
            return "ok"
    if ctx.count("choose_client") >= MAX_ATTEMPTS:
        return "give_up"
    ctx.notice("invalid_choice")
    return "retry"


@action
def check_client_number(ctx: StepContext) -> str:
    """An unknown line: the carer keys the client number from the care plan."""
    adult = ctx.session.scalars(
        select(Adult).where(Adult.client_number == ctx.digits, Adult.active.is_(True))
    ).first()
    if adult is not None:
        ctx.put(adult_id=adult.id, client_number=ctx.digits)
        return "ok"
    if ctx.count("client_number") >= MAX_ATTEMPTS:
        return "give_up"
    ctx.notice("client_not_found")
    return "retry"


@action
def take_staff_number(ctx: StepContext) -> str:
    """Keep the carer number for the PIN step, without looking it up.

    Nothing the caller hears before the PIN is verified may depend on whether the number exists
    or whose it is: switching to the carer's language here would tell a caller guessing numbers
    which belong to (say) a Polish-speaking carer. The language changes in check_pin, once known.
    """
    ctx.put(staff_number=ctx.digits)
    return "ok"


def _recent_failures(session: Session, staff_number: str, since: datetime) -> int:
    return int(session.scalar(
        select(func.count()).select_from(PinFailure)
        .where(PinFailure.staff_number == staff_number, PinFailure.at > since)) or 0)


def _locked_by_failures_until(session: Session, staff_number: str, settings: Settings
                              ) -> datetime | None:
    """When the lockout of a number nobody holds ends, from its wrong PINs alone (or None).

    The same rule as a carer's locked_until: the failure that made `pin_lockout_failures` in
    the last `pin_lockout_minutes` locks the number from then for that long. No failure is
    recorded while locked, so that failure is the newest, and the `failures` newest all fall
    within the window of it. Derived, not stored: there is no carer row to hold a lock.
    """
    needed = settings.pin_lockout_failures
    window = timedelta(minutes=settings.pin_lockout_minutes)
    newest = session.scalars(
        select(PinFailure.at).where(PinFailure.staff_number == staff_number)
        .order_by(PinFailure.at.desc()).limit(needed)).all()
    if len(newest) < needed or newest[-1] <= newest[0] - window:
        return None
    return newest[0] + window


@action
def check_pin(ctx: StepContext) -> str:
    """Check carer number + PIN (3 tries a call; 5 failures in 15 minutes lock the number).

    A number nobody holds locks exactly as a real carer's does (same failures, same time, same
    words), so trying PINs cannot tell which carer numbers exist. Only a verified carer changes
    what the call sounds like: the language switches here.
    """
    staff_number = str(ctx.get("staff_number", ""))
    carer = ctx.session.scalars(
        select(CareWorker).where(CareWorker.staff_number == staff_number,
                                 CareWorker.active.is_(True)).with_for_update()
    ).first()
    # Read for every number, so an unknown one costs the same queries as a real one; a real
    # carer's own lock (which the office can lift) is what counts for them.
    by_failures = _locked_by_failures_until(ctx.session, staff_number, ctx.settings)
    if carer is not None:
        note_care_worker_locked(ctx.session, carer.id)
    locked_until = carer.locked_until if carer is not None else by_failures
    if locked_until is not None and locked_until > ctx.now:
        remaining = (locked_until - ctx.now).total_seconds() / 60
        ctx.set_vars(minutes=max(1, math.ceil(remaining)))
        return "locked"
    if carer is not None and (verify_peppered_pin(carer.pin_hash, ctx.pin_key) if ctx.pin_key
                              else verify_pin(carer.pin_hash, ctx.digits,
                                              ctx.settings.pin_pepper)):
        ctx.put(care_worker_id=carer.id)
        # Known from here on: the read-back and the rest of the call are in their language.
        ctx.call.language = carer.language
        return "ok"
    if carer is None:
        verify_pin(_dummy_pin_hash(), ctx.digits or ctx.pin_key, "no pepper")
    ctx.session.add(PinFailure(staff_number=staff_number, call_sid=ctx.call.call_sid, at=ctx.now))
    ctx.session.flush()
    window = timedelta(minutes=ctx.settings.pin_lockout_minutes)
    failures = _recent_failures(ctx.session, staff_number, ctx.now - window)
    if failures >= ctx.settings.pin_lockout_failures:
        # An unknown number is now locked by its failures (see above); nothing else is written.
        if carer is not None:
            carer.locked_until = ctx.now + window
        ctx.set_vars(minutes=ctx.settings.pin_lockout_minutes)
        return "locked"
    if ctx.count("pin") >= MAX_ATTEMPTS:
        return "give_up"
    ctx.notice("not_recognised")
    return "retry"


def _readback(ctx: StepContext, result: LogResult) -> None:
    notes = []
    if result.kind == LogKind.IN and result.minutes_late:
        notes.append(("late", {"minutes": result.minutes_late}))
    if result.kind == LogKind.OUT and result.duration_minutes is not None:
        notes.append(("duration", {"minutes": result.duration_minutes}))
    if ExceptionCode.MISSING_LOG_IN in result.exceptions:
        notes.append(("missing_log_in", {}))
    if result.match_kind == MatchKind.UNPLANNED and result.kind == LogKind.IN:
        notes.append(("unplanned", {}))
    if result.match_kind == MatchKind.SUBSTITUTION and result.kind == LogKind.IN:
        notes.append(("substitution", {}))
    if ExceptionCode.UNVERIFIED_LOCATION in result.exceptions:
        notes.append(("unverified", {}))
    others = _other_clients(ctx)
    ctx.set_vars(time=spoken_time(result.event_time, ctx.settings),
                 initials=spoken_initials(result.adult_initials), notes=notes,
                 what="corrected_" + result.kind.value,
                 other=("no_other_client", "other_client", "other_clients")[min(len(others), 2)],
                 other_initials=others[0]["initials"] if others else "")
    ctx.put(log_event_id=result.log_event_id, actual_visit_id=result.actual_visit_id)


def _other_clients(ctx: StepContext) -> list[dict[str, Any]]:
    """At a landline shared by clients, the choices other than the client the call is for."""
    return [c for c in ctx.get("choices", []) if c["adult_id"] != ctx.get("adult_id")]


@action
def record_log(ctx: StepContext) -> str:
    """Record the log-in or log-out (worked out, not asked) at the moment of the call."""
    raw: dict[str, Any] = ({"client_number_keyed": ctx.get("client_number")}
                           if ctx.get("client_number") else {})
    if ctx.get("outage"):
        raw["outage"] = ctx.get("outage")  # replayed from the outage spool (ivr/outage.py)
    request = LogRequest(
        channel=Channel.IVR, care_worker_id=int(ctx.get("care_worker_id")),
        adult_id=int(ctx.get("adult_id")), event_time=ctx.call.started_at, received_at=ctx.now,
        verification=Verification(ctx.get("verification")), source_sid=ctx.call.call_sid,
        seq=ctx.seq, from_number=ctx.call.from_number,
        raw=raw, unverified_reason=str(ctx.get("unverified_reason", "")))
    result = record_log_event(ctx.session, request, ctx.settings.kpi)
    _readback(ctx, result)
    return "logged_in" if result.kind == LogKind.IN else "logged_out"


def _correct(ctx: StepContext) -> str:
    result = correct_direction(ctx.session, int(ctx.get("log_event_id")), ctx.now,
                               ctx.settings.kpi, ctx.seq)
    _readback(ctx, result)
    return "correct"


def _move_to_client(ctx: StepContext, adult_id: int) -> str:
    staff = ctx.session.get_one(CareWorker, int(ctx.get("care_worker_id")))
    result = correct_client(ctx.session, int(ctx.get("log_event_id")), adult_id, ctx.now,
                            ctx.settings.kpi, ctx.seq,
                            changed_by=f"ivr:{staff.given_name} {staff.family_name}")
    ctx.put(adult_id=adult_id)
    _readback(ctx, result)
    return "other_client"


def _other_client(ctx: StepContext) -> str:
    """8 at a shared landline: the event was the other client's (several: ask which)."""
    others = _other_clients(ctx)
    if len(others) == 1:
        return _move_to_client(ctx, int(others[0]["adult_id"]))
    ctx.put(choices=others)
    return "choose_other"


def _after_read_back(ctx: StepContext) -> str | None:
    """9 (the other direction) and, at a shared landline, 8 (the other client)."""
    if ctx.digits == "9":
        return _correct(ctx)
    if ctx.digits == "8" and _other_clients(ctx):
        return _other_client(ctx)
    return None


@action
def after_log_in(ctx: StepContext) -> str:
    """After the log-in read-back: 9 means it should have been a log-out; 8, at a landline
    shared by clients, that it was another client's visit."""
    return _after_read_back(ctx) or "done"


@action
def after_log_out(ctx: StepContext) -> str:
    """After the log-out read-back: 1 records a concern, 9 means it was a log-in, 8 (at a
    shared landline) that it was another client's visit."""
    if ctx.digits == "1":
        return "concern"
    return _after_read_back(ctx) or "done"


@action
def choose_other_client(ctx: StepContext) -> str:
    """The carer picks which other client of the shared landline the event was for."""
    for choice in ctx.get("choices", []):
        if ctx.digits == str(choice["digit"]):
            return _move_to_client(ctx, int(choice["adult_id"]))
    if ctx.count("choose_other_client") >= MAX_ATTEMPTS:
        return "give_up"
    ctx.notice("invalid_choice")
    return "retry"


@action
def save_concern(ctx: StepContext) -> str:
    """Keep the recorded concern for the office, flagged on the visit."""
    url = ctx.form.get("RecordingUrl", "")
    if not url:
        return "nothing_recorded"
    visit_id = ctx.get("actual_visit_id")
    visit = ctx.session.get(ActualVisit, visit_id) if visit_id else None
    duration = ctx.form.get("RecordingDuration", "")
    ctx.session.add(ConcernRecording(
        call_sid=ctx.call.call_sid, actual_visit_id=visit_id,
        care_worker_id=ctx.get("care_worker_id"), adult_id=ctx.get("adult_id"),
        recording_sid=ctx.form.get("RecordingSid") or None, recording_url=url,
        duration_seconds=int(duration) if duration.isdigit() else None, created_at=ctx.now))
    if visit is not None:
        ctx.session.add(VisitException(
            actual_visit_id=visit.id, planned_visit_id=visit.planned_visit_id,
            log_event_id=ctx.get("log_event_id"), code=ExceptionCode.CONCERN_REPORTED,
            detail=f"the carer recorded a concern ({duration or '?'} s)", created_at=ctx.now))
    return "saved"
