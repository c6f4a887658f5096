"""The council API client: an outbox adapter that posts council records in batches.

Another council's API is another adapter with the same shape; the domain does not change.
How answers map to the outbox: 2xx per-record "accepted" is sent; a record "rejected" as stale is
sent too (the council holds a newer version, which carries everything this one did); any other
per-record refusal is dead-lettered with the council's message. 429 and 5xx honour Retry-After;
timeouts and connection errors retry with backoff; 401/403 retry (a token problem is fixed by a
person and then everything should flow, not be dead-lettered record by record).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from ivr_gateway.outbox.relay import Delivery

log = logging.getLogger(__name__)


def parse_retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """Retry-After as seconds or an HTTP date (RFC 9110 10.2.3); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(timedelta(0), when - (now or datetime.now(UTC)))


def _message(response: requests.Response) -> str:
    try:
        error = response.json().get("error", {})
        return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        return response.text[:200]


class EccClient:
    """Posts council records to {base_url}/records with a bearer token."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0,
                 http: requests.Session | None = None) -> None:
        self.url = base_url.rstrip("/") + "/records"
        self.timeout = timeout
        self.http = http or requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {token}",
                                  "User-Agent": "ivr-gateway ecc-client/1.0"})

    def send_batch(self, items: list[tuple[str, dict[str, Any]]]) -> list[Delivery]:
        """Post the records in one request; one Delivery per record, in order."""
        records = [payload for _key, payload in items]
        try:
            response = self.http.post(self.url, json={"records": records}, timeout=self.timeout)
        except requests.Timeout:
            return [Delivery.retry(f"no answer from the council within {self.timeout:g} s")] \
                * len(items)
        except requests.RequestException as error:
            return [Delivery.retry(f"could not reach the council: {error}")] * len(items)
        status = response.status_code
        if status == 429 or status >= 500:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            return [Delivery.retry(f"council answered {status} {_message(response)}", wait)] \
                * len(items)
        if status in (401, 403):
            return [Delivery.retry(f"council refused our token ({status}): check ECC_API_TOKEN")] \
                * len(items)
        if status >= 400:
            return [Delivery.refused(f"council refused the batch ({status}): "
                                     f"{_message(response)}")] * len(items)
        try:
            results = {r.get("idempotency_key"): r for r in response.json()["results"]}
        except (ValueError, KeyError, TypeError, AttributeError):
            return [Delivery.retry(f"council answered {status} without per-record results")] \
                * len(items)
        return [self._delivery(key, results.get(key)) for key, _payload in items]

    @staticmethod
    def _delivery(key: str, result: dict[str, Any] | None) -> Delivery:
        if result is None:
            return Delivery.retry("the council's answer did not mention this record")
        if result.get("status") == "accepted":
            return Delivery.sent()
        code, message = result.get("code", ""), result.get("message", "")
        if code == "stale_sequence":
            log.info("council holds a newer version than %s: %s", key, message)
            return Delivery.sent()
        return Delivery.refused(f"council refused {key}: {code}: {message}")
