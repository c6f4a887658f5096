"""The domain's own tables beyond the core ones: the reason codes and those given to visits, and
the change feed (visit_changes) the domain appends to in the writer's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr_gateway.db import Base, UTCDateTime


class ReasonCode(Base):
    """One entry of the configurable list of reasons for a missed or cancelled visit."""

    __tablename__ = "reason_codes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    applies_to: Mapped[str] = mapped_column(String(16), default="any")  # missed|cancelled|any
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class VisitReasonCode(Base):
    """The reason given for a missed or cancelled planned visit (one per visit; changes audited)."""

    __tablename__ = "visit_reason_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    planned_visit_id: Mapped[int] = mapped_column(
        ForeignKey("planned_visits.id", ondelete="CASCADE"), unique=True)
    code: Mapped[str] = mapped_column(ForeignKey("reason_codes.code"))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(100))

    reason: Mapped[ReasonCode] = relationship()


class VisitChange(Base):
    """One entry of the change feed: something happened to a visit (append-only, never edited).

    Written by visits/changes.py in the transaction that made the change; read in
    (xact_id, id) order by visits/feed.py, which explains why that order never skips or repeats.
    It points at what changed; the feed shows it as it is when read, with the domain's verdicts.
    """

    __tablename__ = "visit_changes"
    __table_args__ = (Index("ix_visit_changes_position", "xact_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # PostgreSQL: the writer's transaction id (pg_current_xact_id, 64 bits: never wraps);
    # SQLite: 0 (one writer at a time, so ids commit in order).
    xact_id: Mapped[int] = mapped_column(BigInteger, default=0)
    type: Mapped[str] = mapped_column(String(32))
    # Plain ids, no foreign keys: the feed outlives a visit a correction removed, and says so.
    planned_visit_ref: Mapped[str | None] = mapped_column(String(100))
    planned_visit_id: Mapped[int | None] = mapped_column(Integer)
    actual_visit_id: Mapped[int | None] = mapped_column(Integer)
    log_event_id: Mapped[int | None] = mapped_column(Integer)
    care_worker_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
