"""The dashboard's words: what the codes stored in the database mean, as a coordinator says it.

Reason codes by their label (the reason_codes table), alerts by the rung they reached and how
people were told ("texted Cora, the coordinator on duty"), the audit trail as sentences ("Cora
sent Ben Taylor instead of Amy Jones") and each step of a carer's call in words ("Call answered:
caller ID 0113 496 0001 matched Joan Smith's landline"). Codes stay in the database and the API;
only what people read changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.ivr.models import CallStep
from ivr_gateway.models import AuditEntry, CareWorker
from ivr_gateway.office.board import EXCEPTION_WORDS, person_name
from ivr_gateway.office.models import OfficeUser
from ivr_gateway.office.providers import AlertView, Notification
from ivr_gateway.phones import national_format
from ivr_gateway.visits.models import ReasonCode

# The rungs of the escalation ladder (escalation/ladder.py), as the office says them.
STEP_WORDS = {
    "carer": "the carer",
    "coordinator": "the coordinator on duty",
    "on_call": "the on-call person",
    "manager": "the registered manager",
}
# Twilio's message and call statuses, in words.
STATUS_WORDS = {
    "queued": "waiting to go", "accepted": "waiting to go", "sending": "sending",
    "sent": "sent", "delivered": "delivered", "undelivered": "not delivered",
    "failed": "failed", "read": "read", "initiated": "dialling", "ringing": "ringing",
    "in-progress": "answered", "completed": "answered", "busy": "line busy",
    "no-answer": "no answer", "canceled": "cancelled",
    "unreachable": "not sent: the phone texted STOP", "summarised": "in a summary text",
    "refused": "refused by Twilio",
}
VIA_WORDS = {"sms": "by text", "voice": "on the alert call", "call": "on the alert call",
             "dashboard": "on the dashboard", "api": "through the API", "cli": "on the server"}


def alert_kind_words(kind: str) -> str:
    """'late_start' as 'late start'."""
    return kind.replace("_", " ")


def alert_reach(alert: AlertView) -> str:
    """How far up the ladder an alert went: 'told up to the on-call person'."""
    if not alert.reached:
        return "nobody told yet"
    return f"told up to {STEP_WORDS.get(alert.reached, alert_kind_words(alert.reached))}"


def notification_sentence(told: Notification) -> str:
    """One notification: 'Texted Cora, the coordinator on duty: delivered'."""
    role = STEP_WORDS.get(told.role, "")
    whom = f"{told.to}, {role}" if role else told.to
    if told.channel == "sms":
        said = f"Texted {whom}"
    elif told.channel == "voice":
        said = f"Rang {whom}"
    else:
        said = f"Told {whom} by {told.channel}"
    return f"{said}: {STATUS_WORDS.get(told.status, told.status)}"


def office_names(session: Session, actors: Iterable[str | None]) -> dict[str, str]:
    """Office usernames of these audit actors ('office:jo') -> their display names."""
    usernames = {a.partition(":")[2] for a in actors if a and a.startswith("office:")}
    return {u.username: u.display_name or u.username for u in session.scalars(
        select(OfficeUser).where(OfficeUser.username.in_(usernames)))} if usernames else {}


def reason_labels(session: Session) -> dict[str, str]:
    """Every reason code's label, by code (inactive ones too: old visits keep their reason)."""
    return {code: label for code, label in session.execute(
        select(ReasonCode.code, ReasonCode.label))}


def reason_words(recorded: str | None, labels: dict[str, str]) -> str:
    """A recorded reason ('no_carer_available', 'rota: client_in_hospital') by its label."""
    if not recorded:
        return ""
    code = recorded.removeprefix("rota: ")
    label = labels.get(code, code.replace("_", " "))
    return f"{label} (from the rota)" if recorded.startswith("rota: ") else label


# ------------------------------------------------------------------ the audit trail

@dataclass(frozen=True)
class AuditLine:
    """An audit entry as the visit page shows it: when, who, and what they did in a sentence."""

    at: datetime
    who: str
    what: str
    details: list[str]


@dataclass(frozen=True)
class _Names:
    people: dict[str, str]  # office usernames -> display names
    carers: dict[str, str]  # carer refs -> names
    labels: dict[str, str]  # reason codes -> labels
    tz: ZoneInfo

    def carer(self, ref: Any) -> str:
        return self.carers.get(str(ref), str(ref))

    def carer_list(self, refs: Any) -> str:
        if not refs:
            return "nobody"
        return ", ".join(self.carer(r) for r in refs) if isinstance(refs, list) \
            else self.carer(refs)

    def when(self, value: Any, fmt: str = "%-d %b %H:%M") -> str:
        if not value:
            return "none"
        try:
            return datetime.fromisoformat(str(value)).astimezone(self.tz).strftime(fmt)
        except ValueError:
            return str(value)


def _change_words(field: str, old: Any, new: Any, names: _Names) -> str:
    if field == "care_worker_refs":
        return f"the carers: {names.carer_list(old)} → {names.carer_list(new)}"
    if field in ("planned_start", "planned_end"):
        which = "planned start" if field == "planned_start" else "planned end"
        return f"the {which}: {names.when(old)} → {names.when(new)}"
    if field == "cancel_reason":
        return (f"the cancel reason: {reason_words(old, names.labels) or 'none'} → "
                f"{reason_words(new, names.labels) or 'none'}")
    if field == "time_critical":
        return "it to time-critical" if new else "it to not time-critical"
    if field == "adult_ref":
        return f"the client: {old or 'none'} → {new}"
    words = field.replace("_", " ")
    return f"the {words}: {old if old not in (None, '') else 'none'} → {new}"


def _rota_change(verb: str, detail: dict[str, Any], names: _Names) -> tuple[str, list[str]]:
    changes = detail.get("changes") or {}
    if verb == "added":
        return "added the visit to the rota", []
    parts = [_change_words(k, v[0], v[1], names) for k, v in changes.items()
             if isinstance(v, list) and len(v) == 2 and k != "status"]
    if verb == "cancelled":
        reason = changes.get("cancel_reason")
        why = reason_words(reason[1] if isinstance(reason, list) else None, names.labels)
        return f"cancelled the visit{': ' + why if why else ''}", []
    return "changed " + "; ".join(parts) if parts else "changed the visit", []


def _times(detail: dict[str, Any], names: _Names) -> str:
    before, after = detail.get("before") or {}, detail.get("after") or {}
    parts = []
    for key, word in (("log_in", "log-in"), ("log_out", "log-out")):
        if before.get(key) != after.get(key):
            parts.append(f"{word} {names.when(before.get(key), '%H:%M')} → "
                         f"{names.when(after.get(key), '%H:%M')}")
    return "; ".join(parts) or "no change"


def _text_line(key: str, value: str, names: _Names) -> str:
    """A reassignment's 'text to C2': '+447700900002: EHM: ...' as 'Text to Ben Taylor
    (07700 900002): EHM: ...'."""
    whom = names.carer(key.removeprefix("text to "))
    number, _, body = value.partition(": ")
    if number.startswith("+"):
        return f"Text to {whom} ({national_format(number)}): {body}"
    return f"Text to {whom}: {value}"


def _sentence(entry: AuditEntry, names: _Names) -> tuple[str, list[str]]:
    d = entry.detail or {}
    note = str(d.get("note") or "")
    reason = str(d.get("reason") or "")
    sentences: dict[str, Callable[[], tuple[str, list[str]]]] = {
        "create": lambda: _rota_change("added", d, names),
        "update": lambda: _rota_change("changed", d, names),
        "cancel": lambda: _rota_change("cancelled", d, names),
        "reason_code": lambda: (
            f"recorded the reason: {reason_words(str(d.get('code', '')), names.labels)}"
            + (f" ({note})" if note else "")
            + (f", replacing {reason_words(str(d['previous']), names.labels)}"
               if d.get("previous") else ""), []),
        "reassign": lambda: (
            f"sent {names.carer(d.get('to'))} instead of {names.carer(d.get('from'))}: "
            f"{reason}",
            ([f"Clashes accepted: {d['clashes accepted']}"]
             if d.get("clashes accepted") not in (None, "", "none") else [])
            + [_text_line(k, v, names) for k, v in d.items()
               if k.startswith("text to ") and isinstance(v, str)]),
        "check_exception": lambda: (
            f"checked the {EXCEPTION_WORDS.get(str(d.get('code')), str(d.get('code')))}"
            + (f": {note}" if note else ""), []),
        "correct_times": lambda: (
            f"corrected {names.carer(d.get('care_worker_ref'))}'s times: "
            f"{_times(d, names)}. Reason: {reason}", []),
        "move_log_event": lambda: (
            f"moved a log event from {(d.get('moved') or ['?', '?'])[0]} to "
            f"{(d.get('moved') or ['?', '?'])[1]}: {reason}",
            [f"{k.replace('log-', 'Log-')} at {names.when(v, '%H:%M')}"
             for k, v in d.items() if k.startswith("log-")]),
        "correct_client": lambda: (
            f"said on the call that the log-{d.get('kind')} was for the other client at the "
            f"landline: moved from {(d.get('moved') or ['?', '?'])[0]} to "
            f"{(d.get('moved') or ['?', '?'])[1]}",
            [f"{k.replace('log-', 'Log-')} at {names.when(v, '%H:%M')}"
             for k, v in d.items() if k.startswith("log-")]),
        "acknowledge_alert": lambda: (
            f"acknowledged the {alert_kind_words(str(d.get('kind', '')))} alert "
            f"{VIA_WORDS.get(str(d.get('via')), '')}".rstrip() + (f": {note}" if note else ""),
            []),
    }
    make = sentences.get(entry.action)
    if make is not None:
        try:
            return make()
        except (AttributeError, TypeError, IndexError, KeyError):
            pass  # an entry of an older shape: the fallback below still says what it holds
    return (entry.action.replace("_", " "),
            [f"{k.replace('_', ' ')}: {v}" for k, v in d.items() if v not in (None, "")])


def audit_lines(session: Session, entries: Iterable[AuditEntry], tz: ZoneInfo
                ) -> list[AuditLine]:
    """Audit entries as sentences, the actor by their office display name (one per action kind,
    with a fallback that lists what an unknown kind holds)."""
    entries = list(entries)
    carer_refs: set[str] = set()
    for e in entries:
        d = e.detail or {}
        carer_refs.update(str(d[k]) for k in ("from", "to", "care_worker_ref") if d.get(k))
        for value in (d.get("changes") or {}).get("care_worker_refs") or []:
            carer_refs.update(str(r) for r in value or [])
    carers = {c.ref: f"{c.given_name} {c.family_name}" for c in session.scalars(
        select(CareWorker).where(CareWorker.ref.in_(carer_refs)))} if carer_refs else {}
    names = _Names(office_names(session, {e.actor for e in entries}), carers,
                   reason_labels(session), tz)
    lines = []
    for e in entries:
        what, details = _sentence(e, names)
        lines.append(AuditLine(e.at, person_name(e.actor, names.people), what, details))
    return lines


# ------------------------------------------------------------------ a carer's call, step by step

@dataclass(frozen=True)
class CallParty:
    """Who a call was about, for its steps' sentences."""

    carer: str  # "Amy Jones", or "the carer" when the call identified nobody
    client: str  # "Joan Smith"
    landlines: frozenset[str]  # the client's registered numbers (E.164)


def _caller(number: str) -> str:
    return national_format(number) if number else "withheld"


def call_step_sentence(step: CallStep, party: CallParty) -> str:
    """One webhook of the carer's call (callflows/carer_log.toml) as a sentence."""
    state, outcome, keyed = step.state, step.outcome, step.digits or ""
    first = party.carer.split(" ")[0]
    if outcome == "fault":
        return "Something went wrong on our side: the carer was asked to ring the office"
    if outcome == "silence":
        return {"logged_in": "Heard the log-in read-back; no keys pressed",
                "logged_out": "Heard the log-out read-back; no keys pressed"}.get(
            state, "No keys pressed: asked again")
    if state == "locate":
        if not step.from_number or step.from_number.lower() in ("anonymous", "restricted"):
            return "Call answered: caller ID withheld"
        if step.from_number in party.landlines:
            return (f"Call answered: caller ID {_caller(step.from_number)} matched "
                    f"{party.client}'s landline")
        return (f"Call answered from {_caller(step.from_number)}: not a landline registered to "
                f"{party.client}")
    if state == "choose_client":
        return {"ok": f"Pressed {keyed} to choose the client",
                "retry": f"Pressed {keyed}: not a choice",
                "give_up": f"Pressed {keyed}: not a choice; call ended"}.get(
            outcome or "", f"Pressed {keyed}")
    if state == "choose_other_client":
        return {"other_client": f"Pressed {keyed}: it was that client's visit",
                "retry": f"Pressed {keyed}: not a choice",
                "give_up": f"Pressed {keyed}: not a choice; nothing changed, call ended"}.get(
            outcome or "", f"Pressed {keyed}")
    if state == "client_number":
        return {"ok": f"Keyed client number {keyed}",
                "retry": f"Keyed client number {keyed}: not found",
                "give_up": f"Keyed client number {keyed}: not found; call ended"}.get(
            outcome or "", f"Keyed client number {keyed}")
    if state == "staff_number":
        return f"Keyed carer number {keyed}"
    if state == "pin":
        return {"ok": f"{first} keyed their PIN: accepted",
                "retry": "Carer number or PIN not recognised: asked again",
                "locked": "Carer number or PIN not recognised: carer number locked",
                "give_up": "Carer number or PIN not recognised a third time: call ended"}.get(
            outcome or "", "PIN keyed")
    if state in ("logged_in", "logged_out"):
        heard = "log-in" if state == "logged_in" else "log-out"
        other = "log-out" if state == "logged_in" else "log-in"
        return {"correct": f"Pressed 9 after the {heard} read-back: it was a {other}",
                "other_client": f"Pressed 8 after the {heard} read-back: it was the other "
                                "client's visit",
                "choose_other": f"Pressed 8 after the {heard} read-back: asked which client",
                "concern": f"Pressed 1 after the {heard} read-back to record a concern",
                "done": f"Heard the {heard} read-back"
                        + (f"; pressed {keyed}" if keyed else "; no keys pressed")}.get(
            outcome or "", f"Heard the {heard} read-back")
    if state == "concern":
        return {"saved": "Concern recorded", "nothing_recorded": "Nothing was recorded"}.get(
            outcome or "", "Recording a concern")
    return f"Call step {step.seq}: {state.replace('_', ' ')}"  # a state added later
