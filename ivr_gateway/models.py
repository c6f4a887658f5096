"""The core tables of the domain: people and the rota, log events, derived visits, audit.

Evidence tables (log_events here, call_steps in ivr/models.py) are append-only: a correction is a
new row that points at the one it supersedes, never an update of what a carer keyed.

Each capability package keeps its own tables in its models.py (ivr, sms, escalation, office,
ecc, outbox); ivr_gateway.schema registers them all on Base.metadata for Alembic and the tests.
This module imports none of them.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ivr_gateway.db import Base, UTCDateTime, string_enum
from ivr_gateway.names import initials_of  # here too for its importers (alerts, texts)


class Rag(enum.StrEnum):
    """The council's risk rating of a client: red clients are chased sooner."""

    RED = "red"
    AMBER = "amber"
    GREEN = "green"


class VisitStatus(enum.StrEnum):
    """What the rota says of a planned visit."""

    PLANNED = "planned"
    CANCELLED = "cancelled"


class Channel(enum.StrEnum):
    """How a log event reached us."""

    IVR = "ivr"
    SMS = "sms"
    OFFICE = "office"


class LogKind(enum.StrEnum):
    """Arrival or departure."""

    IN = "in"
    OUT = "out"


class Verification(enum.StrEnum):
    """How presence at the client's home was proven."""

    CALLER_ID = "caller_id"
    TOKEN_CODE = "token_code"  # noqa: S105 - a verification method, not a secret
    SHEET_CODE = "sheet_code"
    OFFICE = "office"
    UNVERIFIED = "unverified"


class ActualVisitState(enum.StrEnum):
    """Where a carer's actual visit stands."""

    OPEN = "open"
    CLOSED = "closed"
    MISSING_LOG_OUT = "missing_log_out"


class ExceptionCode(enum.StrEnum):
    """What the office should look at (names follow Sandata's exception list where they exist)."""

    UNVERIFIED_LOCATION = "unverified_location"
    SUBSTITUTION = "substitution"
    UNPLANNED_VISIT = "unplanned_visit"
    MISSING_LOG_OUT = "missing_log_out"
    MISSING_LOG_IN = "missing_log_in"
    OVERLAPPING_VISIT = "overlapping_visit"
    CARER_CORRECTED_DIRECTION = "carer_corrected_direction"
    CARER_CORRECTED_CLIENT = "carer_corrected_client"  # pressed 8 at a shared landline
    CONCERN_REPORTED = "concern_reported"


class Adult(Base):
    """A client ("service user" in council terms)."""

    __tablename__ = "adults"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    client_number: Mapped[str] = mapped_column(String(16), unique=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(Text, default="")
    postcode: Mapped[str] = mapped_column(String(16), default="")
    rag: Mapped[Rag] = mapped_column(string_enum(Rag), default=Rag.GREEN)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    landlines: Mapped[list[AdultLandline]] = relationship(
        back_populates="adult", cascade="all, delete-orphan", order_by="AdultLandline.id"
    )

    @property
    def initials(self) -> str:
        """What carers hear and read: initials only, never the full name."""
        return initials_of(self.given_name, self.family_name)


class AdultLandline(Base):
    """A landline registered at a client's home: a call from it proves presence.

    One number may belong to two clients in one household, so the number is not unique.
    """

    __tablename__ = "adult_landlines"
    __table_args__ = (UniqueConstraint("adult_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    adult_id: Mapped[int] = mapped_column(ForeignKey("adults.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20), index=True)

    adult: Mapped[Adult] = relationship(back_populates="landlines")


class AdultLandlinePeriod(Base):
    """When a landline was registered to a client: from (inclusive) until (exclusive; None: now).

    A call is judged against the numbers of its own moment, so a client's changed landline does
    not turn last week's verified calls into calls from an unknown line (the evidence page).
    """

    __tablename__ = "adult_landline_periods"
    __table_args__ = (Index("ix_adult_landline_periods_adult_id_valid_from", "adult_id",
                            "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    adult_id: Mapped[int] = mapped_column(ForeignKey("adults.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


def landlines_at(session: Session, adult: Adult, at: datetime) -> frozenset[str]:
    """The landlines registered to a client at that moment (E.164).

    A client whose landlines were never recorded by period (stored by other means than the
    rota service) is judged by the numbers registered now.
    """
    periods = session.execute(select(AdultLandlinePeriod.number, AdultLandlinePeriod.valid_from,
                                     AdultLandlinePeriod.valid_until)
                              .where(AdultLandlinePeriod.adult_id == adult.id)).all()
    if not periods:
        return frozenset(line.number for line in adult.landlines)
    return frozenset(number for number, start, until in periods
                     if start <= at and (until is None or at < until))


class CareWorker(Base):
    """A carer: keys their staff number and PIN to log visits."""

    __tablename__ = "care_workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    staff_number: Mapped[str] = mapped_column(String(16), unique=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="en")
    branch: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    mobiles: Mapped[list[CareWorkerMobile]] = relationship(
        back_populates="care_worker", cascade="all, delete-orphan", order_by="CareWorkerMobile.id"
    )

    @property
    def initials(self) -> str:
        """The carer's initials."""
        return initials_of(self.given_name, self.family_name)


class CareWorkerMobile(Base):
    """A carer's own mobile, for texts to and from them."""

    __tablename__ = "care_worker_mobiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    care_worker_id: Mapped[int] = mapped_column(ForeignKey("care_workers.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20), unique=True)

    care_worker: Mapped[CareWorker] = relationship(back_populates="mobiles")


class PinFailure(Base):
    """One wrong PIN (or unknown carer number) keyed: the lockout counts these."""

    __tablename__ = "pin_failures"
    __table_args__ = (Index("ix_pin_failures_staff_number_at", "staff_number", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_number: Mapped[str] = mapped_column(String(16))
    call_sid: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class PlannedVisitCareWorker(Base):
    """A carer assigned to a planned visit (two rows for a double-up)."""

    __tablename__ = "planned_visit_care_workers"

    planned_visit_id: Mapped[int] = mapped_column(
        ForeignKey("planned_visits.id", ondelete="CASCADE"), primary_key=True
    )
    care_worker_id: Mapped[int] = mapped_column(ForeignKey("care_workers.id"), primary_key=True)


class PlannedVisit(Base):
    """A visit on the rota: the commissioned time at a client's home."""

    __tablename__ = "planned_visits"
    __table_args__ = (Index("ix_planned_visits_adult_start", "adult_id", "planned_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    adult_id: Mapped[int] = mapped_column(ForeignKey("adults.id"))
    planned_start: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    planned_end: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[VisitStatus] = mapped_column(string_enum(VisitStatus),
                                                default=VisitStatus.PLANNED)
    cancel_reason: Mapped[str | None] = mapped_column(String(64))
    cancel_note: Mapped[str | None] = mapped_column(Text)
    time_critical: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    adult: Mapped[Adult] = relationship()
    care_workers: Mapped[list[CareWorker]] = relationship(
        secondary="planned_visit_care_workers", order_by="CareWorker.id"
    )

    @property
    def cancelled(self) -> bool:
        """Cancelled on the rota."""
        return self.status == VisitStatus.CANCELLED


class LogEvent(Base):
    """Evidence: a carer's log-in or log-out, as captured. Never edited; superseded if corrected."""

    __tablename__ = "log_events"
    __table_args__ = (
        Index("ix_log_events_care_worker_time", "care_worker_id", "event_time"),
        # The KPI report's verification mix reads a range of event times (of every carer).
        Index("ix_log_events_event_time", "event_time"),
        UniqueConstraint("source_sid", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(string_enum(Channel))
    kind: Mapped[LogKind] = mapped_column(string_enum(LogKind))
    care_worker_id: Mapped[int] = mapped_column(ForeignKey("care_workers.id"))
    adult_id: Mapped[int | None] = mapped_column(ForeignKey("adults.id"))
    planned_visit_id: Mapped[int | None] = mapped_column(ForeignKey("planned_visits.id"))
    actual_visit_id: Mapped[int | None] = mapped_column(ForeignKey("actual_visits.id"))
    event_time: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verification: Mapped[Verification] = mapped_column(string_enum(Verification))
    source_sid: Mapped[str | None] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer, default=1)
    from_number: Mapped[str | None] = mapped_column(String(32))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("log_events.id"))
    superseded_reason: Mapped[str | None] = mapped_column(Text)

    care_worker: Mapped[CareWorker] = relationship()
    adult: Mapped[Adult | None] = relationship()
    actual_visit: Mapped[ActualVisit | None] = relationship(foreign_keys=[actual_visit_id])


class ActualVisit(Base):
    """A carer's visit as delivered: the paired in/out events, matched to a planned visit or not."""

    __tablename__ = "actual_visits"
    __table_args__ = (
        Index("ix_actual_visits_care_worker_state", "care_worker_id", "state"),
        Index("ix_actual_visits_planned_visit", "planned_visit_id"),
        Index("ix_actual_visits_state_expected_end", "state", "expected_end_at"),
        # A client's visits by time: merged-visit cover (KPI 3) and the KPI report's reads.
        Index("ix_actual_visits_adult_started", "adult_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    care_worker_id: Mapped[int] = mapped_column(ForeignKey("care_workers.id"))
    adult_id: Mapped[int | None] = mapped_column(ForeignKey("adults.id"))
    planned_visit_id: Mapped[int | None] = mapped_column(ForeignKey("planned_visits.id"))
    state: Mapped[ActualVisitState] = mapped_column(string_enum(ActualVisitState))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When this carer should be done (visits/deadlines.py expected_end): the planned end, or a
    # late log-in plus the commissioned time. The missing-log-out chase counts from it.
    expected_end_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    in_verification: Mapped[Verification | None] = mapped_column(string_enum(Verification))
    out_verification: Mapped[Verification | None] = mapped_column(string_enum(Verification))
    match_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    care_worker: Mapped[CareWorker] = relationship()
    adult: Mapped[Adult | None] = relationship()
    planned_visit: Mapped[PlannedVisit | None] = relationship()
    exceptions: Mapped[list[VisitException]] = relationship(
        back_populates="actual_visit", order_by="VisitException.id"
    )


class VisitException(Base):
    """Something the office must review on a visit (unverified presence, substitution, ...)."""

    __tablename__ = "visit_exceptions"
    __table_args__ = (
        UniqueConstraint("actual_visit_id", "code", "log_event_id"),
        Index("ix_visit_exceptions_planned_visit", "planned_visit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actual_visit_id: Mapped[int | None] = mapped_column(ForeignKey("actual_visits.id"))
    planned_visit_id: Mapped[int | None] = mapped_column(ForeignKey("planned_visits.id"))
    log_event_id: Mapped[int | None] = mapped_column(ForeignKey("log_events.id"))
    code: Mapped[ExceptionCode] = mapped_column(string_enum(ExceptionCode))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by: Mapped[str | None] = mapped_column(String(100))

    actual_visit: Mapped[ActualVisit | None] = relationship(back_populates="exceptions")


class ConcernRecording(Base):
    """A spoken concern a carer recorded at log-out, for the office to hear."""

    __tablename__ = "concern_recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    actual_visit_id: Mapped[int | None] = mapped_column(ForeignKey("actual_visits.id"))
    care_worker_id: Mapped[int | None] = mapped_column(ForeignKey("care_workers.id"))
    adult_id: Mapped[int | None] = mapped_column(ForeignKey("adults.id"))
    recording_sid: Mapped[str | None] = mapped_column(String(64))
    recording_url: Mapped[str] = mapped_column(Text)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Who changed what, when, through which door (API token, CLI, office user)."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_entity", "entity", "entity_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_ref: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SmsOptOut(Base):
    """A number that texted STOP: Twilio sends it nothing more until it texts START.

    Written by the SMS webhook; read by escalation, which texts no opted-out phone. Here with
    the core tables, so escalation (below the webhooks) can read it.
    """

    __tablename__ = "sms_opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    care_worker_id: Mapped[int | None] = mapped_column(ForeignKey("care_workers.id"))
