"""Escalation tables: office contacts, on-call periods, alerts, what was sent, reason codes.

Every fact the ladder needs lives here, so a scheduler restart loses nothing and repeats nothing:
an alert is unique per (kind, subject), a notification per (alert, purpose, level, number,
channel), and each notification's outbox message is keyed by that same identity.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr_gateway.db import Base, UTCDateTime, string_enum
from ivr_gateway.models import ActualVisit, ConcernRecording, PlannedVisit


class ContactRole(enum.StrEnum):
    """A rung of the ladder an office contact stands on."""

    COORDINATOR = "coordinator"  # on duty in office hours
    ON_CALL = "on_call"  # told when an on-call period covers the moment
    MANAGER = "manager"  # the registered manager: the top of the ladder


class AlertKind(enum.StrEnum):
    """What went wrong (DESIGN.md's alert kinds)."""

    LATE_START = "late_start"
    MISSED_VISIT = "missed_visit"
    SHORT_OF_CARER = "short_of_carer"  # a double-up not fully staffed by the late deadline
    MISSING_LOG_OUT = "missing_log_out"
    CARER_CONCERN = "carer_concern"
    REASON_CODE_DUE = "reason_code_due"
    REASON_CODE_OVERDUE = "reason_code_overdue"
    FORWARDING_FAILED = "forwarding_failed"


class AlertState(enum.StrEnum):
    """Where an alert stands: open alerts climb, acknowledged ones wait, resolved ones are done."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class NotificationPurpose(enum.StrEnum):
    """Why a message went out."""

    ALERT = "alert"  # tells a ladder level about the alert
    CARER_REMINDER = "carer_reminder"  # "Did you forget to log out?"
    ACKNOWLEDGED = "acknowledged"  # tells the others someone has it in hand
    RESOLVED = "resolved"  # tells whoever was told that it sorted itself out


class NotificationChannel(enum.StrEnum):
    """Text or voice call."""

    SMS = "sms"
    VOICE = "voice"


class OfficeContact(Base):
    """Someone the ladder can reach: a coordinator, an on-call person or the registered manager.

    Kept apart from office users (dashboard logins): the ladder rings phones, not accounts.
    office_user_id links the contact to the office user they are, where there is one.
    """

    __tablename__ = "office_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[ContactRole] = mapped_column(string_enum(ContactRole))
    mobile: Mapped[str] = mapped_column(String(20), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    office_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("office_users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OnCallPeriod(Base):
    """A contact is on call from starts_at until ends_at (UTC; half-open)."""

    __tablename__ = "on_call_periods"
    __table_args__ = (Index("ix_on_call_periods_span", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("office_contacts.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    contact: Mapped[OfficeContact] = relationship()


class Alert(Base):
    """One problem, raised once (unique per kind and subject), climbing until someone acts."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("kind", "subject_key"),
        # The tick's two reads: alerts due to climb, and unresolved alerts to re-check.
        Index("ix_alerts_state_next", "state", "next_escalation_at"),
        Index("ix_alerts_number", "number"),
        # A number texted for ACK names one alert still waiting for someone, never two: the tick
        # picks a free one (tick.py), and this is the backstop. Alerts never leave 'resolved'.
        Index("uq_alerts_number_unresolved", "number", unique=True,
              sqlite_where=text("state != 'resolved'"),
              postgresql_where=text("state != 'resolved'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, default=0)  # short: texted as "ACK 4821"
    kind: Mapped[AlertKind] = mapped_column(string_enum(AlertKind))
    subject_key: Mapped[str] = mapped_column(String(64))  # visit:12, carer-visit:40, outbox:7
    planned_visit_id: Mapped[int | None] = mapped_column(ForeignKey("planned_visits.id"))
    actual_visit_id: Mapped[int | None] = mapped_column(ForeignKey("actual_visits.id"))
    care_worker_id: Mapped[int | None] = mapped_column(ForeignKey("care_workers.id"))
    concern_recording_id: Mapped[int | None] = mapped_column(ForeignKey("concern_recordings.id"))
    outbox_message_id: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(String(120))  # initials and times only
    red: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[AlertState] = mapped_column(string_enum(AlertState), default=AlertState.OPEN)
    level: Mapped[int] = mapped_column(Integer, default=0)  # ladder steps taken so far
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when the rule fired
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    acknowledged_via: Mapped[str | None] = mapped_column(String(16))
    acknowledged_note: Mapped[str | None] = mapped_column(Text)  # what the person did about it
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_reason: Mapped[str | None] = mapped_column(Text)

    notifications: Mapped[list[AlertNotification]] = relationship(
        back_populates="alert", order_by="AlertNotification.id")


class AlertNotification(Base):
    """One text or call about an alert: who, which channel, when, and what became of it."""

    __tablename__ = "alert_notifications"
    __table_args__ = (
        UniqueConstraint("alert_id", "purpose", "level", "to_number", "channel"),
        Index("ix_alert_notifications_to_number", "to_number", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    purpose: Mapped[NotificationPurpose] = mapped_column(string_enum(NotificationPurpose))
    level: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(16))  # carer, coordinator, on_call, manager
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("office_contacts.id"))
    recipient: Mapped[str] = mapped_column(String(100))
    to_number: Mapped[str] = mapped_column(String(20))
    channel: Mapped[NotificationChannel] = mapped_column(string_enum(NotificationChannel))
    body: Mapped[str] = mapped_column(Text)
    outbox_key: Mapped[str] = mapped_column(String(200), unique=True)
    outbox_message_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # Twilio's words after
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    alert: Mapped[Alert] = relationship(back_populates="notifications")
    contact: Mapped[OfficeContact | None] = relationship()


class EscalationCursor(Base):
    """How far a deadline rule has looked: the next tick reads only deadlines after this.

    This is what makes a tick's cost follow the visits that fell due, not the size of the rota.
    """

    __tablename__ = "escalation_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    checked_until: Mapped[datetime] = mapped_column(UTCDateTime())


# Indexes on the core tables that the deadline rules range over (planned_start is indexed there).
Index("ix_planned_visits_planned_end", PlannedVisit.planned_end)
Index("ix_concern_recordings_created_at", ConcernRecording.created_at)
# Open unplanned visits' log-outs are chased from their log-in: an index range over open visits.
Index("ix_actual_visits_state_started", ActualVisit.state, ActualVisit.started_at)
