"""The outbox adapter of webhook deliveries: a signed POST to the subscription's URL.

How answers map to the outbox (like the council's, ecc/client.py): a 2xx is delivered; 408,
429 (Retry-After honoured), 5xx, 401/403, timeouts and connection errors are retried with the
outbox's back-off (exponential, full jitter, capped at an hour) and dead-lettered after 50
attempts; any other 4xx is a refusal, dead-lettered at once for a person (`ivr-gateway outbox
retry` sends it again). A delivery whose subscription was removed or paused is dropped (sent).
Each attempt is signed afresh: the webhook-timestamp is the attempt's, the webhook-id the
delivery's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from ivr_gateway.db import Database
from ivr_gateway.outbox.relay import Delivery
from ivr_gateway.webhooks.models import WebhookSubscription
from ivr_gateway.webhooks.signing import open_secret, signed_headers

log = logging.getLogger(__name__)


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After of seconds or an HTTP date (RFC 9110 10.2.3), capped at an hour."""
    if not value:
        return None
    value = value.strip()
    try:
        wait = (timedelta(seconds=int(value)) if value.isdigit()
                else parsedate_to_datetime(value) - now)
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(wait, timedelta(0)), timedelta(hours=1))


class WebhookSender:
    """Posts deliveries, signed with their subscription's secret."""

    def __init__(self, database: Database, now: Callable[[], float], key_setting: str, *,
                 timeout: float = 10.0, http: requests.Session | None = None) -> None:
        self.database = database
        self.key_setting = key_setting
        self.now = now
        self.timeout = timeout
        self.http = http or requests.Session()
        self.http.headers.update({"User-Agent": "ivr-gateway webhooks/1.0"})

    def send(self, _key: str, payload: dict[str, Any]) -> Delivery:
        """Deliver one message (the relay's adapter for the "webhook" kind)."""
        with self.database.unit_of_work() as session:
            row = session.get(WebhookSubscription, int(payload["subscription_id"]))
            target = (row.url, row.secret, row.active) if row is not None else None
        if target is None or not target[2]:
            log.info("webhook %s dropped: its subscription is removed or paused",
                     payload["webhook_id"])
            return Delivery.sent()
        url, stored, _active = target
        secret = open_secret(stored, self.key_setting)  # a ValueError: retried, logged
        body = str(payload["body"])
        headers = signed_headers(secret, str(payload["webhook_id"]), int(self.now()), body)
        try:
            response = self.http.post(url, data=body.encode(), headers=headers,
                                      timeout=self.timeout)
        except requests.Timeout:
            return Delivery.retry(f"no answer from {url} within {self.timeout:g} s")
        except requests.RequestException as error:
            return Delivery.retry(f"could not reach {url}: {type(error).__name__}")
        status = response.status_code
        if 200 <= status < 300:
            return Delivery.sent()
        if status in (408, 429, 401, 403) or status >= 500:
            return Delivery.retry(f"{url} answered {status}", retry_after(
                response.headers.get("Retry-After"), datetime.fromtimestamp(self.now(), UTC)))
        return Delivery.refused(f"{url} refused the delivery ({status}): "
                                f"{response.text[:200]}")
