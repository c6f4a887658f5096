"""The council API client: an outbox adapter that posts council records in batches.

Another council's API is another adapter with the same shape; the domain does not change.
How answers map to the outbox: 2xx per-record "accepted" is sent; a record "rejected" as stale is
sent too (the council holds a newer version, which carries everything this one did); any other
per-record refusal is dead-lettered with the council's message, as is a whole-request 4xx other
than 408/429/401/403. Everything else says the council is unavailable, not that the records are
wrong: 429, 408 and 5xx (with their Retry-After), timeouts, connection errors, a 2xx without
per-record results, and 401/403 (a token problem is fixed by a person and then everything should
flow). The relay then waits on the council's health (ivr_gateway/outbox/health.py), never
dead-letters a record for it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from ivr_gateway.outbox.relay import Delivery

log = logging.getLogger(__name__)


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_retry_after(value: str | None, now: datetime | None = None,
                      date: str | None = None) -> timedelta | None:
    """Retry-After as seconds or an HTTP date (RFC 9110 10.2.3); None if absent or unreadable.

    An HTTP date is read against the response's own Date header when it has one (`date`), so
    a difference between the council's clock and ours does not stretch or cut the wait; else
    against `now` (default: the system clock). The relay caps the result (outbox/health.py).
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    when = _http_date(value)
    if when is None:
        return None
    reference = _http_date(date) or now or datetime.now(UTC)
    return max(timedelta(0), when - reference)


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
            return [Delivery.receiver_unavailable(
                f"no answer from the council within {self.timeout:g} s")] * len(items)
        except requests.RequestException as error:
            return [Delivery.receiver_unavailable(f"could not reach the council: {error}")] \
                * len(items)
        status = response.status_code
        if status in (408, 429) or status >= 500:
            wait = parse_retry_after(response.headers.get("Retry-After"),
                                     date=response.headers.get("Date"))
            return [Delivery.receiver_unavailable(
                f"council answered {status} {_message(response)}", wait)] * len(items)
        if status in (401, 403):
            return [Delivery.receiver_unavailable(
                f"council refused our token ({status}): check ECC_API_TOKEN")] * len(items)
        if status >= 400:
            return [Delivery.refused(f"council refused the batch ({status}): "
                                     f"{_message(response)}")] * len(items)
        try:
            results = {r.get("idempotency_key"): r for r in response.json()["results"]}
        except (ValueError, KeyError, TypeError, AttributeError):
            return [Delivery.receiver_unavailable(
                f"council answered {status} without per-record results")] * len(items)
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
