"""Enqueue, claim and settle outbox messages; correct with several relays on PostgreSQL.

Claiming takes row locks with SKIP LOCKED and stamps a lease (claimed_until), then commits: the
send happens with no transaction open. A relay killed mid-send leaves a lease that simply runs
out, and the message is claimed again (at-least-once; the receiver dedupes on the idempotency
key). Messages sharing an ordering key go one at a time, oldest first, so a visit's log-out never
overtakes its log-in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from ivr_gateway.db import insert_unless_present
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus

MAX_BACKOFF = timedelta(hours=1)
BASE_BACKOFF = timedelta(seconds=5)


def enqueue(session: Session, *, kind: str, idempotency_key: str, payload: dict[str, Any],
            now: datetime, ordering_key: str | None = None) -> bool:
    """Add a message in the caller's transaction; False if that key was already queued."""
    values = {"kind": kind, "idempotency_key": idempotency_key, "ordering_key": ordering_key,
              "payload": payload, "status": OutboxStatus.PENDING, "attempts": 0,
              "next_attempt_at": now, "created_at": now}
    return insert_unless_present(session, OutboxMessage, values, ("idempotency_key",))


def enqueue_many(session: Session, *, kind: str, messages: list[tuple[str, dict[str, Any]]],
                 now: datetime) -> None:
    """Add many messages of one kind (idempotency key, payload) in one executemany INSERT.

    For keys that cannot already be queued (fresh random ones): there is no conflict check.
    """
    if messages:
        session.execute(insert(OutboxMessage), [
            {"kind": kind, "idempotency_key": key, "ordering_key": None, "payload": payload,
             "status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": now,
             "created_at": now} for key, payload in messages])


def _claimable(now: datetime, kinds: tuple[str, ...]) -> Any:
    earlier = aliased(OutboxMessage)
    blocked_by_earlier = exists().where(
        earlier.ordering_key == OutboxMessage.ordering_key,
        earlier.id < OutboxMessage.id,
        earlier.status == OutboxStatus.PENDING,
    )
    return and_(
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.kind.in_(kinds),
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now),
        or_(OutboxMessage.ordering_key.is_(None), ~blocked_by_earlier),
    )


def claim_due(session: Session, *, kinds: tuple[str, ...], now: datetime, limit: int,
              lease: timedelta, worker: str,
              expired: dict[int, datetime] | None = None) -> list[OutboxMessage]:
    """Claim up to `limit` due messages for this worker; the caller commits, then sends.

    expired: filled with the messages whose last claim ran out unsettled (its holder died or
    hung mid-send, so the send may have happened), each with that lease's end.
    """
    query = (select(OutboxMessage).where(_claimable(now, kinds))
             .order_by(OutboxMessage.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    messages = list(session.scalars(query))
    if expired is not None:
        # Settling clears claimed_until (sent or failed); one still set is a lease that ran out.
        expired.update({m.id: m.claimed_until for m in messages if m.claimed_until is not None})
    if messages:
        # One statement for the whole batch (not one UPDATE per row: a 10,000-record backlog
        # drains at the HTTP path's speed); the loaded objects are brought up to date with it.
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_([m.id for m in messages]))
            .values(claimed_until=now + lease, claimed_by=worker,
                    attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session="evaluate"))
    return messages


def mark_sent_many(session: Session, message_ids: list[int], *, worker: str,
                   now: datetime) -> int:
    """Record delivery of a batch in one statement; returns how many were still ours."""
    if not message_ids:
        return 0
    result = session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(message_ids),
                                    OutboxMessage.claimed_by == worker,
                                    OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENT, sent_at=now, claimed_until=None, last_error=None))
    return int(getattr(result, "rowcount", 0) or 0)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter (AWS architecture blog), capped at an hour."""
    # The exponent is bounded: 5 s x 2**44 overflows timedelta, which made the 45th attempt's
    # settle raise (and the message never reach its 50-attempt dead letter).
    ceiling = min(MAX_BACKOFF, BASE_BACKOFF * (2 ** min(20, max(0, attempts - 1))))
    return timedelta(seconds=(rng or random).uniform(0, ceiling.total_seconds()))


def mark_failed(session: Session, message_id: int, *, worker: str, now: datetime, error: str,
                retry_after: timedelta | None = None, dead: bool = False,
                max_attempts: int = 50, held_by_receiver: bool = False) -> OutboxStatus | None:
    """Record a failed attempt: retry later (backoff, or the receiver's Retry-After) or give up.

    held_by_receiver: the receiver was unavailable and its health gate (outbox/health.py) holds
    every message of its kind, so this one is due again at once, and an outage, however long,
    never dead-letters it: attempts count against a message only for failures about it.
    """
    message = session.get(OutboxMessage, message_id)
    if message is None or message.claimed_by != worker or message.status != OutboxStatus.PENDING:
        return None
    message.last_error = error[:2000]
    message.claimed_until = None
    if held_by_receiver and not dead:
        message.next_attempt_at = now
    elif dead or message.attempts >= max_attempts:
        message.status = OutboxStatus.DEAD
    else:
        message.next_attempt_at = now + (retry_after if retry_after is not None
                                         else backoff(message.attempts))
    return message.status


@dataclass(frozen=True)
class OutboxStatusSummary:
    """What operations watch: the backlog and what needs a person."""

    pending: int
    oldest_pending_age_seconds: float | None
    dead: int
    sent: int


def summarise(session: Session, now: datetime) -> OutboxStatusSummary:
    """Counts for `outbox status` and monitoring."""
    counts = {status: count for status, count in session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))}
    oldest = session.scalar(select(func.min(OutboxMessage.created_at))
                            .where(OutboxMessage.status == OutboxStatus.PENDING))
    return OutboxStatusSummary(
        pending=int(counts.get(OutboxStatus.PENDING, 0)),
        oldest_pending_age_seconds=(now - oldest).total_seconds() if oldest else None,
        dead=int(counts.get(OutboxStatus.DEAD, 0)), sent=int(counts.get(OutboxStatus.SENT, 0)))


def retry_dead(session: Session, now: datetime, message_id: int | None = None) -> int:
    """Put dead messages (one, or all) back in the queue, due now."""
    condition = OutboxMessage.status == OutboxStatus.DEAD
    if message_id is not None:
        condition = and_(condition, OutboxMessage.id == message_id)
    result = session.execute(update(OutboxMessage).where(condition).values(
        status=OutboxStatus.PENDING, next_attempt_at=now, attempts=0, claimed_until=None,
        claimed_by=None))
    return int(getattr(result, "rowcount", 0) or 0)
