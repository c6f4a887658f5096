"""The webhook subscriptions, each with its own place in the change feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ivr_gateway.db import Base, UTCDateTime


class WebhookSubscription(Base):
    """A URL that is sent the change feed's entries of the event types it asked for."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[Any]] = mapped_column(JSON)  # ["*"]: every type
    # Standard Webhooks: "whsec_" + base64 of the key, stored encrypted under TOKEN_SECRET_KEY
    # (signing.seal_secret: signing needs it back, so not a hash); shown once when created.
    secret: Mapped[str] = mapped_column(String(400))
    description: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100), default="")
    # Where the dispatcher has read the feed to for this subscription: (xact_id, id) of the
    # last entry it queued deliveries for (visits/feed.py explains the order).
    after_xact_id: Mapped[int] = mapped_column(BigInteger, default=0)
    after_id: Mapped[int] = mapped_column(Integer, default=0)
