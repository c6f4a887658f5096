"""Council tables: each council record's current version, forwarding failures, and the KPI
reports kept for the dashboard."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ivr_gateway.db import Base, UTCDateTime


class EccRecordVersion(Base):
    """The latest version queued of one council record (its SequenceID and a hash of its body).

    The sequence increases with every change, so the council refuses a stale version; the hash
    lets an upsert or a re-derivation that changes nothing the council sees queue nothing.
    """

    __tablename__ = "ecc_record_versions"
    __table_args__ = (UniqueConstraint("record_type", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(64))
    sequence_id: Mapped[int] = mapped_column(Integer)
    body_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EccForwardingFailure(Base):
    """A council record the council refused for good (or we gave up on): a "forwarding failed".

    One row per dead-lettered outbox message, written by the relay; the escalation rules alert on
    rows with no resolved_at. `outbox retry` resolves the rows of the messages it requeues.
    """

    __tablename__ = "ecc_forwarding_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_message_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="CASCADE"), unique=True)
    record_type: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(64))
    sequence_id: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, default="")
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class KeptKpiReport(Base):
    """A KPI report worked out in the background and kept, so the dashboard shows it at once.

    One row per range of days and the settings that change verdicts (ecc/kept_reports.py):
    the report's figures (no visit lines: they are the compressed `lines`), the change-feed
    position it is current up to, when the clock alone would change a verdict in it, and the
    lease of the one process working it out now.
    """

    __tablename__ = "kpi_reports"
    __table_args__ = (UniqueConstraint("first_day", "last_day", "settings_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    # A hash of the KPI windows, the time zone and the report's format (kept_reports.py).
    settings_key: Mapped[str] = mapped_column(String(64))
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the report's "as of"
    feed_xact_id: Mapped[int] = mapped_column(BigInteger, default=0)
    feed_id: Mapped[int] = mapped_column(Integer, default=0)
    moves_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    figures: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    lines: Mapped[bytes | None] = mapped_column(LargeBinary)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    build_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_by: Mapped[str | None] = mapped_column(String(100))
    lease_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
