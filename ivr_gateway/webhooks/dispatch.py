"""Fan-out: the change feed, read with a stored cursor per subscription, into signed deliveries.

Why a dispatcher reading the feed, not deliveries queued in the writer's transaction: the
writer (a carer's log-in webhook) should not pay for every subscriber, and the domain must not
know of webhooks (the import contracts); the feed already has the one strict order, so each
subscription is the feed read from its own place, and a new subscription can start now or from
the beginning. Each pass locks a subscription's row (SKIP LOCKED on PostgreSQL: several relays
share the work), queues its next entries in the outbox and moves its cursor in the same
transaction, so an entry is queued for a subscription exactly once (and the idempotency key
makes a repeat harmless anyway). Deliveries share an ordering key per subscription and planned
visit: the relay sends a visit's changes one at a time, in the feed's order.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.outbox.service import enqueue
from ivr_gateway.visits.feed import FeedEntry, Position, read_changes
from ivr_gateway.webhooks.models import WebhookSubscription
from ivr_gateway.webhooks.payloads import ChangeEntry
from ivr_gateway.webhooks.subscriptions import wants

KIND = "webhook"  # the outbox kind of webhook deliveries


def webhook_id_of(subscription_id: int, position: Position) -> str:
    """The delivery's webhook-id: the same on every retry, so a receiver can drop repeats."""
    return f"msg_{subscription_id}_{position.xact_id}_{position.id}"


def ordering_key_of(subscription_id: int, entry: FeedEntry) -> str | None:
    """One subscription's deliveries about one visit go one at a time, in the feed's order."""
    if entry.planned_visit_ref is not None:
        return f"webhook:{subscription_id}:planned:{entry.planned_visit_ref}"
    if entry.actual_visit is not None:
        return f"webhook:{subscription_id}:actual:{entry.actual_visit.id}"
    return None


def body_of(entry: FeedEntry) -> str:
    """The JSON body of a delivery (Standard Webhooks' suggested shape: type, timestamp, data)."""
    data = ChangeEntry.of(entry).model_dump(mode="json")
    return json.dumps({"type": entry.type, "timestamp": data["recorded_at"], "data": data},
                      separators=(",", ":"))


def dispatch_subscription(session: Session, row: WebhookSubscription, settings: Settings,
                          now: datetime, limit: int) -> int:
    """Queue the next entries of the feed for one (locked) subscription; count those queued."""
    page = read_changes(session, Position(row.after_xact_id, row.after_id), limit, settings, now)
    queued = 0
    for entry in page.entries:
        if not wants(list(row.event_types), entry.type):
            continue
        webhook_id = webhook_id_of(row.id, entry.position)
        queued += enqueue(session, kind=KIND, idempotency_key=f"webhook:{webhook_id}",
                          payload={"subscription_id": row.id, "webhook_id": webhook_id,
                                   "type": entry.type, "body": body_of(entry)},
                          now=now, ordering_key=ordering_key_of(row.id, entry))
    row.after_xact_id, row.after_id = page.next_position.xact_id, page.next_position.id
    return queued


def dispatch_feed(session: Session, settings: Settings, now: datetime, limit: int = 200) -> int:
    """One pass over the active subscriptions (those no other relay holds); the caller commits."""
    query = (select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
             .order_by(WebhookSubscription.id))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return sum(dispatch_subscription(session, row, settings, now, limit)
               for row in session.scalars(query))
