"""The outbox table."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ivr_gateway.db import Base, UTCDateTime


class OutboxStatus(enum.StrEnum):
    """Where a message stands."""

    PENDING = "pending"  # due at next_attempt_at (claimed while claimed_until is in the future)
    SENT = "sent"
    DEAD = "dead"  # gave up: a permanent refusal, or too many attempts; needs a person


class OutboxMessage(Base):
    """One thing to send, with its delivery state."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        # The relay's query: due pending messages in order (partial on PostgreSQL would be
        # smaller; a plain composite index serves both engines).
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        Index("ix_outbox_messages_ordering", "ordering_key", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    ordering_key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, native_enum=False, length=16,
             values_callable=lambda members: [m.value for m in members]),
        default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReceiverHealth(Base):
    """How a receiver (the council's API) has answered lately: one row per receiver, shared by
    every relay so they wait for it together (see ivr_gateway/outbox/health.py)."""

    __tablename__ = "outbox_receiver_health"

    receiver: Mapped[str] = mapped_column(String(32), primary_key=True)  # the outbox kind
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: answering
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())  # no request before
    last_error: Mapped[str | None] = mapped_column(Text)
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
