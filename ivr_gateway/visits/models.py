"""The domain's own tables beyond the core ones: the reason codes and those given to visits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
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
