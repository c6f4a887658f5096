"""Council forwarding tables: each council record's current version, and forwarding failures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
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
