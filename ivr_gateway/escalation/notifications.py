"""Notifications: one row per text or call, and its outbox message, written in one transaction.

The notification's identity (alert, purpose, level, number, channel) is unique and is also the
outbox idempotency key, so a tick repeated after a crash finds both and sends nothing twice.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.escalation.models import (
    Alert,
    AlertNotification,
    NotificationChannel,
    NotificationPurpose,
)
from ivr_gateway.outbox.models import OutboxMessage
from ivr_gateway.outbox.service import enqueue

SMS_KIND = "sms"
VOICE_KIND = "voice"
FAILED_STATUSES = {"failed", "undelivered", "busy", "no-answer", "canceled", "refused"}


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
           now: datetime, secret_key: str, contact_id: int | None = None
           ) -> AlertNotification | None:
    """Record a notification and queue its message; None if this one was already made."""
    key = outbox_key(alert.id, purpose, level, channel, to_number)
    if session.scalar(select(AlertNotification.id).where(AlertNotification.outbox_key == key)):
        return None
    notification = AlertNotification(
        alert_id=alert.id, purpose=purpose, level=level, step=step, contact_id=contact_id,
        recipient=recipient, to_number=to_number, channel=channel, body=body, outbox_key=key,
        status="queued", created_at=now)
    session.add(notification)
    session.flush()
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
