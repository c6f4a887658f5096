"""The replay log of the outage spool (telephony/spool.py): one row per spooled call or text.

The row is claimed in the same transaction that records the item, so a replay that crashes
after its commit finds the row and never records the item twice; it also keeps what became of
each item, and refused ones are listed for the office (office/unmatched.py, kind "spooled").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ivr_gateway.db import Base, UTCDateTime


class SpoolReplay(Base):
    """One spooled call or text, replayed: when it happened, and what it became."""

    __tablename__ = "spool_replays"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(String(100), unique=True)  # "call:CA..." / "text:SM..."
    kind: Mapped[str] = mapped_column(String(8))
    sid: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())  # when it happened (the original time)
    spooled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    replayed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16), default="claimed")
    detail: Mapped[str] = mapped_column(Text, default="")
    from_number: Mapped[str] = mapped_column(String(32), default="")
    log_event_id: Mapped[int | None] = mapped_column(Integer)
