"""The ladder: coordinator on duty -> on-call -> registered manager, and who stands on each rung.

A rung with nobody on it at the moment (coordinators out of office hours, no on-call period) is
passed over, so a problem at night goes straight to the on-call person. Out of office hours each
office rung is rung by voice as well as texted: a text alone does not wake anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.escalation.models import (
    AlertKind,
    ContactRole,
    NotificationChannel,
    OfficeContact,
    OnCallPeriod,
)
from ivr_gateway.escalation_policy import EscalationPolicy

CARER = "carer"
COORDINATOR = "coordinator"
ON_CALL = "on_call"
MANAGER = "manager"

# Urgent kinds are about someone's safety today: they climb day and night. The rest are office
# work (paperwork, a council record) and wait for office hours, text only.
URGENT = {AlertKind.LATE_START, AlertKind.MISSED_VISIT, AlertKind.SHORT_OF_CARER,
          AlertKind.MISSING_LOG_OUT, AlertKind.CARER_CONCERN}


def steps_for(kind: AlertKind, has_carer_step: bool) -> list[str]:
    """The rungs an alert of this kind climbs, in order."""
    if kind not in URGENT:
        return [COORDINATOR, MANAGER]
    steps = [COORDINATOR, ON_CALL, MANAGER]
    return [CARER, *steps] if has_carer_step else steps


@dataclass(frozen=True)
class Recipient:
    """One office contact to tell at a rung, by these channels."""

    contact_id: int
    name: str
    mobile: str
    channels: tuple[NotificationChannel, ...]


def contacts_on_step(session: Session, step: str, now: datetime, office_open: bool
                     ) -> list[OfficeContact]:
    """The active contacts standing on an office rung at `now`."""
    active = OfficeContact.active.is_(True)
    if step == COORDINATOR:
        if not office_open:
            return []
        query = select(OfficeContact).where(active, OfficeContact.role == ContactRole.COORDINATOR)
    elif step == ON_CALL:
        query = (select(OfficeContact).join(OnCallPeriod, OnCallPeriod.contact_id
                                            == OfficeContact.id)
                 .where(active, OnCallPeriod.starts_at <= now, OnCallPeriod.ends_at > now))
    elif step == MANAGER:
        query = select(OfficeContact).where(active, OfficeContact.role == ContactRole.MANAGER)
    else:
        return []
    return list(session.scalars(query.order_by(OfficeContact.id)).unique())


def recipients_on_step(session: Session, step: str, kind: AlertKind, now: datetime,
                       policy: EscalationPolicy, tz: ZoneInfo) -> list[Recipient]:
    """Who to tell at a rung and how: text in hours; text and voice call out of hours."""
    office_open = policy.office_hours.is_open(now, tz)
    channels: tuple[NotificationChannel, ...] = (NotificationChannel.SMS,)
    if kind in URGENT and not office_open:
        channels = (NotificationChannel.SMS, NotificationChannel.VOICE)
    return [Recipient(c.id, c.name, c.mobile, channels)
            for c in contacts_on_step(session, step, now, office_open)]
