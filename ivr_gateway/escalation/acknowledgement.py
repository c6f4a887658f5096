"""Acknowledging an alert: by text (`ACK`, `ACK 4821`), by key press on the call, by API, on the
dashboard or at the command line; every one of them through acknowledge(), which also writes the
one audit entry (so the audit log reads the same whichever way an alert was taken).

An acknowledged alert stops climbing; the others who were told hear who has it in hand. A
carer's concern is also resolved by it: nothing in the data can show that a concern was dealt
with, so the person who takes it (having listened, with a note of what they did) closes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.escalation import wording
from ivr_gateway.escalation.contacts import contact_by_mobile
from ivr_gateway.escalation.models import (
    Alert,
    AlertKind,
    AlertNotification,
    AlertState,
    NotificationChannel,
    NotificationPurpose,
)
from ivr_gateway.escalation.notifications import check_call_token, in_storm, notify
from ivr_gateway.models import AuditEntry, PlannedVisit, initials_of
from ivr_gateway.phones import try_normalise

# "ACK", "ack 4821", " Ack#4821 ", "ACK: 4821", "ACK4821." - what thumbs type on a keypad.
_ACK = re.compile(r"^\s*ack(?:nowledged?)?\s*[#:.,-]?\s*(\d{1,6})?\s*[.!]?\s*$", re.I)


@dataclass(frozen=True)
class AckCommand:
    """A parsed ACK text: the alert number it names, if any."""

    number: int | None


def parse_ack(text: str) -> AckCommand | None:
    """`ACK` or `ACK 4821` (case and spaces tolerated); None for any other text."""
    match = _ACK.match(text or "")
    if not match:
        return None
    return AckCommand(int(match.group(1)) if match.group(1) else None)


@dataclass(frozen=True)
class AckResult:
    """What happened, in words for the person who acknowledged."""

    alert: Alert | None
    acknowledged: bool
    message: str


def acknowledge(session: Session, alert: Alert, *, by: str, via: str, now: datetime,
                settings: Settings, by_number: str | None = None,
                note: str | None = None, actor: str | None = None) -> AckResult:
    """Stop the alert climbing, tell the others who were told, and audit it; idempotent.

    Who, when, by which channel and the optional note stay on the alert; a carer's concern is
    resolved at the same moment. The audit entry's actor is the door and who came through it
    (`office:jo`, `api:rostering`, `cli:jo`); `via:by` (`sms:Sam Carter`) when not given. An
    alert already acknowledged or resolved changes nothing and audits nothing.
    """
    if alert.state is AlertState.RESOLVED:
        return AckResult(alert, False, f"Alert {alert.number} is already resolved: "
                         f"{alert.resolved_reason}.")
    if alert.state is AlertState.ACKNOWLEDGED:
        at = wording.hhmm(alert.acknowledged_at or now, settings.tz)
        return AckResult(alert, False, f"Alert {alert.number} was already acknowledged by "
                         f"{alert.acknowledged_by} at {at}.")
    alert.state = AlertState.ACKNOWLEDGED
    alert.acknowledged_at = now
    alert.acknowledged_by = by[:100]
    alert.acknowledged_via = via
    alert.acknowledged_note = " ".join((note or "").split())[:1000] or None
    alert.next_escalation_at = None
    closed = alert.kind is AlertKind.CARER_CONCERN
    if closed:
        alert.state = AlertState.RESOLVED
        alert.resolved_at = now
        alert.resolved_reason = (f"acknowledged by {alert.acknowledged_by} at "
                                 f"{wording.hhmm(now, settings.tz)}")
    parts = [w for w in by.split("(")[0].split() if w[:1].isalpha()]
    by_initials = initials_of(parts[0], parts[-1]) if len(parts) > 1 else by[:20]
    told: set[str] = set()
    update_every = settings.escalation.storm_update_time()
    for n in session.scalars(select(AlertNotification).where(
            AlertNotification.alert_id == alert.id,
            AlertNotification.purpose == NotificationPurpose.ALERT)
            .order_by(AlertNotification.id)):
        if n.to_number == by_number or n.to_number in told:
            continue
        told.add(n.to_number)
        notify(session, alert, purpose=NotificationPurpose.ACKNOWLEDGED, level=alert.level,
               step="acknowledged", to_number=n.to_number, recipient=n.recipient,
               contact_id=n.contact_id, channel=NotificationChannel.SMS,
               body=wording.acknowledged_text(alert, by_initials, now, settings.tz), now=now,
               secret_key=settings.secret_key,
               # in a storm, 37 alerts taken one by one are one line of the next update
               held=in_storm(session, n.to_number, now, update_every))
    _audit(session, alert, actor=actor or f"{via}:{by}", via=via, now=now)
    done = "acknowledged and closed" if closed else "acknowledged"
    return AckResult(alert, True, f"Thank you. Alert {alert.number} {done}: "
                     f"{wording.KIND_WORDS[alert.kind]}, {alert.summary}.")


def _audit(session: Session, alert: Alert, *, actor: str, via: str, now: datetime) -> None:
    """The audit entry of an acknowledgement: on the visit's trail, or the alert's own."""
    ref = (session.scalar(select(PlannedVisit.ref).where(PlannedVisit.id
                                                         == alert.planned_visit_id))
           if alert.planned_visit_id is not None else None)
    detail: dict[str, Any] = {"alert_id": alert.id, "kind": alert.kind.value, "via": via}
    if alert.acknowledged_note:
        detail["note"] = alert.acknowledged_note
    session.add(AuditEntry(at=now, actor=actor[:100], action="acknowledge_alert",
                           entity="planned_visit" if ref else "alert",
                           entity_ref=(ref or str(alert.id))[:64], detail=detail))


def _latest_for_number(session: Session, number: str) -> Alert | None:
    """The newest alert this number was told about that is still waiting for someone."""
    rows = session.scalars(
        select(Alert).join(AlertNotification, AlertNotification.alert_id == Alert.id)
        .where(AlertNotification.to_number == number,
               AlertNotification.purpose == NotificationPurpose.ALERT)
        .order_by(AlertNotification.created_at.desc(), Alert.id.desc()).limit(20)).unique()
    alerts = list(rows)
    waiting = [a for a in alerts if a.state is AlertState.OPEN]
    return waiting[0] if waiting else (alerts[0] if alerts else None)


def _numbered_for_number(session: Session, number: str, alert_number: int) -> Alert | None:
    """The alert this phone was told of under that number (the newest, if told of two).

    Only alerts sent to this phone: a number comes round again after 9000 alerts, and a late
    `ACK 4821` about an alert long resolved must not take a new alert the texter never saw.
    Unresolved alerts never share a number (tick.py), so this cannot pick the wrong live one.
    """
    return session.scalar(
        select(Alert).join(AlertNotification, AlertNotification.alert_id == Alert.id)
        .where(Alert.number == alert_number, AlertNotification.to_number == number,
               AlertNotification.purpose == NotificationPurpose.ALERT)
        .order_by(Alert.id.desc()).limit(1))


def acknowledge_by_text(session: Session, from_number: str, text: str, now: datetime,
                        settings: Settings | None = None) -> str | None:
    """An office contact's `ACK` text: the reply to send, or None if it is not an ACK from one.

    None lets the caller (the SMS webhook) treat the text as something else, e.g. a carer's code.
    """
    command = parse_ack(text)
    if command is None:
        return None
    number = try_normalise(from_number)
    contact = contact_by_mobile(session, number) if number else None
    if contact is None:
        return None
    settings = settings or Settings()
    if command.number is None:
        alert = _latest_for_number(session, contact.mobile)
        if alert is None:
            return "No alert has been sent to this phone, so there is nothing to acknowledge."
    else:
        alert = _numbered_for_number(session, contact.mobile, command.number)
        if alert is None:
            if session.scalar(select(Alert.id).where(Alert.number == command.number).limit(1)):
                return (f"Alert {command.number} was not sent to this phone, so it cannot be "
                        "acknowledged from here. Use the dashboard, or reply ACK with the "
                        "number in an alert text you had.")
            return (f"There is no alert {command.number}. Reply ACK with the number in the "
                    "alert text, or just ACK for the latest.")
    return acknowledge(session, alert, by=contact.name, via="sms", now=now, settings=settings,
                       by_number=contact.mobile).message


def acknowledge_by_call(session: Session, notification_id: int, token: str, now: datetime,
                        settings: Settings) -> AckResult | None:
    """Key 1 on an alert call: acknowledge as the person rung; None if the link is not valid."""
    if not check_call_token(settings.secret_key, notification_id, token):
        return None
    notification = session.get(AlertNotification, notification_id)
    if notification is None:
        return None
    return acknowledge(session, notification.alert, by=notification.recipient, via="voice",
                       now=now, settings=settings, by_number=notification.to_number)
