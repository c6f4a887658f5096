"""Operations figures for the outbox (every kind) and council forwarding failures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ivr_gateway.ecc.models import EccForwardingFailure
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.outbox.service import retry_dead


def outbox_figures(session: Session, now: datetime) -> dict[str, Any]:
    """Pending, oldest pending age, dead, sent (overall and per kind); open forwarding failures."""
    kinds: dict[str, dict[str, Any]] = {}
    for kind, status, count in session.execute(
            select(OutboxMessage.kind, OutboxMessage.status, func.count())
            .group_by(OutboxMessage.kind, OutboxMessage.status)):
        figures = kinds.setdefault(kind, {"pending": 0, "dead": 0, "sent": 0,
                                          "oldest_pending_age_seconds": None})
        figures[OutboxStatus(status).value] = int(count)
    for kind, oldest in session.execute(
            select(OutboxMessage.kind, func.min(OutboxMessage.created_at))
            .where(OutboxMessage.status == OutboxStatus.PENDING).group_by(OutboxMessage.kind)):
        if oldest is not None:
            kinds[kind]["oldest_pending_age_seconds"] = round((now - oldest).total_seconds(), 1)
    ages = [k["oldest_pending_age_seconds"] for k in kinds.values()
            if k["oldest_pending_age_seconds"] is not None]
    failures = session.scalar(select(func.count()).select_from(EccForwardingFailure)
                              .where(EccForwardingFailure.resolved_at.is_(None))) or 0
    return {
        "pending": sum(k["pending"] for k in kinds.values()),
        "oldest_pending_age_seconds": max(ages) if ages else None,
        "dead": sum(k["dead"] for k in kinds.values()),
        "sent": sum(k["sent"] for k in kinds.values()),
        "kinds": dict(sorted(kinds.items())),
        "forwarding_failures_open": int(failures),
    }


def dead_letters(session: Session, limit: int = 50) -> list[OutboxMessage]:
    """The newest dead letters, for a person to read."""
    return list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.status == OutboxStatus.DEAD).order_by(OutboxMessage.id.desc()).limit(limit)))


def retry_dead_letters(session: Session, now: datetime, message_id: int | None = None) -> int:
    """Requeue one dead letter or all of them; their forwarding failures count as resolved."""
    ids = select(OutboxMessage.id).where(OutboxMessage.status == OutboxStatus.DEAD)
    if message_id is not None:
        ids = ids.where(OutboxMessage.id == message_id)
    session.execute(update(EccForwardingFailure).where(
        EccForwardingFailure.resolved_at.is_(None),
        EccForwardingFailure.outbox_message_id.in_(ids)).values(resolved_at=now))
    return retry_dead(session, now, message_id)
