"""Housekeeping: keep tables that only matter for a short time from growing without bound."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ivr_gateway.models import PinFailure

# Lockouts look back 15 minutes; a day of failures is kept so the office can see a pattern.
PIN_FAILURE_RETENTION = timedelta(days=1)


def purge_pin_failures(session: Session, now: datetime) -> int:
    """Delete wrong-PIN records older than the retention; return how many went."""
    result = session.execute(delete(PinFailure).where(PinFailure.at < now - PIN_FAILURE_RETENTION))
    return int(getattr(result, "rowcount", 0) or 0)
