"""Delivery reports: Twilio's status callbacks and the relay's dead letters for alert messages.

A text that failed or a call nobody answered moves the alert to the next rung at the next tick,
rather than waiting out the time at this one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.escalation.models import (
    Alert,
    AlertNotification,
    AlertState,
    NotificationChannel,
    NotificationPurpose,
)
from ivr_gateway.escalation.notifications import FAILED_STATUSES, SUMMARISED
from ivr_gateway.outbox.relay import Delivery
from ivr_gateway.telephony.status import StatusReport

FINAL = FAILED_STATUSES | {"delivered", "completed", "read"}


def record_status_callback(session: Session, report: StatusReport, now: datetime) -> bool:
    """Escalation's subscriber to Twilio's status callbacks: takes those of alert texts and calls
    (the ?notification=<id> on the callback URL we gave Twilio)."""
    notification = report.url_parameters.get("notification", "")
    if not notification.isdigit():
        return False
    status = report.message_status or report.call_status
    if status:
        record_delivery_status(
            session, int(notification), status, now,
            provider_sid=report.message_sid or report.call_sid or None,
            error=f"Twilio error {report.error_code}" if report.error_code else None)
    return True


def record_delivery_status(session: Session, notification_id: int, status: str, now: datetime,
                           *, provider_sid: str | None = None, error: str | None = None
                           ) -> AlertNotification | None:
    """Store a message's or call's status; a failure at the alert's current rung climbs now."""
    notification = session.get(AlertNotification, notification_id)
    if notification is None:
        return None
    status = status.strip().lower()[:16]
    if provider_sid and not notification.provider_sid:
        notification.provider_sid = provider_sid[:64]
    if notification.status in FINAL and status not in FINAL:
        return notification  # a late 'sent' after 'delivered': keep the final word
    if notification.status == status:
        return notification  # Twilio's retry of the same callback
    notification.status = status
    notification.status_at = now
    if error:
        notification.error = error[:2000]
    if status in FAILED_STATUSES:
        _move_on_if_rung_unreached(session, notification, now)
        for other in _storm_siblings(session, notification):
            # A storm's one call spoke for every alert in it: none of them reached this rung.
            other.status, other.status_at = status, now
            other.error = f"the storm call for it: {error or status}"[:2000]
            _move_on_if_rung_unreached(session, other, now)
    return notification


def _storm_siblings(session: Session, notification: AlertNotification
                    ) -> list[AlertNotification]:
    """The calls summarised into this one (a storm's single call), if it is one."""
    if (notification.channel is not NotificationChannel.VOICE
            or notification.outbox_message_id is None):
        return []
    return list(session.scalars(select(AlertNotification).where(
        AlertNotification.outbox_message_id == notification.outbox_message_id,
        AlertNotification.id != notification.id,
        AlertNotification.status == SUMMARISED)))


def _move_on_if_rung_unreached(session: Session, failed: AlertNotification, now: datetime
                               ) -> None:
    alert = session.get_one(Alert, failed.alert_id)
    if alert.state is not AlertState.OPEN or failed.level != alert.level or failed.purpose not in (
            NotificationPurpose.ALERT, NotificationPurpose.CARER_REMINDER):
        return
    at_rung = list(session.scalars(select(AlertNotification).where(
        AlertNotification.alert_id == alert.id, AlertNotification.level == alert.level,
        AlertNotification.purpose == failed.purpose)))
    # Out of hours the call is what wakes someone: an unanswered call counts even if the text
    # was delivered. In hours the text is the message.
    voice = [n for n in at_rung if n.channel is NotificationChannel.VOICE]
    primary = voice or [n for n in at_rung if n.channel is NotificationChannel.SMS]
    if all(n.status in FAILED_STATUSES for n in primary):
        alert.next_escalation_at = now


# Twilio took it: "sent" until its callbacks say more (a call's "completed", a text's
# "delivered"). Only a notification still "queued" moves: a callback may have come first.
SENT = "sent"


def record_sent(session: Session, delivered: list[tuple[dict[str, Any], Delivery]],
                now: datetime) -> None:
    """The relay's word on alert messages Twilio accepted: each notification is now "sent",
    with Twilio's SID, rather than "queued" until a callback that may never come."""
    for payload, delivery in delivered:
        notification_id = payload.get("notification_id")
        if not isinstance(notification_id, int):
            continue  # a summary text: no notification of its own
        notification = session.get(AlertNotification, notification_id)
        if notification is None:
            continue
        if delivery.reference and not notification.provider_sid:
            notification.provider_sid = delivery.reference[:64]
        if notification.status == "queued":
            notification.status, notification.status_at = SENT, now


def record_dead_letter(session: Session, payload: dict[str, Any], error: str, now: datetime
                       ) -> None:
    """The relay gave up on an alert message (e.g. the number was refused): treat it as failed."""
    notification_id = payload.get("notification_id")
    if isinstance(notification_id, int):
        record_delivery_status(session, notification_id, "refused", now, error=error)
