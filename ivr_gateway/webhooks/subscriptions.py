"""Webhook subscriptions: create, list, change and remove (the API and the CLI share these)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.visits.changes import FEED_TYPES
from ivr_gateway.visits.feed import last_position
from ivr_gateway.webhooks.models import WebhookSubscription
from ivr_gateway.webhooks.signing import SECRET_PREFIX, new_secret, seal_secret

ALL_TYPES = "*"


class SubscriptionInvalid(ValueError):
    """A subscription's URL or event types are not usable; the message says which and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SubscriptionNotFound(LookupError):
    """No subscription with that id."""


@dataclass(frozen=True)
class SubscriptionView:
    """A subscription as shown (the secret only when it was just made)."""

    id: int
    url: str
    event_types: list[str]
    description: str
    active: bool
    created_at: datetime
    secret: str | None = None

    @classmethod
    def of(cls, row: WebhookSubscription, *, secret: str | None = None) -> SubscriptionView:
        """The view of a row (with its secret only when just made)."""
        return cls(id=row.id, url=row.url, event_types=list(row.event_types),
                   description=row.description, active=row.active, created_at=row.created_at,
                   secret=secret)


def checked_url(url: str) -> str:
    """The URL if it is an absolute http(s) URL, else SubscriptionInvalid."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SubscriptionInvalid("url", f"{url!r} is not an http:// or https:// URL; give the "
                                  "full address the deliveries are POSTed to.")
    return url.strip()


def checked_event_types(event_types: list[str] | None) -> list[str]:
    """The event types if each is a feed type (or '*'); none given means every type."""
    if not event_types:
        return [ALL_TYPES]
    unknown = [t for t in event_types if t != ALL_TYPES and t not in FEED_TYPES]
    if unknown:
        raise SubscriptionInvalid("event_types", f"Unknown event types {unknown}; use "
                                  f"'{ALL_TYPES}' or any of {list(FEED_TYPES)}.")
    return sorted(set(event_types))


def wants(event_types: list[str], type_: str) -> bool:
    """Whether a subscription with these event types is sent an entry of this type."""
    return ALL_TYPES in event_types or type_ in event_types


def create_subscription(session: Session, *, url: str, event_types: list[str] | None,
                        description: str, actor: str, now: datetime, key_setting: str,
                        from_start: bool = False, secret: str | None = None
                        ) -> SubscriptionView:
    """A new subscription, sent what changes from now on (from_start: the whole feed).

    key_setting: TOKEN_SECRET_KEY, which the secret is stored encrypted under.
    """
    if secret is not None and not secret.startswith(SECRET_PREFIX):
        raise SubscriptionInvalid("secret", "A secret starts with 'whsec_' (Standard Webhooks).")
    start = last_position(session) if not from_start else None
    secret = secret or new_secret()
    row = WebhookSubscription(
        url=checked_url(url), event_types=checked_event_types(event_types),
        secret=seal_secret(secret, key_setting), description=description[:200], active=True,
        created_at=now, created_by=actor[:100],
        after_xact_id=start.xact_id if start else 0, after_id=start.id if start else 0)
    session.add(row)
    session.flush()
    return SubscriptionView.of(row, secret=secret)


def _row(session: Session, subscription_id: int) -> WebhookSubscription:
    row = session.get(WebhookSubscription, subscription_id)
    if row is None:
        raise SubscriptionNotFound(f"There is no webhook subscription {subscription_id}.")
    return row


def list_subscriptions(session: Session) -> list[SubscriptionView]:
    """Every subscription, oldest first."""
    rows = session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id))
    return [SubscriptionView.of(r) for r in rows]


def get_subscription(session: Session, subscription_id: int) -> SubscriptionView:
    """One subscription (without its secret)."""
    return SubscriptionView.of(_row(session, subscription_id))


def update_subscription(session: Session, subscription_id: int, *, url: str | None = None,
                        event_types: list[str] | None = None, description: str | None = None,
                        active: bool | None = None) -> SubscriptionView:
    """Change what is given; a paused subscription (active false) keeps its place in the feed."""
    row = _row(session, subscription_id)
    if url is not None:
        row.url = checked_url(url)
    if event_types is not None:
        row.event_types = checked_event_types(event_types)
    if description is not None:
        row.description = description[:200]
    if active is not None:
        row.active = active
    session.flush()
    return SubscriptionView.of(row)


def remove_subscription(session: Session, subscription_id: int) -> SubscriptionView:
    """Remove a subscription; deliveries still queued for it are dropped when their turn comes."""
    row = _row(session, subscription_id)
    view = SubscriptionView.of(row)
    session.delete(row)
    session.flush()
    return view
