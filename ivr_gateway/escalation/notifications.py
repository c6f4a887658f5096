"""Notifications: one row per text or call, and its outbox message, written in one transaction.

The notification's identity (alert, purpose, level, number, channel) is unique and is also the
outbox idempotency key, so a tick repeated after a crash finds both and sends nothing twice.

Not every notification is sent on its own: a text to a phone that texted STOP is marked
`unreachable` and not sent at all (Twilio would refuse it, error 21610, and the ladder would wait
on a text that never comes); in a storm, a phone past its texts-per-minute gets the rest
`summarised` (texts and calls) into one text per tick (StormGuard) rather than hundreds.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr_gateway.escalation.models import (
    Alert,
    AlertNotification,
    NotificationChannel,
    NotificationPurpose,
)
from ivr_gateway.escalation.wording import fit
from ivr_gateway.models import SmsOptOut
from ivr_gateway.outbox.models import OutboxMessage
from ivr_gateway.outbox.service import enqueue

SMS_KIND = "sms"
VOICE_KIND = "voice"
FAILED_STATUSES = {"failed", "undelivered", "busy", "no-answer", "canceled", "refused",
                   "unreachable"}
UNREACHABLE = "unreachable"  # never sent: the phone texted STOP
SUMMARISED = "summarised"  # not sent on its own: in this tick's summary text to that phone
# Not sent as a message of their own, so nothing of theirs waits in the outbox.
NOT_SENT_ALONE = {UNREACHABLE, SUMMARISED}
STORM_WINDOW = timedelta(minutes=1)


def opted_out(session: Session, number: str) -> bool:
    """True when the phone texted STOP (and not START since): Twilio refuses texts to it."""
    return bool(session.scalar(select(SmsOptOut.id).where(SmsOptOut.number == number,
                                                          SmsOptOut.opted_out.is_(True))))


class StormGuard:
    """One tick's limit on texts per office phone per minute, and the summaries past it.

    A morning when nobody logged in raises hundreds of alerts in a few ticks; texting (and at
    night ringing) each to one person buries the phone and takes minutes through Twilio. Past
    `per_minute` texts and calls to a phone in the last minute, the rest of the tick's to it are
    summarised into one text ("37 more alerts (30 late start, 7 missed visit). See the board."),
    which `send_summaries` queues.
    """

    def __init__(self, session: Session, now: datetime, per_minute: int) -> None:
        self.session = session
        self.now = now
        self.per_minute = per_minute
        self._recent: dict[str, int] = {}
        self.held: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))

    def allows(self, number: str) -> bool:
        """True if one more text to this phone stays within the limit (and counts it)."""
        if self.per_minute <= 0:
            return True
        if number not in self._recent:
            self._recent[number] = self.session.scalar(
                select(func.count()).select_from(AlertNotification).where(
                    AlertNotification.to_number == number,
                    AlertNotification.created_at > self.now - STORM_WINDOW,
                    AlertNotification.outbox_message_id.is_not(None))) or 0
            self._recent[number] += self.session.scalar(
                select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.idempotency_key.like(f"summary:{number}:%"),
                    OutboxMessage.created_at > self.now - STORM_WINDOW)) or 0
        if self._recent[number] >= self.per_minute:
            return False
        self._recent[number] += 1
        return True

    def hold(self, number: str, what: str, alert_id: int) -> None:
        """Keep one alert's text or call for this phone's summary."""
        self.held[number][what].add(alert_id)

    def send_summaries(self) -> int:
        """Queue one summary text per phone with texts held this tick; return how many."""
        for number, held in self.held.items():
            body = summary_text(Counter({what: len(ids) for what, ids in held.items()}))
            key = f"summary:{number}:{self.now.isoformat()}"
            enqueue(self.session, kind=SMS_KIND, idempotency_key=key, now=self.now,
                    payload={"to": number, "body": body, "status_path": "/twilio/status"},
                    ordering_key=f"summary:{number}")
        return len(self.held)


def summary_text(held: Counter[str]) -> str:
    """'EHM: 37 more alerts (30 late start, 7 missed visit). See the board.'"""
    alerts = {what: n for what, n in held.items() if what != "resolved"}
    parts = []
    if alerts:
        total = sum(alerts.values())
        kinds = ", ".join(f"{n} {what}" for what, n in sorted(alerts.items(),
                                                              key=lambda item: -item[1]))
        parts.append(f"{total} more alert{'s' if total != 1 else ''} ({kinds})")
    if held.get("resolved"):
        parts.append(f"{held['resolved']} resolved")
    return fit(f"EHM: {' and '.join(parts)}. See the board; reply ACK and a number for one.")


def call_token(secret_key: str, notification_id: int) -> str:
    """The token in an alert call's URL: binds the key press to the notification it rang for."""
    digest = hmac.new(secret_key.encode(), f"alert-call:{notification_id}".encode(),
                      hashlib.sha256).hexdigest()
    return digest[:32]


def check_call_token(secret_key: str, notification_id: int, token: str) -> bool:
    """True when the token is the one handed out for this notification."""
    return hmac.compare_digest(call_token(secret_key, notification_id), token or "")


def outbox_key(alert_id: int, purpose: NotificationPurpose, level: int,
               channel: NotificationChannel, to_number: str) -> str:
    """The idempotency key shared by the notification and its outbox message."""
    return f"alert:{alert_id}:{purpose.value}:{level}:{channel.value}:{to_number}"


def notify(session: Session, alert: Alert, *, purpose: NotificationPurpose, level: int,
           step: str, to_number: str, recipient: str, channel: NotificationChannel, body: str,
           now: datetime, secret_key: str, contact_id: int | None = None,
           storm: StormGuard | None = None, storm_word: str = "alert"
           ) -> AlertNotification | None:
    """Record a notification and queue its message; None if this one was already made.

    A text to an opted-out phone is recorded as unreachable and not queued; with a StormGuard,
    a text past the phone's limit is recorded as summarised and held for the summary.
    """
    key = outbox_key(alert.id, purpose, level, channel, to_number)
    if session.scalar(select(AlertNotification.id).where(AlertNotification.outbox_key == key)):
        return None
    notification = AlertNotification(
        alert_id=alert.id, purpose=purpose, level=level, step=step, contact_id=contact_id,
        recipient=recipient, to_number=to_number, channel=channel, body=body, outbox_key=key,
        status="queued", created_at=now)
    session.add(notification)
    session.flush()
    if channel is NotificationChannel.SMS and opted_out(session, to_number):
        notification.status, notification.status_at = UNREACHABLE, now
        notification.error = "not sent: this phone texted STOP (it can text START to undo it)"
        return notification
    if storm is not None and not storm.allows(to_number):
        notification.status, notification.status_at = SUMMARISED, now
        storm.hold(to_number, storm_word, alert.id)
        return notification
    status_path = f"/twilio/status?notification={notification.id}"
    if channel is NotificationChannel.SMS:
        payload = {"to": to_number, "body": body, "notification_id": notification.id,
                   "alert_number": alert.number, "status_path": status_path}
        kind = SMS_KIND
    else:
        token = call_token(secret_key, notification.id)
        payload = {"to": to_number, "notification_id": notification.id, "say": body,
                   "alert_number": alert.number, "status_path": status_path,
                   "twiml_path": f"/twilio/alert-call/{notification.id}?token={token}"}
        kind = VOICE_KIND
    enqueue(session, kind=kind, idempotency_key=key, payload=payload, now=now,
            ordering_key=f"alert:{alert.id}:{to_number}")
    notification.outbox_message_id = session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
    return notification
